"""Decode images safely for the colorization pipeline: any source in, sRGB pixels out.

:func:`read_image` takes a path, ``bytes``, a binary file object, a Pillow image or a NumPy
array and returns a :class:`LoadedImage`: the pixels as float32 sRGB ``(H, W, 3)`` in
[0, 1], the alpha channel kept apart, and the metadata worth carrying to the output.
Every read failure is an :class:`InvalidImageError` (or :class:`ImageTooLargeError`) naming
the file and saying what to do; Pillow, OpenCV and OS errors met while reading are translated
here and nowhere else (writing is :mod:`.encoding`, folders :mod:`.folders`).

Decisions:

- Formats. Folders are scanned for :data:`SUPPORTED_EXTENSIONS` (JPEG, PNG, TIFF, WebP,
  BMP, GIF); a file given by name may be in any format Pillow reads, except EPS (Pillow would
  run Ghostscript on it).
- Animated and multi-page images (GIF, WebP, TIFF, MPO): the first frame, always;
  :attr:`LoadedImage.n_frames` records how many there were. A Pillow image passed in is used
  at the frame it is on (frame 0 unless the caller seeked), so it is never changed.
- Orientation. The EXIF orientation is applied to the NumPy array as a view (the same result
  as ``ImageOps.exif_transpose``, without its copy of the image), and the EXIF kept in
  :attr:`LoadedImage.exif` says orientation 1.
- Colour management. An embedded ICC profile that is not sRGB is converted to sRGB with
  ``ImageCms`` (8-bit data), after which :attr:`LoadedImage.icc_profile` is ``None``: the pixels
  are sRGB, and embedding the source profile on output would mislabel them. Where the profile
  is sRGB already, or cannot be applied (16-bit data, a failed transform, logged), the pixels
  are kept as they are and ``icc_profile`` holds the profile they are in, so passing it on to
  :func:`~masterpiece.pipeline.encoding.write_image` is always right. A corrupt profile is dropped with a warning.
- 16 bits. Pillow has no 16-bit RGB mode, so 16-bit colour PNG and TIFF are decoded with
  OpenCV; 16-bit grayscale goes through Pillow.
- Safety. The pixel limit is judged from the header before any pixel is decoded: while
  reading, Pillow's global ``Image.MAX_IMAGE_PIXELS`` is set to the limit (its
  ``DecompressionBombWarning`` made an error, so anything above the limit fails, also frames
  or tiles that grow later) and ``ImageFile.LOAD_TRUNCATED_IMAGES`` is held False. Both are
  process-wide, so they are set under a lock: reads decode one at a time.
- Memory. :class:`LoadedImage` keeps the decoded 8- or 16-bit pixels (a NumPy array passed
  in is copied, never aliased); the float32 ``rgb`` is made on first use, in one pass, with no
  float64 copies and no whole-image temporaries. The colorizer never asks for it: it converts
  band by band, so a 100-megapixel gray scan costs 100 MB here, not 1.2 GB.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from io import BytesIO
from pathlib import Path
from typing import IO, Final, NamedTuple, Union

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from masterpiece.atomic import os_problem
from masterpiece.errors import ConfigError, ImageTooLargeError, InvalidImageError, MasterpieceError
from masterpiece.pipeline.metadata import (
    PILLOW_DECODE_ERRORS,
    convert_to_srgb,
    is_srgb,
    orient,
    orientation_and_exif,
    usable_profile,
)
from masterpiece.pipeline.pixels import (
    channel_spread,
    equalise_channels,
    full_scale,
    quantize,
    to_float_rgb,
)
from masterpiece.settings import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV
from masterpiece.settings import max_pixels as max_pixels_from_env

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "ImageSource",
    "LoadedImage",
    "MaxPixelsDefault",
    "read_image",
    "resolve_max_pixels",
]

logger = logging.getLogger(__name__)

ImageSource = Union[
    str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Image.Image, np.ndarray
]

_UNSAFE_FORMATS: Final = frozenset({"EPS"})  # decoding runs Ghostscript
_FORMATS_ADVICE: Final = (
    "pass a JPEG, PNG, TIFF, WebP, BMP or GIF file (or another format Pillow reads)"
)
_LIMIT_ADVICE: Final = (
    f"if you trust the file, raise the limit with --max-pixels N or {MAX_PIXELS_ENV} "
    "(max_pixels= in Python; 0 or None for no limit)"
)
_FLOAT_SLACK: Final = 1e-3  # float input this far outside [0, 1] is clipped, further is refused
_GRAY_MODES: Final = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_PILLOW_SETTINGS_LOCK: Final = threading.Lock()


class MaxPixelsDefault(Enum):
    """Sentinel for "take the pixel limit from ``$MASTERPIECE_MAX_PIXELS`` or the default"."""

    FROM_ENV = "from the environment"


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image read by :func:`read_image`.

    Attributes:
        pixels: the decoded pixels, upright (EXIF orientation applied, possibly as a view):
            ``(H, W)`` gray or ``(H, W, 3)`` sRGB, uint8, uint16 or float in [0, 1]. The
            colorizer reads these directly, so a big scan is never held in float. An RGB
            source whose three channels are identical is kept as one ``(H, W)`` channel.
        rgb: ``(H, W, 3)`` float32 in [0, 1], sRGB (computed from ``pixels`` on first use and
            kept); for a grayscale image the three channels are equal.
        alpha: ``(H, W)`` uint8 or uint16 (as deep as the source), or None when opaque.
        bit_depth: 8 or 16, the precision of the source per channel (float sources count as 16).
        is_grayscale: the source mode is grayscale, or its channels are equal within 1/255,
            so it has no colour worth keeping.
        exif: EXIF as in a JPEG APP1 segment (``b"Exif\\0\\0"`` + TIFF data) with the
            orientation set to 1, or None (none, unreadable, or a TIFF source).
        icc_profile: the ICC profile ``rgb`` is in when it is not plain sRGB, or the source's
            sRGB profile; None when ``rgb`` is sRGB without one (converted, absent or corrupt).
        format: Pillow's format name ("JPEG", "PNG", ...), None for arrays.
        source_name: the path or file name read, None for bytes and arrays.
        n_frames: frames or pages in the source; only the first is read.
    """

    pixels: np.ndarray = field(repr=False)
    alpha: np.ndarray | None = field(repr=False)
    bit_depth: int
    is_grayscale: bool
    exif: bytes | None = field(default=None, repr=False)
    icc_profile: bytes | None = field(default=None, repr=False)
    format: str | None = None
    source_name: str | None = None
    n_frames: int = 1

    @functools.cached_property
    def rgb(self) -> np.ndarray:
        """``(H, W, 3)`` float32 sRGB in [0, 1]; gray sources have three equal channels."""
        rgb = to_float_rgb(self.pixels)
        if self.is_grayscale and self.pixels.ndim == 3:
            equalise_channels(rgb)
        return rgb

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]


