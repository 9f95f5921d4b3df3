"""Pixel values between their stored types: scales, float conversion, rounding, block-wise work.

Decoded pixels stay uint8, uint16 or float in [0, 1] (:mod:`.decoding`); these helpers convert
them for the colorizer and back for the encoders (:mod:`.encoding`) without whole-image float
temporaries: big arrays are processed in blocks of rows of about :data:`BLOCK_PIXELS` pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import cv2
import numpy as np

from masterpiece.errors import InvalidInputError

__all__ = [
    "BLOCK_PIXELS",
    "channel_spread",
    "equalise_channels",
    "full_scale",
    "quantize",
    "row_blocks",
    "to_float_rgb",
]

BLOCK_PIXELS: Final = 1 << 20
"""Rows are processed in blocks of about this many pixels."""


def full_scale(dtype: np.dtype) -> float:
    """The value that means white: 255, 65535, or 1.0 for floats."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise InvalidInputError(f"pixels must be float in [0, 1], uint8 or uint16, not {dtype}")


def row_blocks(height: int, width: int) -> Iterator[slice]:
    """Slices of rows holding about ``BLOCK_PIXELS`` pixels each, to bound temporaries."""
    step = max(1, BLOCK_PIXELS // max(width, 1))
    for start in range(0, height, step):
        yield slice(start, min(start + step, height))


def channel_spread(colour: np.ndarray) -> float:
    """The largest difference between two channels of one pixel of ``(H, W, 3)`` pixels.

    OpenCV compares the channel planes (about 25x faster than NumPy's reduction over the
    last axis on a 12-megapixel photograph); other dtypes (float64, float16) use NumPy.
    """
    if colour.dtype in (np.uint8, np.uint16, np.float32):
        first, second, third = cv2.split(np.ascontiguousarray(colour))
        return max(cv2.norm(first, second, cv2.NORM_INF), cv2.norm(first, third, cv2.NORM_INF),
                   cv2.norm(second, third, cv2.NORM_INF))
    spread = 0.0
    for rows in row_blocks(*colour.shape[:2]):
        block = colour[rows]
        spread = max(spread, float((block.max(axis=-1) - block.min(axis=-1)).max()))
    return spread


def to_float_rgb(colour: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` uint8, uint16 or float -> new ``(H, W, 3)`` float32 in [0, 1]."""
    height, width = colour.shape[:2]
    rgb = np.empty((height, width, 3), np.float32)
    source = colour[..., np.newaxis] if colour.ndim == 2 else colour
    np.multiply(source, np.float32(1.0 / full_scale(colour.dtype)), out=rgb, casting="same_kind")
    if np.issubdtype(colour.dtype, np.floating):
        np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


def equalise_channels(rgb: np.ndarray) -> None:
    """Replace each pixel of ``(H, W, 3)`` float32 by the mean of its channels, in place."""
    for rows in row_blocks(*rgb.shape[:2]):
        block = rgb[rows]
        block[...] = block.mean(axis=-1, keepdims=True)


def quantize(source: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Round float in [0, 1] (clipped), uint8 or uint16 ``source`` into integer ``out``."""
    if source.dtype == out.dtype:
        out[...] = source
        return out
    top = float(np.iinfo(out.dtype).max)
    scale = np.float32(top / full_scale(source.dtype))
    floating = np.issubdtype(source.dtype, np.floating)
    for rows in row_blocks(*source.shape[:2]):
        block = source[rows].astype(np.float32)
        if floating and np.isnan(block).any():
            raise InvalidInputError("the pixels to write contain NaN values")
        np.multiply(block, scale, out=block)
        np.clip(block, 0.0, top, out=block)
        out[rows] = np.rint(block, out=block)
    return out
