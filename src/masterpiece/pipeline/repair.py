"""Repairing decoded images with :mod:`masterpiece.restoration`, and writing the results.

:class:`~masterpiece.restoration.Restorer` works on one CIE ``L`` plane. This module maps the
pixels :func:`~masterpiece.pipeline.decoding.read_image` decodes (``(H, W)`` gray or ``(H, W, 3)``
sRGB; uint8, uint16 or float32 in [0, 1]) to that plane and back:

- **Gray** sources (and RGB files whose channels are equal, ``equalise``) keep their type:
  the pixels the restorer left alone are copied bit for bit, the repaired ones (and, with
  auto levels, every changed one) get the gray of their new ``L``, rounded once to the
  source's depth. A 16-bit scan stays 16-bit; nothing goes through 8 bits.
- **Colour** sources, when only restored (:func:`restore_pixels`), stay colour: ``L`` is
  repaired and ``a``/``b`` are filled on the same mask from their surroundings (OpenCV's
  Telea inpainting, in bands of rows), so a scratch across a toned print takes the tone
  around it. When colorized (:func:`repair_for_colorizing`) only ``L`` matters: the colorizer gets the
  repaired ``L`` as float32 gray (exact, no rounding).

The damage mask is written as an 8-bit PNG (255 damaged, 0 not) beside the output:
:func:`mask_path_for`. The output and its mask are written atomically and together
(:func:`write_with_mask`): an interruption (Ctrl-C, SIGTERM) waits for both, a failure of
the output removes the mask just written.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from ..atomic import write_bytes_atomically
from ..color.lab_np import DELTA, lab_to_rgb, linear_to_srgb, rgb_to_lab
from ..errors import ConfigError, OutputError, OutputExistsError
from ..restoration.fill import band_starts, inpaint
from ..settings import DEFAULT_QUALITY
from .bands import band_lightness, row_bands
from .decoding import MaxPixelsDefault, read_image, resolve_max_pixels
from .encoding import encode_image, encode_png
from .formats import find_output_format
from .metadata import reset_orientation
from .pixels import quantize

if TYPE_CHECKING:
    from ..restoration import Restorer

__all__ = [
    "MASK_SUFFIX",
    "Repaired",
    "check_destination",
    "damage_overlay",
    "display_copy",
    "encode_restored",
    "image_lightness",
    "lightness_to_gray",
    "mask_path_for",
    "repair_for_colorizing",
    "resolve_restorer",
    "restore_file",
    "restore_pixels",
    "write_restored",
    "write_with_mask",
]

#: the damage mask of ``photo.jpg`` is ``photo_mask.png`` beside it
MASK_SUFFIX = "_mask"
#: radius (pixels) of the neighbourhood the chroma of a colour source is filled from
CHROMA_INPAINT_RADIUS = 3
#: pixels converted at once when repaired colours are computed (bounded temporaries)
_CHUNK_PIXELS = 2_000_000
#: rows of a colour source whose chroma is filled at a time, and rows of context above and below
_CHROMA_BAND_ROWS = 1024
_CHROMA_MARGIN_ROWS = 96


@dataclass(frozen=True)
class Repaired:
    """Pixels with their damage repaired, as :meth:`Colorizer.colorize_pixels
    <masterpiece.pipeline.image.Colorizer.colorize_pixels>` reads them.

    Attributes:
        pixels: ``(H, W)`` or ``(H, W, 3)``, uint8, uint16 or float32 in [0, 1].
        equalise: whether the colorizer should take the mean of the channels.
        mask: ``(H, W)`` bool, True where damage was detected and filled.
    """

    pixels: np.ndarray
    equalise: bool
    mask: np.ndarray


@functools.lru_cache(maxsize=1)
def _default_restorer() -> Restorer:
    from ..restoration import Restorer

    return Restorer()


def resolve_restorer(restore: object) -> Restorer | None:
    """The restorer a ``restore=`` argument asks for.

    Args:
        restore: ``None`` or ``False`` (no restoration), ``True`` (the default
            :class:`~masterpiece.restoration.Restorer`, made once per process) or a
            ``Restorer``.

    Raises:
        ConfigError: anything else.
    """
    if restore is None or restore is False:
        return None
    if restore is True:
        return _default_restorer()
    from ..restoration import Restorer

    if isinstance(restore, Restorer):
        return restore
    raise ConfigError(
        f"restore must be True, False or a masterpiece.restoration.Restorer, got {type(restore).__name__}"
    )


def image_lightness(pixels: np.ndarray, equalise: bool = False) -> np.ndarray:
    """CIE ``L`` of decoded pixels: ``(H, W)`` float32 in [0, 100], computed in bands of rows
    (the colorizer's own :func:`~masterpiece.pipeline.bands.band_lightness`)."""
    height, width = pixels.shape[:2]
    lightness = np.empty((height, width), np.float32)
    for rows in row_bands(height, width):
        lightness[rows] = band_lightness(pixels[rows], equalise)
    return lightness


def lightness_to_gray(lightness: np.ndarray) -> np.ndarray:
    """The inverse of :func:`~masterpiece.color.lab_np.gray_to_lightness`: ``L`` in [0, 100]
    (any shape) -> gray sRGB float32 in [0, 1] (same shape), in bands of about 2 MP."""
    values = np.asarray(lightness, np.float32)
    flat = values.reshape(-1)
    gray = np.empty(flat.shape, np.float32)
    for start in range(0, flat.size, _CHUNK_PIXELS):
        fy = (flat[start : start + _CHUNK_PIXELS] + np.float32(16.0)) / np.float32(116.0)
        linear = np.where(fy > DELTA, fy**3, np.float32(3 * DELTA**2) * (fy - np.float32(4.0 / 29.0)))
        gray[start : start + _CHUNK_PIXELS] = np.clip(linear_to_srgb(linear), 0.0, 1.0)
    return gray.reshape(values.shape)


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float32 values in [0, 1] in ``dtype`` (rounded as :func:`write_image` rounds)."""
    if np.issubdtype(dtype, np.floating):
        return values.astype(dtype, copy=False)
    return quantize(values.reshape(-1, 1), np.empty((values.size, 1), dtype)).reshape(values.shape)


def _changed(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixels whose ``L`` the restorer changed: the mask, and every one auto levels moved."""
    return mask | (after != before)


def _replace_gray(pixels: np.ndarray, before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of gray ``pixels`` (``(H, W)``, or ``(H, W, 3)`` with equal channels) where the
    changed pixels have the gray of their new ``L``; the others are copied bit for bit."""
    changed = _changed(before, after, mask)
    out = pixels.copy()
    values = _as_dtype(lightness_to_gray(after[changed]), pixels.dtype)
    out[changed] = values if pixels.ndim == 2 else values[:, np.newaxis]
    return out


def _chroma_near(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(2, H, W)`` float32 ``a``, ``b`` of colour pixels, computed only within
    :data:`CHROMA_INPAINT_RADIUS` + 1 pixels of the mask (what the inpainting reads; zero
    elsewhere), so a few scratches on a big scan cost a few conversions, not one per pixel."""
    height, width = pixels.shape[:2]
    side = 2 * CHROMA_INPAINT_RADIUS + 3
    near = cv2.dilate(mask.astype(np.uint8), np.ones((side, side), np.uint8)).reshape(-1)
    where = np.flatnonzero(near)
    ab = np.zeros((2, height * width), np.float32)
    flat = pixels.reshape(-1, 3)
    scale = np.float32(1.0 / (np.iinfo(pixels.dtype).max if pixels.dtype.kind == "u" else 1.0))
    for start in range(0, where.size, _CHUNK_PIXELS):
        index = where[start : start + _CHUNK_PIXELS]
        rgb = np.clip(flat[index].astype(np.float32) * scale, 0.0, 1.0).T[:, :, np.newaxis]
        ab[:, index] = rgb_to_lab(rgb)[1:, :, 0]
    return ab.reshape(2, height, width)


def _replace_colour(pixels: np.ndarray, before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of ``(H, W, 3)`` colour ``pixels`` where the changed pixels have their new ``L``
    and, inside the mask, ``a``/``b`` filled from around it; the others are copied bit for bit.

    Works in bands of about :data:`_CHROMA_BAND_ROWS` rows whose edges cut as few holes as they
    can (:func:`~masterpiece.restoration.fill.band_starts`, as the lightness is filled), each
    with :data:`_CHROMA_MARGIN_ROWS` rows of context above and below, so a 30-megapixel scan
    never holds more than a band's ``a``/``b`` and OpenCV's buffers for it. A hole no band's
    edge cuts is filled as in one pass over the image; along one that every row crosses (a
    scratch from top to bottom) the fill may differ slightly at the band's edge."""
    changed = _changed(before, after, mask)
    out = pixels.copy()
    if not changed.any():
        return out
    height = pixels.shape[0]
    starts = band_starts(mask, _CHROMA_BAND_ROWS)
    for start, stop in zip(starts, [*starts[1:], height]):
        if not changed[start:stop].any():
            continue
        top, bottom = max(0, start - _CHROMA_MARGIN_ROWS), min(height, stop + _CHROMA_MARGIN_ROWS)
        _replace_colour_band(pixels[top:bottom], after[start:stop], mask[top:bottom], changed[start:stop],
                             start - top, out[start:stop])
    return out


def _replace_colour_band(context: np.ndarray, after: np.ndarray, mask: np.ndarray, changed: np.ndarray,
                         offset: int, out: np.ndarray) -> None:
    """One band of :func:`_replace_colour`: ``context`` (the band's pixels with the rows around
    it) and its ``mask``; ``after``, ``changed`` and ``out`` are the band's own rows, which
    start ``offset`` rows into the context. Writes the changed pixels of ``out`` in place."""
    ab = _chroma_near(context, mask)
    if mask.any():
        mask8 = mask.astype(np.uint8)
        for plane in ab:  # cv2.inpaint fills float32 planes one channel at a time
            plane[...] = inpaint(plane, mask8, CHROMA_INPAINT_RADIUS, cv2.INPAINT_TELEA)
    rows = slice(offset, offset + out.shape[0])
    band_ab = ab[:, rows]
    outside = changed & ~mask[rows]
    if outside.any():  # auto levels moved pixels far from the mask: their own colour
        band_ab[:, outside] = _chroma_near(context[rows], outside)[:, outside]
    where = np.flatnonzero(changed)
    flat_out = out.reshape(-1, 3)
    lightness, a, b = after.reshape(-1), band_ab[0].reshape(-1), band_ab[1].reshape(-1)
    for start in range(0, where.size, _CHUNK_PIXELS):
        index = where[start : start + _CHUNK_PIXELS]
        lab = np.stack((lightness[index], a[index], b[index]))[:, :, np.newaxis]
        rgb = np.moveaxis(lab_to_rgb(lab)[:, :, 0], 0, -1).astype(np.float32)
        flat_out[index] = _as_dtype(rgb, out.dtype)


def _is_gray(pixels: np.ndarray, equalise: bool) -> bool:
    return pixels.ndim == 2 or equalise


def repair_for_colorizing(pixels: np.ndarray, equalise: bool, restorer: Restorer) -> Repaired:
    """Repair ``pixels`` before they are colorized: the network and the output both get the
    repaired ``L``.

    Args:
        pixels: ``(H, W)`` or ``(H, W, 3)``; uint8, uint16 or float32 in [0, 1].
        equalise: an RGB image whose channels are equal (take their mean).
        restorer: detects and fills the damage (and stretches the tones if it is set to).

    Returns:
        Gray sources in their own type (untouched pixels bit for bit); colour sources as
        ``(H, W)`` float32 gray of the repaired ``L`` (the colorizer keeps only ``L``).
    """
    before = image_lightness(pixels, equalise)
    result = restorer.restore(before)
    if _is_gray(pixels, equalise):
        return Repaired(_replace_gray(pixels, before, result.lightness, result.mask), equalise, result.mask)
    return Repaired(lightness_to_gray(result.lightness), False, result.mask)


def restore_pixels(pixels: np.ndarray, equalise: bool, restorer: Restorer) -> Repaired:
    """Repair ``pixels`` and keep their kind: gray stays gray, colour stays colour (see the
    module docstring); shape and dtype are those of ``pixels``, untouched pixels bit for bit."""
    before = image_lightness(pixels, equalise)
    result = restorer.restore(before)
    replace = _replace_gray if _is_gray(pixels, equalise) else _replace_colour
    return Repaired(replace(pixels, before, result.lightness, result.mask), equalise, result.mask)


def display_copy(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """A screen copy of decoded (or repaired) pixels: ``(h, w, 3)`` float32 sRGB in [0, 1], at
    most ``max_side`` pixels a side (area averaging, as the app's previews)."""
    from .analysis import downscale

    small = downscale(pixels, max_side)
    scale = np.float32(1.0 / np.iinfo(small.dtype).max) if small.dtype.kind == "u" else np.float32(1.0)
    rgb = np.clip(small.astype(np.float32) * scale, 0.0, 1.0)
    return np.repeat(rgb[..., np.newaxis], 3, axis=2) if rgb.ndim == 2 else rgb


def damage_overlay(rgb: np.ndarray, mask: np.ndarray, colour: tuple[float, float, float] = (1.0, 0.0, 0.0),
                   opacity: float = 0.7) -> np.ndarray:
    """The damage mask painted over an image (red by default), at the image's size.

    Args:
        rgb: ``(h, w, 3)`` float sRGB in [0, 1].
        mask: ``(H, W)`` bool at any resolution; it is resized to ``(h, w)`` and a pixel is
            painted when any damage falls in it (thin scratches stay visible when shrunk).
        opacity: weight of the colour on damaged pixels, in [0, 1].

    Returns:
        ``(h, w, 3)`` float32 sRGB in [0, 1].
    """
    height, width = rgb.shape[:2]
    if mask.shape != (height, width):
        mask = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) > 0
    out = np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=True)
    out[mask] = (1.0 - opacity) * out[mask] + opacity * np.asarray(colour, np.float32)
    return out


# --------------------------------------------------------------------------- files


def mask_path_for(destination: str | os.PathLike[str]) -> Path:
    """Where the damage mask of ``destination`` goes: ``out/photo.jpg`` -> ``out/photo_mask.png``."""
    destination = Path(destination)
    return destination.with_name(f"{destination.stem}{MASK_SUFFIX}.png")


def check_destination(
    source: Path, destination: Path, overwrite: bool, mask_path: Path | None = None
) -> None:
    """Refuse to write over the input, or over an existing output or mask without ``overwrite``.

    Raises:
        OutputExistsError: what would be overwritten, and what to do.
    """
    for target in (destination, mask_path):
        if target is None or not os.path.lexists(target):
            continue
        # realpath, not Path.resolve: it does not raise on a symbolic-link loop
        if os.path.realpath(target) == os.path.realpath(source):
            raise OutputExistsError(f"refusing to overwrite the input {source}; choose another output name")
        if not overwrite:
            raise OutputExistsError(f"{target} exists; pass --overwrite (overwrite=True) to replace it")


def encode_mask(mask: np.ndarray) -> bytes:
    """``(H, W)`` bool -> an 8-bit gray PNG, 255 where damaged."""
    return encode_png(np.where(mask, np.uint8(255), np.uint8(0)), None, None)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, so that two files written together
    are both there or neither: their Python handlers (Python runs them in the main thread,
    whichever thread the signal reached) are replaced by one that notes the signal, and the
    first signal noted is handed to its own handler afterwards. Only in the main thread, and
    only for signals with a Python handler (a default action or an ignore is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[tuple[int, object]] = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if callable(signal.getsignal(signum)):
            previous[signum] = signal.signal(signum, lambda number, frame: noted.append((number, frame)))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum, frame in noted[:1]:
            previous[signum](signum, frame)  # KeyboardInterrupt, or the CLI's SIGTERM interruption


def write_with_mask(write_output: Callable[[], Path], mask_path: Path | None, mask: np.ndarray | None) -> Path:
    """Write the damage mask (if ``mask_path``), then the output (``write_output()``), both
    atomically; if the output fails, the mask just written is removed again."""
    with _signals_deferred():
        if mask_path is None or mask is None:
            return write_output()
        write_bytes_atomically(mask_path, encode_mask(mask))
        try:
            return write_output()
        except BaseException:
            with contextlib.suppress(OSError):
                mask_path.unlink()
            raise


def _encode_gray(pixels: np.ndarray, extension: str, bit_depth: int, exif: bytes | None,
                 icc_profile: bytes | None, quality: int) -> bytes | None:
    """A one-channel file of ``(H, W)`` gray pixels, or None where only RGB can be written
    (16 bits in a format without them, an unknown extension)."""
    output = find_output_format(extension)
    if output is None:
        return None
    depth = bit_depth if output.sixteen_bit else 8
    gray = _as_dtype(pixels, np.dtype(np.uint16 if depth == 16 else np.uint8)) if pixels.dtype.kind == "f" \
        else quantize(pixels, np.empty(pixels.shape, np.uint16 if depth == 16 else np.uint8))
    exif = reset_orientation(exif, "the EXIF to write") if exif else None
    if output.name == "PNG":
        return encode_png(gray, exif, icc_profile)
    options: dict[str, object] = {"quality": quality} if output.quality else {}
    if output.metadata:
        options.update({key: value for key, value in (("exif", exif), ("icc_profile", icc_profile)) if value})
    if output.name == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    buffer = BytesIO()
    try:
        Image.fromarray(gray).save(buffer, output.name, **options)  # mode L or I;16 from the dtype
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot encode the image as {output.name}: {err}") from err
    return buffer.getvalue()


def encode_restored(
    pixels: np.ndarray, format: str, *, alpha: np.ndarray | None = None, bit_depth: int = 8,
    exif: bytes | None = None, icc_profile: bytes | None = None, quality: int = DEFAULT_QUALITY,
) -> bytes:
    """Encode restored pixels in ``format`` (a name such as "PNG" or an extension): a gray image
    without alpha as a one-channel file, anything else (colour, or gray with alpha, which
    becomes RGBA with equal channels) with :func:`~masterpiece.pipeline.encoding.encode_image`.

    Raises:
        InvalidInputError: an unknown format. OutputError: the encoder failed.
    """
    if pixels.ndim == 2 and alpha is None:
        encoded = _encode_gray(pixels, format, bit_depth, exif, icc_profile, quality)
        if encoded is not None:
            return encoded
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., np.newaxis], 3, axis=2)
    return encode_image(rgb, format, alpha=alpha, bit_depth=bit_depth, exif=exif,
                        icc_profile=icc_profile, quality=quality)


def write_restored(path: Path, pixels: np.ndarray, *, overwrite: bool = False, **options: object) -> Path:
    """Write :func:`encode_restored`'s file atomically at ``path`` (its extension names the format).

    Raises:
        OutputExistsError: ``path`` exists and not ``overwrite``. OutputError: it cannot be written.
    """
    if path.is_dir():
        raise OutputError(f"cannot write '{path}': it is a folder; give a file name")
    if not overwrite and os.path.lexists(path):
        raise OutputExistsError(f"'{path}' already exists; pass overwrite=True (--overwrite) to replace it")
    write_bytes_atomically(path, encode_restored(pixels, path.suffix, **options))
    return path


def restore_file(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    restore: object = True,
    *,
    overwrite: bool = False,
    quality: int = DEFAULT_QUALITY,
    bit_depth: int | None = None,
    mask_path: str | os.PathLike[str] | None = None,
    max_pixels: int | None | MaxPixelsDefault = MaxPixelsDefault.FROM_ENV,
    before_write: Callable[[], None] | None = None,
) -> Path:
    """Read ``source``, repair it and write ``destination`` atomically: gray in, gray out;
    colour in, colour out (``L`` repaired, ``a``/``b`` filled on the same mask).

    Alpha, EXIF (orientation applied), the ICC profile and the bit depth (``None``: the
    input's) are kept. ``mask_path``, if given, receives the damage mask (8-bit PNG, 255 where
    damaged). ``max_pixels`` is the largest image read (as :class:`Colorizer
    <masterpiece.pipeline.image.Colorizer>` takes it). ``before_write`` is called between repairing and writing, as in
    :meth:`Colorizer.colorize_file <masterpiece.pipeline.image.Colorizer.colorize_file>`.

    Args:
        restore: ``True`` (the default restorer) or a :class:`~masterpiece.restoration.Restorer`.

    Raises:
        InvalidImageError: ``source`` cannot be read (ImageTooLargeError above ``max_pixels``).
        OutputExistsError: ``destination`` or the mask is the input, or exists and not ``overwrite``.
        OutputError: an output cannot be written.
        ConfigError: ``restore`` is not a restorer.
    """
    source, destination = Path(source), Path(destination)
    mask_file = Path(mask_path) if mask_path is not None else None
    restorer = resolve_restorer(restore)
    if restorer is None:
        raise ConfigError("restore_file needs a restorer: restore=True or a Restorer")
    check_destination(source, destination, overwrite, mask_file)
    loaded = read_image(source, max_pixels=resolve_max_pixels(max_pixels))
    repaired = restore_pixels(loaded.pixels, loaded.is_grayscale and loaded.pixels.ndim == 3, restorer)
    depth = bit_depth or loaded.bit_depth
    alpha, exif, icc_profile = loaded.alpha, loaded.exif, loaded.icc_profile
    del loaded
    if before_write is not None:
        before_write()

    def write_output() -> Path:
        return write_restored(destination, repaired.pixels, alpha=alpha, bit_depth=depth, exif=exif,
                              icc_profile=icc_profile, quality=quality, overwrite=overwrite)

    return write_with_mask(write_output, mask_file, repaired.mask)
