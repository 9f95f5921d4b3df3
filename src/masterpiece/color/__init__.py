"""Colour maths: sRGB <-> CIE Lab and the quantized ab space of the paper."""

from .lab import fit_chroma_to_gamut, gray_to_lightness, lab_to_rgb, rgb_to_lab, rgb_to_lightness
from .quantize import (
    decode_annealed_mean,
    gamut_bin_centers,
    nearest_bin,
    rebalancing_weights,
    smooth_prior,
    soft_encode,
    soft_encode_dense,
)

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
