"""Full-resolution work in horizontal bands, so that big images fit in bounded memory.

The network sees a small ``L`` image; what scales with the photograph is computing its
full-resolution ``L``, upsampling the predicted ``ab`` and converting Lab back to sRGB. Here
each of these runs on bands of rows of about :data:`BAND_PIXELS` pixels, so no whole-image
float temporary exists: a 100-megapixel scan needs its 8-bit source, the 8-bit result and a
few tens of megabytes per band.

Pixels come as the decoder produced them (:attr:`~masterpiece.pipeline.decoding.LoadedImage.pixels`):
``(H, W)`` gray or ``(H, W, 3)`` RGB, uint8, uint16 or float32 in [0, 1]. Gray 8- and 16-bit
values (and RGB pixels whose channels are equal, by the sum of their channels) go through a
lookup table of their ``L``, built with the RGB path's float32 arithmetic (equal within 1e-4).

Everything here is NumPy, OpenCV and Pillow (no torch). The resize for the network is Pillow's
antialiased bicubic and the ``ab`` upsampling PyTorch's bilinear formula (``align_corners=False``),
computed separably: the same linear maps as PyTorch's ``F.interpolate``, equal up to float32
rounding (below 1e-4 Lab units), in one band or several (width per band, then height).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import cv2
import numpy as np
from PIL import Image

from ..color.fast import lab_to_rgb_fast
from ..color.lab_np import gray_to_lightness, lab_to_rgb, rgb_to_lightness

#: rows are processed in bands of about this many pixels. A band's temporaries are about
#: 140 bytes a pixel (70 MB here) and bands run one per core, up to 4: on a 100 MP scan
#: 2 MP bands cost 360 MB on 2 cores, 0.5 MP bands 140 MB, at the same speed on 12 MP
#: (1.6-1.9 s either way on the busy 2-core EPYC, 5 interleaved runs)
BAND_PIXELS = 500_000


def row_bands(height: int, width: int, band_pixels: int | None = None) -> Iterator[slice]:
    """Slices of rows covering ``height`` rows, each about ``band_pixels`` pixels (default
    :data:`BAND_PIXELS`, read at each call) and at least one row."""
    step = max(1, (band_pixels or BAND_PIXELS) // max(width, 1))
    for start in range(0, height, step):
        yield slice(start, min(start + step, height))


def _scale(dtype: np.dtype) -> np.float32:
    return np.float32(1.0 / (255.0 if dtype == np.uint8 else 65535.0 if dtype == np.uint16 else 1.0))


def _float_rgb(pixels: np.ndarray) -> np.ndarray:
    """``(h, W, 3)`` or ``(h, W)`` pixels -> ``(h, W, 3)`` float32 in [0, 1] (as ``read_image`` converts)."""
    source = pixels[..., np.newaxis] if pixels.ndim == 2 else pixels
    rgb = np.empty((*pixels.shape[:2], 3), np.float32)
    np.multiply(source, _scale(pixels.dtype), out=rgb, casting="same_kind")
    if np.issubdtype(pixels.dtype, np.floating):
        np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


@functools.lru_cache(maxsize=4)
def _lightness_table(dtype_name: str, channels: int) -> np.ndarray:
    """``L`` of every gray level ``i / (channels * max)`` of an integer dtype, float32.

    Indexed by a gray value (``channels = 1``) or by the sum of the three channels of a
    pixel whose channels are equal (``channels = 3``: the mean, as :func:`read_image` equalises).
    """
    top = np.iinfo(np.dtype(dtype_name)).max * channels
    levels = np.arange(top + 1, dtype=np.float32) * np.float32(1.0 / top)
    return rgb_to_lightness(np.repeat(levels[np.newaxis, np.newaxis], 3, axis=0))[0, 0]


def band_lightness(pixels: np.ndarray, equalise: bool = False) -> np.ndarray:
    """CIE ``L`` of a band: ``(h, W)`` or ``(h, W, 3)`` pixels -> ``(h, W)`` float32 in [0, 100].

    Args:
        pixels: uint8, uint16 or float32 in [0, 1].
        equalise: replace RGB by the mean of its channels first (an RGB file that is gray).
    """
    if pixels.dtype == np.uint8 and pixels.ndim == 2:  # OpenCV's table lookup: 2x NumPy's, multithreaded
        return cv2.LUT(np.ascontiguousarray(pixels), _lightness_table("uint8", 1))
    if pixels.dtype in (np.uint8, np.uint16) and (pixels.ndim == 2 or equalise):
        index = pixels if pixels.ndim == 2 else pixels.sum(axis=-1, dtype=np.uint32)
        table = _lightness_table(pixels.dtype.name, 1 if pixels.ndim == 2 else pixels.shape[-1])
        return table[index]
    rgb = _float_rgb(pixels)
    if equalise and pixels.ndim == 3:
        rgb[...] = rgb.mean(axis=-1, keepdims=True)
    return rgb_to_lightness(np.moveaxis(rgb, -1, 0))[0]


def resize_for_network(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of ``(*, H, W)`` float32 planes to ``size`` ``(h, w)``.

    Pillow's ``BICUBIC`` filter in float32 (mode ``F``), which the official demo resizes with;
    PyTorch's ``F.interpolate(..., mode="bicubic", antialias=True)`` is written to match it
    (equal within 5e-7 on values in [0, 1]).
    """
    height, width = size
    planes = np.asarray(image, np.float32).reshape(-1, *image.shape[-2:])
    out = np.empty((planes.shape[0], height, width), np.float32)
    for index, plane in enumerate(planes):
        resized = Image.fromarray(np.ascontiguousarray(plane), "F").resize((width, height), Image.Resampling.BICUBIC)
        out[index] = np.asarray(resized)
    return out.reshape(*image.shape[:-2], height, width)


