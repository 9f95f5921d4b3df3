"""Repairing old prints before colouring them: scratches, dust, tears and fading (issue 17).

Works on the lightness plane (CIE L in [0, 100]); how gray, colour, 16-bit and alpha images
map to L is the pipeline's business. NumPy, OpenCV and ONNX Runtime only: no torch::

    from masterpiece.restoration import Restorer, auto_levels

    restorer = Restorer()                      # the bundled learned detector
    result = restorer.restore(lightness)       # RestoreResult(lightness, mask)
    mask = restorer.detect(lightness)          # (H, W) bool
    Restorer("classical")                      # the top-hat baseline

The damage is detected (:mod:`.learned` or :mod:`.classical`; the learned detector's marks
on a torn corner are grown over the whole corner, :mod:`.corners`), then filled at full
resolution (:mod:`.fill`): OpenCV's inpainting, corrected inside the mask by the bundled filler
network (:mod:`.learned_fill`; ``fill_method="ns"`` or ``"telea"`` for OpenCV alone). Pixels
outside the mask are the input's, bit for bit (unless ``auto_levels`` then stretches every tone).
:mod:`.damage` draws the synthetic damage both detectors are measured on
(:mod:`.evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ._checks import check_lightness
from .classical import ClassicalDetector
from .corners import grow_torn_corners
from .fill import FillMethod, fill_damage
from .learned_fill import bundled_filler
from .levels import auto_levels

__all__ = ["DETECTORS", "RestoreResult", "Restorer", "auto_levels"]

#: the detectors :class:`Restorer` accepts
DETECTORS = ("learned", "classical")


class RestoreResult(NamedTuple):
    """What :meth:`Restorer.restore` returns.

    Attributes:
        lightness: (H, W) float32 CIE L in [0, 100], repaired. Without auto levels, the pixels
            outside ``mask`` are the input's (as float32), bit for bit.
        mask: (H, W) bool, True where damage was detected and filled.
    """

    lightness: np.ndarray
    mask: np.ndarray


class Restorer:
    """Detects and fills damage on the lightness of old prints; optionally stretches faded tones.

    Args:
        detector: ``"learned"`` (the bundled ONNX network, verified by sha256 when loaded)
            or ``"classical"`` (morphological top-hat baseline).
        auto_levels: after repairing, stretch the tones (:func:`auto_levels`, at most 0.5 %
            of pixels clipped at either end).
        repair: detect and fill damage; False leaves only the auto levels.
        threads: ONNX Runtime threads for the learned detector and filler (None: every core).
        fill_method: ``"learned"`` (the default: OpenCV's Navier-Stokes inpainting corrected by
            the bundled filler network, :mod:`.learned_fill`; 3.8 dB better than OpenCV alone on
            the drawn masks of the measurement set), or OpenCV's ``"ns"`` (Navier-Stokes: 0.05 dB
            better and a quarter faster than Telea on held-out training photographs) or
            ``"telea"`` inpainting alone.
        fill_radius: the inpainting neighbourhood in pixels (the filler was trained on 3).
        keep_texture: with OpenCV's methods, large damaged regions that keep the picture's
            texture (water stains) are corrected in tone rather than inpainted
            (:func:`.fill.fill_damage`); the filler network does its own.
        torn_corners: grow the detector's marks on a torn corner over the flat paper or black
            it leaves (:func:`.corners.grow_torn_corners`). None (the default): on for the
            learned detector, off for the classical baseline, whose false marks on flat
            corners it would grow.

    Raises:
        ConfigError: an unknown detector or fill method, ``threads`` < 1, or ``torn_corners``
            not a bool or None.
        WeightsError: the bundled detector's or filler's files are missing or fail their sha256.
    """

    def __init__(self, detector: str = "learned", *, auto_levels: bool = False, repair: bool = True,
                 threads: int | None = None, fill_method: FillMethod = "learned", fill_radius: float = 3.0,
                 keep_texture: bool = True, torn_corners: bool | None = None) -> None:
        if detector not in DETECTORS:
            raise ConfigError(f"detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, not {threads}")
        self.detector_name = detector
        self.threads = threads
        self.auto_levels = auto_levels
        self.repair = repair
        self.fill_method: FillMethod = fill_method
        self.fill_radius = fill_radius
        self.keep_texture = keep_texture
        if torn_corners not in (None, True, False):
            raise ConfigError(f"torn_corners must be True, False or None, not {torn_corners!r}")
        self.torn_corners = detector == "learned" if torn_corners is None else torn_corners
        fill_damage(np.zeros((1, 1), np.float32), np.zeros((1, 1), bool), method=fill_method, radius=fill_radius)
        if repair and fill_method == "learned":
            bundled_filler(threads)  # a filler that cannot load fails here, not on the first photo
        self._detector: Callable[[np.ndarray], np.ndarray]
        if detector == "classical":
            self._detector = ClassicalDetector()
        else:
            from .learned import LearnedDetector

            self._detector = LearnedDetector(threads=threads)

    def detect(self, lightness: np.ndarray) -> np.ndarray:
        """The damage mask: (H, W) L in [0, 100] -> (H, W) bool, True where damaged.

        Raises:
            InvalidInputError: ``lightness`` is not a finite (H, W) plane in [0, 100].
        """
        return self._detect(check_lightness(lightness))

    def _detect(self, plane: np.ndarray) -> np.ndarray:
        mask = self._detector(plane)
        return grow_torn_corners(plane, mask) if self.torn_corners else mask

    def restore(self, lightness: np.ndarray) -> RestoreResult:
        """Detect (if ``repair``) and fill the damage, then stretch the tones (if ``auto_levels``).

        Args:
            lightness: (H, W) CIE L in [0, 100].

        Returns:
            :class:`RestoreResult`; its mask is all False when ``repair`` is off.

        Raises:
            InvalidInputError: ``lightness`` is not a finite (H, W) plane in [0, 100].
        """
        plane = check_lightness(lightness)
        if self.repair:
            mask = self._detect(plane)
            repaired = fill_damage(plane, mask, method=self.fill_method, radius=self.fill_radius,
                                   keep_texture=self.keep_texture, threads=self.threads)
        else:
            mask, repaired = np.zeros(plane.shape, bool), plane.copy()
        if self.auto_levels:
            repaired = auto_levels(repaired)
        return RestoreResult(repaired, mask)