class _Pixels(NamedTuple):
    """Decoded pixels before orientation and float conversion."""

    colour: np.ndarray  # (H, W) or (H, W, 3): uint8, uint16 or float in [0, 1]
    alpha: np.ndarray | None  # (H, W) uint8 or uint16
    bit_depth: int
    gray_mode: bool
    icc_profile: bytes | None = None


class _Decoded(NamedTuple):
    pixels: _Pixels
    orientation: int = 1
    exif: bytes | None = None
    format: str | None = None
    n_frames: int = 1


# --------------------------------------------------------------------------- reading


def read_image(
    source: ImageSource,
    *,
    max_pixels: int | None | MaxPixelsDefault = MaxPixelsDefault.FROM_ENV,
    max_bytes: int | None = None,
) -> LoadedImage:
    """Read an image into float32 sRGB, whatever its format, mode, depth or orientation.

    Args:
        source: a path (``str`` or ``os.PathLike``), ``bytes``, a binary file object, a
            ``PIL.Image.Image``, or a NumPy array ``(H, W)`` or ``(H, W, 1 | 3 | 4)`` (RGB(A)
            order) of uint8, uint16 or float in [0, 1]. Nothing passed in is modified. Files
            may be in any format Pillow reads (JPEG, PNG, TIFF, WebP, BMP, GIF, ...) but EPS;
            a Pillow image is taken as Pillow holds it (8 bits for colour).
        max_pixels: the most pixels (width x height) accepted, judged from the header before
            decoding; None for no limit. By default ``$MASTERPIECE_MAX_PIXELS`` (0 for no limit;
            :mod:`masterpiece.settings`), else :data:`DEFAULT_MAX_PIXELS`.
        max_bytes: the largest encoded size accepted, in bytes; None for no limit.

    Returns:
        A :class:`LoadedImage`; ``rgb`` is ``(H, W, 3)`` float32 in [0, 1].

    Raises:
        ImageTooLargeError: above ``max_pixels`` or ``max_bytes``.
        InvalidImageError: anything else that stops the image being read.
        ConfigError: ``max_pixels``, ``max_bytes`` or ``$MASTERPIECE_MAX_PIXELS`` is invalid.
    """
    limit = resolve_max_pixels(max_pixels)
    if max_bytes is not None and max_bytes < 1:
        raise ConfigError(f"max_bytes must be a positive number of bytes or None, got {max_bytes}")
    if isinstance(source, np.ndarray):
        return _finish(_decode_array(source, limit), source_name=None)
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or None
        display = f"'{name}'" if name else "the PIL image"
        _check_pixel_count(source.size, limit, display)
        with _pillow_decoding(display, limit):
            decoded = _decode_pillow(source, display, stream=None)
        return _finish(decoded, source_name=name)
    with (
        _open_encoded(source, max_bytes) as (stream, display, name),
        _pillow_decoding(display, limit),
        _open_pillow(stream, display) as image,
    ):
        decoded = _decode_pillow(image, display, stream)
    return _finish(decoded, source_name=name)


