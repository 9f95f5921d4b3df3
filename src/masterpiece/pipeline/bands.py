"""Full-resolution work in horizontal bands, so that big images fit in bounded memory.

The network sees a small ``L`` image; what scales with the photograph is computing its
full-resolution ``L``, upsampling the predicted ``ab`` and converting Lab back to sRGB. Here
each of these runs on bands of rows of about :data:`BAND_PIXELS` pixels, so no whole-image
float temporary exists: a 100-megapixel scan needs its 8-bit source, the 8-bit result and a
few tens of megabytes per band.

Pixels come as the decoder produced them (:attr:`~masterpiece.pipeline.io.LoadedImage.pixels`):
``(H, W)`` gray or ``(H, W, 3)`` RGB, uint8, uint16 or float32 in [0, 1]. Gray 8- and 16-bit
values (and RGB pixels whose channels are equal, by the sum of their channels) go through a
lookup table of their ``L``, built with the RGB path's float32 arithmetic (equal within 1e-4).

Accuracy: an image that fits in one band is processed exactly as a whole image would be. With
several bands the antialiased downscale to the network size is done separably (width per
band, then height) and the ``ab`` upsampling row by row with PyTorch's bilinear formula: both
are the same linear maps, equal up to float32 rounding (below 1e-4 Lab units).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..color.fast import lab_to_rgb_fast
from ..color.lab import gray_to_lightness, lab_to_rgb, rgb_to_lightness

#: rows are processed in bands of about this many pixels (a band of 2 MP needs about 120 MB of
#: temporaries; bands run two at a time on two cores)
BAND_PIXELS = 2_000_000


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
    rgb = torch.from_numpy(np.repeat(levels[np.newaxis, :, np.newaxis], 3, axis=2)).permute(2, 0, 1)
    return rgb_to_lightness(rgb)[0, 0].numpy()


def band_lightness(pixels: np.ndarray, equalise: bool = False) -> torch.Tensor:
    """CIE ``L`` of a band: ``(h, W)`` or ``(h, W, 3)`` pixels -> ``(1, 1, h, W)`` float32 in [0, 100].

    Args:
        pixels: uint8, uint16 or float32 in [0, 1].
        equalise: replace RGB by the mean of its channels first (an RGB file that is gray).
    """
    if pixels.dtype == np.uint8 and pixels.ndim == 2:  # OpenCV's table lookup: 2x NumPy's, multithreaded
        return torch.from_numpy(cv2.LUT(np.ascontiguousarray(pixels), _lightness_table("uint8", 1)))[None, None]
    if pixels.dtype in (np.uint8, np.uint16) and (pixels.ndim == 2 or equalise):
        index = pixels if pixels.ndim == 2 else pixels.sum(axis=-1, dtype=np.uint32)
        table = _lightness_table(pixels.dtype.name, 1 if pixels.ndim == 2 else pixels.shape[-1])
        return torch.from_numpy(table[index])[None, None]
    rgb = _float_rgb(pixels)
    if equalise and pixels.ndim == 3:
        rgb[...] = rgb.mean(axis=-1, keepdims=True)
    return rgb_to_lightness(torch.from_numpy(rgb).permute(2, 0, 1)[None])


def resize_for_network(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of ``(B, C, H, W)``: Pillow's ``BICUBIC`` filter, which the
    official demo resizes with (PyTorch's antialiased bicubic is written to match it)."""
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)


def _pixel_planes(pixels: np.ndarray) -> torch.Tensor:
    """``(h, W)`` or ``(h, W, 3)`` pixels -> ``(1, C, h, W)`` float32 values in [0, 1]."""
    planes = _float_rgb(pixels) if pixels.ndim == 3 else pixels.astype(np.float32) * _scale(pixels.dtype)
    tensor = torch.from_numpy(planes)
    return tensor.permute(2, 0, 1)[None] if pixels.ndim == 3 else tensor[None, None]


def network_lightness(
    pixels: np.ndarray, size: int, equalise: bool = False, band_pixels: int | None = None
) -> torch.Tensor:
    """The ``(1, 1, size, size)`` ``L`` the network sees, made as the official demo makes it.

    The pixels (not their ``L``) are resized to ``size`` x ``size`` with antialiased bicubic
    (:func:`resize_for_network`), 8-bit sources rounded back to 8 bits as Pillow does, and the
    ``L`` of the result is taken. Resizing ``L`` instead, or with bilinear, moves a trained
    model's output by 0.3 to 1.9 ab on average (``make bench``, agreement section). Large
    images are resized separably, the width band by band: the same linear map.
    """
    height, width = pixels.shape[:2]
    bands = list(row_bands(height, width, band_pixels))
    if len(bands) == 1:
        small = resize_for_network(_pixel_planes(pixels), (size, size))
    else:
        narrow = torch.cat([resize_for_network(_pixel_planes(pixels[rows]), (rows.stop - rows.start, size))
                            for rows in bands], dim=2)
        small = resize_for_network(narrow, (size, size))
    small = small.clamp(0.0, 1.0)
    if pixels.dtype == np.uint8:
        small = torch.round(small * 255.0) / 255.0
    if small.shape[1] == 1:
        return gray_to_lightness(small)
    if equalise:
        small = small.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    return rgb_to_lightness(small.contiguous())


def upsample_ab_rows(ab_wide: torch.Tensor, rows: slice, height: int) -> torch.Tensor:
    """Rows ``rows`` of the bilinear (``align_corners=False``) upsampling of ab to ``height`` rows.

    Args:
        ab_wide: ``(B, 2, h, W)`` ab already at the full width ``W``.
        rows: the output rows wanted, within ``range(height)``.

    Returns:
        ``(B, 2, rows, W)``, what ``F.interpolate(ab, size=(height, W))[:, :, rows]`` gives.
    """
    source_height = ab_wide.shape[-2]
    if source_height == height:
        return ab_wide[:, :, rows]
    scale = source_height / height
    position = ((torch.arange(rows.start, rows.stop, dtype=torch.float32) + 0.5) * scale - 0.5).clamp(min=0.0)
    lower = position.floor().long().clamp(max=source_height - 1)
    upper = (lower + 1).clamp(max=source_height - 1)
    weight = (position - lower.float()).view(1, 1, -1, 1)
    return ab_wide[:, :, lower] * (1.0 - weight) + ab_wide[:, :, upper] * weight


def lab_band_to_rgb(lightness: torch.Tensor, ab: torch.Tensor, fast: bool) -> np.ndarray:
    """``(1, 1, h, W)`` L and ``(1, 2, h, W)`` ab -> ``(h, W, 3)`` float32 sRGB in [0, 1].

    ``fast`` converts with OpenCV and a gamut table (:mod:`masterpiece.color.fast`, within
    1 delta E of the exact path), else the exact PyTorch conversion.
    """
    if fast:
        return lab_to_rgb_fast(lightness[0, 0].numpy(), ab[0, 0].numpy(), ab[0, 1].numpy())
    return lab_to_rgb(torch.cat((lightness, ab), dim=1))[0].permute(1, 2, 0).numpy()
