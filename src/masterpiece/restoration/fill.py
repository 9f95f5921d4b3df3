"""Filling the detected damage from its surroundings, at full resolution, only inside the mask.

OpenCV's inpainting (Telea's fast marching method or Navier-Stokes) on float32 L, in bands of
rows with an overlap so that a 30-megapixel scan never needs more than a band of OpenCV's
working buffers. Only the masked pixels of the result are taken: every other pixel is the
input's, bit for bit.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from ..errors import ConfigError
from ._checks import check_lightness, check_mask

__all__ = ["FILL_METHODS", "fill_damage"]

FillMethod = Literal["telea", "ns"]
#: OpenCV's inpainting algorithms by name
FILL_METHODS: dict[str, int] = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
#: rows per band and rows of context above and below it
_BAND_ROWS = 1024
_MARGIN_ROWS = 96


def fill_damage(lightness: np.ndarray, mask: np.ndarray, *, method: FillMethod = "telea", radius: float = 3.0,
                band_rows: int = _BAND_ROWS, margin_rows: int = _MARGIN_ROWS) -> np.ndarray:
    """Fill the masked pixels of ``lightness`` from their surroundings.

    Args:
        lightness: (H, W) CIE L in [0, 100].
        mask: (H, W) bool, True where the pixels are damaged.
        method: ``"telea"`` (fast marching) or ``"ns"`` (Navier-Stokes), OpenCV's ``cv2.inpaint``.
        radius: the neighbourhood (pixels) each filled pixel is computed from.
        band_rows: rows inpainted at a time (the memory bound); ``margin_rows`` of context
            above and below each band. Holes taller than the margin are filled from the context
            the band sees.

    Returns:
        (H, W) float32 L in [0, 100]: the input's pixels outside the mask, bit for bit.

    Raises:
        ConfigError: an unknown method or a non-positive radius or band.
        InvalidInputError: ``lightness`` is not L in [0, 100] or ``mask`` has another shape.
    """
    if method not in FILL_METHODS:
        raise ConfigError(f"fill method must be one of {', '.join(FILL_METHODS)}, not {method!r}")
    if radius <= 0 or band_rows <= 0 or margin_rows < 0:
        raise ConfigError(f"radius and band_rows must be positive (got {radius}, {band_rows})")
    plane = check_lightness(lightness)
    damaged = check_mask(mask, plane.shape)
    result = plane.copy()
    height = plane.shape[0]
    rows = np.flatnonzero(damaged.any(axis=1))
    if rows.size == 0:
        return result
    for start in range(int(rows[0]) // band_rows * band_rows, int(rows[-1]) + 1, band_rows):
        stop = min(start + band_rows, height)
        band_mask = damaged[start:stop]
        if not band_mask.any():
            continue
        top, bottom = max(0, start - margin_rows), min(height, stop + margin_rows)
        context = cv2.inpaint(plane[top:bottom], damaged[top:bottom].view(np.uint8), radius, FILL_METHODS[method])
        inner = np.clip(context[start - top:stop - top], 0, 100)
        np.copyto(result[start:stop], inner, where=band_mask)
    return result