def resolve_max_pixels(value: int | None | MaxPixelsDefault) -> int | None:
    """The pixel limit to use: ``value``, or the environment's (:func:`masterpiece.settings.max_pixels`:
    ``$MASTERPIECE_MAX_PIXELS``, 0 for none), or :data:`DEFAULT_MAX_PIXELS`."""
    if value is MaxPixelsDefault.FROM_ENV:
        return max_pixels_from_env()
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"max_pixels must be a positive whole number or None, got {value!r}")
    return value


def _check_pixel_count(size: tuple[int, int], max_pixels: int | None, name: str) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"cannot read {name}: {width}x{height} is {width * height:,} pixels, more than the "
            f"limit of {max_pixels:,}; {_LIMIT_ADVICE}"
        )


def _check_byte_count(size: int, max_bytes: int | None, name: str) -> None:
    if size == 0:
        raise InvalidImageError(
            f"cannot read {name}: it is empty (0 bytes); re-export or re-copy it"
        )
    if max_bytes is not None and size > max_bytes:
        raise ImageTooLargeError(
            f"cannot read {name}: it is larger than the limit of {max_bytes:,} bytes; "
            "pass a larger max_bytes (None for no limit)"
        )


@contextlib.contextmanager
def _open_encoded(
    source: ImageSource, max_bytes: int | None
) -> Iterator[tuple[IO[bytes], str, str | None]]:
    """Yield ``(seekable binary stream, name for messages, source_name)`` for encoded input."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with _open_path(path, f"'{path}'", max_bytes) as stream:
            yield stream, f"'{path}'", str(path)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        display = f"the image data ({len(source):,} bytes)"
        _check_byte_count(len(source), max_bytes, display)
        yield BytesIO(source), display, None
    elif callable(getattr(source, "read", None)):
        file_name = getattr(source, "name", None)
        name = file_name if isinstance(file_name, str) else None
        display = f"'{name}'" if name else "the file object"
        yield BytesIO(_read_file_object(source, display, max_bytes)), display, name
    else:
        raise InvalidImageError(
            f"cannot read an image from a {type(source).__name__}; pass a path, bytes, a binary "
            "file object, a PIL image or a NumPy array"
        )


def _open_path(path: Path, name: str, max_bytes: int | None) -> IO[bytes]:
    """Open ``path`` for reading after checking it is a non-empty regular file."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InvalidImageError(
                f"cannot read {name}: it is a folder, not an image file; pass a file"
            )
        if not stat.S_ISREG(info.st_mode):
            raise InvalidImageError(
                f"cannot read {name}: it is not a regular file; pass an image file"
            )
        _check_byte_count(info.st_size, max_bytes, name)
        return path.open("rb")
    except FileNotFoundError as err:
        if path.is_symlink():
            problem = (
                f"it is a broken symbolic link (to '{os.readlink(path)}'); fix or remove the link"
            )
        else:
            problem = "no such file; check the path"
        raise InvalidImageError(f"cannot read {name}: {problem}") from err
    except OSError as err:
        raise InvalidImageError(
            f"cannot read {name}: {os_problem(err)}; check the path and the file's permissions"
        ) from err


