"""Colour maths: sRGB <-> CIE Lab and the quantized ab space of the paper.

:mod:`.lab_np`, :mod:`.fast` and :mod:`.annealed` are NumPy (inference, no torch);
:mod:`.lab` and :mod:`.quantize` are their PyTorch counterparts for training and evaluation.
The names below are the PyTorch ones, imported lazily so that ``masterpiece.color.fast``
does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "fit_chroma_to_gamut": "lab",
    "gray_to_lightness": "lab",
    "lab_to_rgb": "lab",
    "rgb_to_lab": "lab",
    "rgb_to_lightness": "lab",
    "decode_annealed_mean": "quantize",
    "gamut_bin_centers": "quantize",
    "nearest_bin": "quantize",
    "rebalancing_weights": "quantize",
    "smooth_prior": "quantize",
    "soft_encode": "quantize",
    "soft_encode_dense": "quantize",
}

__all__ = [
    "decode_annealed_mean",
    "fit_chroma_to_gamut",
    "gamut_bin_centers",
    "gray_to_lightness",
    "lab_to_rgb",
    "nearest_bin",
    "rebalancing_weights",
    "rgb_to_lab",
    "rgb_to_lightness",
    "smooth_prior",
    "soft_encode",
    "soft_encode_dense",
]

if TYPE_CHECKING:
    from .lab import (
        fit_chroma_to_gamut,
        gray_to_lightness,
        lab_to_rgb,
        rgb_to_lab,
        rgb_to_lightness,
    )
    from .quantize import (
        decode_annealed_mean,
        gamut_bin_centers,
        nearest_bin,
        rebalancing_weights,
        smooth_prior,
        soft_encode,
        soft_encode_dense,
    )

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