def _pixel_planes(pixels: np.ndarray) -> np.ndarray:
    """``(h, W)`` or ``(h, W, 3)`` pixels -> ``(C, h, W)`` float32 values in [0, 1]."""
    if pixels.ndim == 3:
        return np.moveaxis(_float_rgb(pixels), -1, 0)
    return (pixels.astype(np.float32) * _scale(pixels.dtype))[np.newaxis]


def network_lightness(
    pixels: np.ndarray, size: int, equalise: bool = False, band_pixels: int | None = None
) -> np.ndarray:
    """The ``(1, 1, size, size)`` float32 ``L`` the network sees, made as the official demo makes it.

    The pixels (not their ``L``) are resized to ``size`` x ``size`` with antialiased bicubic
    (:func:`resize_for_network`), 8-bit sources rounded back to 8 bits as Pillow does, and the
    ``L`` of the result is taken. Resizing ``L`` instead, or with bilinear, moves a trained
    model's output by 0.3 to 1.9 ab on average (``make bench``, agreement section). Large
    images are resized separably, the width band by band: the same linear map.
    """
    height, width = pixels.shape[:2]
    bands = list(row_bands(height, width, band_pixels))
    if width < size < height:
        # the width grows: shrink the height first, or Pillow's pass over the rows (it resizes
        # the width first) makes each row size wide (a 1 x 4,000,000 strip took 4 GB); the same map
        small = resize_for_network(resize_for_network(_pixel_planes(pixels), (size, width)), (size, size))
    elif len(bands) == 1:
        small = resize_for_network(_pixel_planes(pixels), (size, size))
    else:
        narrow = np.concatenate([resize_for_network(_pixel_planes(pixels[rows]), (rows.stop - rows.start, size))
                                 for rows in bands], axis=1)
        small = resize_for_network(narrow, (size, size))
    small = np.clip(small, 0.0, 1.0)
    if pixels.dtype == np.uint8:
        small = np.round(small * 255.0) / 255.0
    if small.shape[0] == 1:
        return gray_to_lightness(small)[np.newaxis]
    if equalise:
        small = np.repeat(small.mean(axis=0, keepdims=True), 3, axis=0)
    return rgb_to_lightness(small)[np.newaxis]


def _linear_taps(source: int, rows: slice, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's bilinear (``align_corners=False``) taps for output positions ``rows`` of ``target``:
    ``(lower, upper, weight)``, the output is ``x[lower] * (1 - weight) + x[upper] * weight``."""
    scale = np.float32(source / target)
    position = np.maximum((np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5) * scale - 0.5, 0.0)
    lower = np.minimum(np.floor(position).astype(np.int64), source - 1)
    upper = np.minimum(lower + 1, source - 1)
    return lower, upper, (position - lower).astype(np.float32)


def upsample_ab_rows(ab_wide: np.ndarray, rows: slice, height: int) -> np.ndarray:
    """Rows ``rows`` of the bilinear (``align_corners=False``) upsampling of ab to ``height`` rows.

    Args:
        ab_wide: ``(*, h, W)`` ab already at the full width ``W``.
        rows: the output rows wanted, within ``range(height)``.

    Returns:
        ``(*, rows, W)``, what ``F.interpolate(ab, size=(height, W))[..., rows, :]`` gives.
    """
    source_height = ab_wide.shape[-2]
    if source_height == height:
        return ab_wide[..., rows, :]
    lower, upper, weight = _linear_taps(source_height, rows, height)
    weight = weight[:, np.newaxis]
    return ab_wide[..., lower, :] * (1.0 - weight) + ab_wide[..., upper, :] * weight


def upsample_ab_width(ab: np.ndarray, width: int) -> np.ndarray:
    """``(*, h, w)`` ab -> ``(*, h, width)``, bilinear along the rows (``align_corners=False``)."""
    if ab.shape[-1] == width:
        return ab
    lower, upper, weight = _linear_taps(ab.shape[-1], slice(0, width), width)
    return ab[..., lower] * (1.0 - weight) + ab[..., upper] * weight


def upsample_ab(ab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(*, h, w)`` ab -> ``(*, H, W)``: ``F.interpolate(ab, size, mode="bilinear",
    align_corners=False)``, computed separably (equal up to float32 rounding)."""
    height, width = size
    if height < ab.shape[-2]:  # fewer rows than the grid (a wide strip): the rows first, or the
        # intermediate would be the grid's rows at the full width (1 x 50,000,000: 25 GB)
        return upsample_ab_width(upsample_ab_rows(ab, slice(0, height), height), width).astype(np.float32, copy=False)
    return upsample_ab_rows(upsample_ab_width(ab, width), slice(0, height), height).astype(np.float32, copy=False)


def lab_band_to_rgb(lightness: np.ndarray, ab: np.ndarray, fast: bool) -> np.ndarray:
    """``(h, W)`` L and ``(2, h, W)`` ab -> ``(h, W, 3)`` float32 sRGB in [0, 1].

    ``fast`` converts with OpenCV and a gamut table (:mod:`masterpiece.color.fast`, within
    1 delta E of the exact path), else the exact conversion (:func:`~masterpiece.color.lab_np.lab_to_rgb`).
    """
    if fast:
        return lab_to_rgb_fast(lightness, ab[0], ab[1])
    lab = np.concatenate((lightness[np.newaxis], ab), axis=0).astype(np.float32, copy=False)
    return np.ascontiguousarray(np.moveaxis(lab_to_rgb(lab), 0, -1))