def _read_file_object(source: IO[bytes], name: str, max_bytes: int | None) -> bytes:
    try:
        data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    except OSError as err:
        raise InvalidImageError(f"cannot read {name}: {os_problem(err)}") from err
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidImageError(
            f"cannot read {name}: it is not open in binary mode; open it with 'rb'"
        )
    _check_byte_count(len(data), max_bytes, name)
    return bytes(data)


def _readable_formats() -> tuple[str, ...]:
    """Every format Pillow has a plugin for (also ones registered later), except unsafe ones."""
    Image.init()
    return tuple(fmt for fmt in Image.ID if fmt not in _UNSAFE_FORMATS)


def _open_pillow(stream: IO[bytes], name: str) -> Image.Image:
    """Identify the format and read the header (no pixels yet, for most formats)."""
    try:
        return Image.open(stream, formats=_readable_formats())
    except UnidentifiedImageError as err:
        stream.seek(0)
        start = stream.read(16)
        raise InvalidImageError(
            f"cannot read {name}: it is not an image in a format that can be read (it starts "
            f"with {start!r}); {_FORMATS_ADVICE}"
        ) from err


@contextlib.contextmanager
def _pillow_decoding(name: str, max_pixels: int | None) -> Iterator[None]:
    """Hold Pillow's process-wide settings for one safe decode and translate its errors.

    ``Image.MAX_IMAGE_PIXELS`` becomes ``max_pixels`` (with ``DecompressionBombWarning``
    raised as an error, everything above it fails, including frames and tiles that grow
    while decoding) and ``ImageFile.LOAD_TRUNCATED_IMAGES`` is False. Pillow's warnings about
    the file (corrupt EXIF, odd tags) are logged under its name instead of printed (at DEBUG
    level when the read fails anyway).
    """
    with _PILLOW_SETTINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
        failed = True
        try:
            yield
            failed = False
        except MasterpieceError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            found = re.search(r"\((\d+) pixels\)", str(err))  # Pillow states the size it saw
            size = f"{int(found[1]):,} pixels" if found else "too many pixels"
            raise ImageTooLargeError(
                f"cannot read {name}: it has {size}, more than the limit of {max_pixels:,}; "
                + _LIMIT_ADVICE
            ) from err
        except PILLOW_DECODE_ERRORS as err:
            raise InvalidImageError(
                f"cannot read {name}: the image data is truncated or corrupt ({err}); "
                "re-export or re-copy the file"
            ) from err
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved
            # on failure the error says it all; the warnings are details
            level = logging.DEBUG if failed else logging.WARNING
            for message in dict.fromkeys(str(warning.message).strip() for warning in caught):
                logger.log(level, "%s: %s", name, message)


