"""Validation of the lightness planes every restoration function takes."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

#: how far outside [0, 100] an L value may stray (rounding of a colour conversion)
_RANGE_TOLERANCE = 1e-3


def check_lightness(lightness: np.ndarray, what: str = "lightness") -> np.ndarray:
    """``lightness`` as a C-contiguous (H, W) float32 array in [0, 100] (a copy only when needed).

    Raises:
        InvalidInputError: not a non-empty 2-D real array of finite values in [0, 100].
    """
    array = np.asarray(lightness)
    if array.ndim != 2 or array.size == 0:
        raise InvalidInputError(
            f"{what} must be a non-empty (H, W) plane of CIE L, not an array of shape {array.shape}; "
            "convert colour or gray images to L first (masterpiece.color.lab_np.rgb_to_lightness)"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InvalidInputError(f"{what} must hold real numbers (CIE L in [0, 100]), not {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInputError(f"{what} holds NaN or infinite values; pass CIE L in [0, 100]")
    if low < -_RANGE_TOLERANCE or high > 100 + _RANGE_TOLERANCE:
        raise InvalidInputError(
            f"{what} spans [{low:.3g}, {high:.3g}], outside CIE L's [0, 100]; "
            "scale 8-bit gray (0-255) to L with masterpiece.color.lab_np.gray_to_lightness"
        )
    return array


def check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` as an (H, W) bool array of ``shape``.

    Raises:
        InvalidInputError: another shape.
    """
    array = np.asarray(mask)
    if array.shape != shape:
        raise InvalidInputError(f"the damage mask has shape {array.shape} but the image is {shape}")
    return array.astype(bool, copy=False)