def _decode_pillow(image: Image.Image, name: str, stream: IO[bytes] | None) -> _Decoded:
    """Decode the current frame of ``image``; its encoded ``stream`` enables 16-bit colour."""
    n_frames = getattr(image, "n_frames", 1)
    pixels = _decode_16bit_colour(image, stream, name) if stream is not None else None
    if pixels is None:
        image.load()
        pixels = _pillow_pixels(image, name)
    orientation, exif = orientation_and_exif(image, name)
    return _Decoded(pixels, orientation, exif, image.format, n_frames)


def _pillow_pixels(image: Image.Image, name: str) -> _Pixels:
    """Pixels of a loaded Pillow image, converted to sRGB when it carries another ICC profile."""
    gray_mode = image.mode in _GRAY_MODES
    converted, icc = convert_to_srgb(_normalise_mode(image), image.info.get("icc_profile"), name)
    if converted.mode == "CMYK":  # no usable profile: Pillow's (1 - C)(1 - K) formula
        converted = converted.convert("RGB")
    array = np.asarray(converted)
    mode = converted.mode
    if mode == "LA":
        return _Pixels(array[..., 0], array[..., 1], 8, gray_mode, icc)
    if mode == "RGBA":
        return _Pixels(array[..., :3], array[..., 3], 8, gray_mode, icc)
    if mode in ("L", "RGB"):
        return _Pixels(array, None, 8, gray_mode, icc)
    if mode == "F":
        return _Pixels(_checked_float(array, name), None, 16, gray_mode, icc)
    if mode == "I":
        return _Pixels(_int32_to_uint16(array, name), None, 16, gray_mode, icc)
    return _Pixels(array.astype(np.uint16, copy=False), None, 16, gray_mode, icc)  # I;16*


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Convert to L, LA, RGB, RGBA, CMYK, I, F or I;16*, keeping alpha and transparency."""
    transparent = "transparency" in image.info
    mode = image.mode
    if mode in ("1", "L"):
        target = "LA" if transparent else "L"
    elif mode in ("P", "RGB"):
        target = "RGBA" if transparent else "RGB"
    elif mode in ("LA", "La"):
        target = "LA"
    elif mode in ("PA", "RGBa", "RGBA"):
        target = "RGBA"
    elif mode in ("CMYK", "I", "F") or mode.startswith("I;16"):
        target = mode
    else:  # RGBX, YCbCr, HSV, LAB, ...
        target = "RGB"
    return image if target == mode else image.convert(target)


def _is_16bit_colour(image: Image.Image) -> bool:
    """Whether Pillow would reduce this PNG or TIFF from 16 to 8 bits per channel."""
    if image.format not in ("PNG", "TIFF") or image.mode not in ("RGB", "RGBA") or not image.tile:
        return False
    args = image.tile[0][3]
    rawmode = args[0] if isinstance(args, tuple) and args else args
    return isinstance(rawmode, str) and ";16" in rawmode


def _decode_16bit_colour(image: Image.Image, stream: IO[bytes], name: str) -> _Pixels | None:
    """Decode 16-bit colour with OpenCV; None (logged) when not 16-bit or OpenCV cannot."""
    if not _is_16bit_colour(image):
        return None
    import cv2  # only needed here and for 16-bit output

    stream.seek(0)
    array = cv2.imdecode(np.frombuffer(stream.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    expected = (image.height, image.width, len(image.getbands()))
    if array is None or array.dtype != np.uint16 or array.shape != expected:
        logger.warning(
            "%s: OpenCV could not decode its 16-bit colour; reading it with 8 bits", name
        )
        return None
    icc = image.info.get("icc_profile")
    profile = usable_profile(icc, name)
    if profile is not None and not is_srgb(profile):
        logger.warning(
            "%s: its ICC profile is not applied to 16-bit colour; pixels used as they are", name
        )
    alpha = array[..., 3] if array.shape[2] == 4 else None
    return _Pixels(array[..., 2::-1], alpha, 16, False, icc if profile is not None else None)


def _checked_float(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` unchanged, after checking it is finite and in [0, 1] (give or take rounding)."""
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidImageError(f"cannot read {name}: it contains NaN or infinite values")
    if low < -_FLOAT_SLACK or high > 1 + _FLOAT_SLACK:
        raise InvalidImageError(
            f"cannot read {name}: float pixel values must lie in [0, 1], found [{low:g}, "
            f"{high:g}]; divide 8-bit values by 255 and 16-bit values by 65535"
        )
    return array


def _int32_to_uint16(array: np.ndarray, name: str) -> np.ndarray:
    """Pillow's 32-bit integer mode, taken as 16-bit values (as Pillow itself often uses it)."""
    if array.min() < 0 or array.max() > 65535:
        logger.warning("%s: 32-bit integer pixels outside 0..65535 are clipped", name)
    return np.clip(array, 0, 65535).astype(np.uint16)


def _decode_array(array: np.ndarray, max_pixels: int | None) -> _Decoded:
    """Validate a NumPy image ``(H, W)`` or ``(H, W, 1 | 3 | 4)`` and split off its alpha."""
    name = f"the {array.dtype} array of shape {array.shape}"
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else 0)
    if channels not in (1, 3, 4) or 0 in array.shape:
        raise InvalidImageError(
            f"cannot read {name}: expected a non-empty (H, W) or (H, W, 1|3|4) array"
        )
    native = array.dtype.newbyteorder("=")  # big-endian data is read too
    floating = np.issubdtype(native, np.floating)
    if not floating and native not in (np.uint8, np.uint16):
        raise InvalidImageError(
            f"cannot read {name}: expected uint8, uint16 or float values in [0, 1]"
        )
    _check_pixel_count((array.shape[1], array.shape[0]), max_pixels, name)
    if native != array.dtype:
        array = array.astype(native)
    if floating:
        _checked_float(array, name)
    colour = np.array(array.reshape(array.shape[:2]) if channels == 1 else array[..., :3])  # a copy
    alpha = array[..., 3] if channels == 4 else None
    if alpha is not None and floating:
        alpha = quantize(alpha, np.empty(alpha.shape, np.uint16))
    return _Decoded(_Pixels(colour, alpha, 8 if array.dtype == np.uint8 else 16, channels == 1))


def _finish(decoded: _Decoded, source_name: str | None) -> LoadedImage:
    """Orient the pixels (a view) and wrap them; float32 RGB is made on first use of ``rgb``."""
    pixels = decoded.pixels
    colour = pixels.colour
    is_grayscale = pixels.gray_mode or colour.ndim == 2
    if not is_grayscale:
        spread = channel_spread(colour)
        is_grayscale = spread <= full_scale(colour.dtype) / 255.0
        if spread == 0:  # three copies of one gray channel: keep one (a third of the memory and work)
            colour = np.ascontiguousarray(colour[..., 0])
    colour = orient(colour, decoded.orientation)
    alpha = (
        None
        if pixels.alpha is None
        else np.array(orient(pixels.alpha, decoded.orientation), order="C")
    )
    return LoadedImage(
        pixels=colour,
        alpha=alpha,
        bit_depth=pixels.bit_depth,
        is_grayscale=is_grayscale,
        exif=decoded.exif,
        icc_profile=pixels.icc_profile,
        format=decoded.format,
        source_name=source_name,
        n_frames=decoded.n_frames,
    )
