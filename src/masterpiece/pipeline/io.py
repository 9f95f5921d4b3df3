"""Read and write images safely for the colorization pipeline.

:func:`read_image` takes a path, ``bytes``, a binary file object, a Pillow image or a NumPy
array and returns a :class:`LoadedImage`: the pixels as float32 sRGB ``(H, W, 3)`` in
[0, 1], the alpha channel kept apart, and the metadata worth carrying to the output.
:func:`write_image` writes ``(H, W, 3)`` RGB atomically; :func:`encode_image` returns the
encoded bytes instead (for stdout). Every read failure is an :class:`InvalidImageError` (or
:class:`ImageTooLargeError`) and every write failure an :class:`OutputError`, each naming the
file and saying what to do; Pillow, OpenCV and OS errors are translated here and nowhere else.

Decisions:

- Formats. Folders are scanned for :data:`SUPPORTED_EXTENSIONS` (JPEG, PNG, TIFF, WebP,
  BMP, GIF); a file given by name may be in any format Pillow reads, except EPS (Pillow would
  run Ghostscript on it). Writing supports JPEG, PNG, TIFF, WebP and BMP.
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
  :func:`write_image` is always right. A corrupt profile is dropped with a warning.
- 16 bits. Pillow has no 16-bit RGB mode, so 16-bit colour PNG and TIFF are decoded and
  encoded with OpenCV; 16-bit grayscale goes through Pillow.
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
import errno
import functools
import logging
import os
import re
import secrets
import stat
import struct
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from io import BytesIO
from pathlib import Path
from typing import IO, Final, NamedTuple, Union

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from masterpiece.errors import (
    ConfigError,
    ImageTooLargeError,
    InvalidImageError,
    InvalidInputError,
    MasterpieceError,
    OutputError,
    OutputExistsError,
)
from masterpiece.pipeline.encoders import encode_jpeg, encode_png, tiff_parts
from masterpiece.settings import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY, MAX_PIXELS_ENV
from masterpiece.settings import max_pixels as max_pixels_from_env

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "SUPPORTED_EXTENSIONS",
    "ImageSource",
    "LoadedImage",
    "encode_image",
    "iter_image_files",
    "output_path_for",
    "read_image",
    "writable_extension",
    "writable_format",
    "write_bytes_atomically",
    "write_image",
]

logger = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: Final = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""Extensions (lower case) :func:`iter_image_files` picks up; GIF can be read, not written."""

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
_EXIF_HEADER: Final = b"Exif\x00\x00"
_ORIENTATION_TAG: Final = 0x0112
_FLOAT_SLACK: Final = 1e-3  # float input this far outside [0, 1] is clipped, further is refused
_BLOCK_PIXELS: Final = 1 << 20  # rows are processed in blocks of about this many pixels
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JPEG_MAX_EXIF_BYTES: Final = 65533  # one APP1 segment, less its length field
_GRAY_MODES: Final = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_ICC_OUTPUT_MODES: Final = {"L": "RGB", "LA": "RGBA", "RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}
# EXIF orientation -> (swap rows and columns, row step, column step); 1 is upright.
_ORIENTATIONS: Final = {
    2: (False, 1, -1), 3: (False, -1, -1), 4: (False, -1, 1), 5: (True, 1, 1),
    6: (True, 1, -1), 7: (True, -1, -1), 8: (True, -1, 1),
}  # fmt: skip
_OS_PROBLEMS: Final = {
    errno.ENOENT: "no such file or folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.ELOOP: "too many levels of symbolic links (a link loop)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EIO: "an input/output error (a failing disk or network share?)",
}
_WRITE_ADVICE: Final = {
    errno.EACCES: "choose a folder you can write to, or change its permissions",
    errno.EPERM: "choose a folder you can write to, or change its permissions",
    errno.ENOSPC: "free some space or write to another disk",
    errno.EDQUOT: "free some space or write to another disk",
    errno.EROFS: "write to another location",
}
_PILLOW_SETTINGS_LOCK: Final = threading.Lock()
# What Pillow raises on corrupt data (Image.open itself catches several while identifying;
# the fuzz test in test_io.py found TypeError "Missing dimensions" from a mutated file).
_DECODE_ERRORS: Final = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
    ZeroDivisionError, OverflowError,
)  # fmt: skip


class MaxPixelsDefault(Enum):
    """Sentinel for "take the pixel limit from ``$MASTERPIECE_MAX_PIXELS`` or the default"."""

    FROM_ENV = "from the environment"


@dataclass(frozen=True)
class _OutputFormat:
    name: str  # Pillow's name for it
    extensions: tuple[str, ...]
    alpha: bool
    sixteen_bit: bool
    metadata: bool  # EXIF and ICC profile
    quality: bool


_OUTPUT_FORMATS: Final = (
    _OutputFormat(
        "JPEG", (".jpg", ".jpeg"), alpha=False, sixteen_bit=False, metadata=True, quality=True
    ),
    _OutputFormat("PNG", (".png",), alpha=True, sixteen_bit=True, metadata=True, quality=False),
    _OutputFormat(
        "TIFF", (".tif", ".tiff"), alpha=True, sixteen_bit=True, metadata=True, quality=False
    ),
    _OutputFormat("WEBP", (".webp",), alpha=True, sixteen_bit=False, metadata=True, quality=True),
    _OutputFormat("BMP", (".bmp",), alpha=False, sixteen_bit=False, metadata=False, quality=False),
)
_WRITABLE_EXTENSIONS: Final = tuple(
    sorted(ext for fmt in _OUTPUT_FORMATS for ext in fmt.extensions)
)


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
        rgb = _to_float_rgb(self.pixels)
        if self.is_grayscale and self.pixels.ndim == 3:
            _equalise_channels(rgb)
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
            f"cannot read {name}: {_os_problem(err)}; check the path and the file's permissions"
        ) from err


def _read_file_object(source: IO[bytes], name: str, max_bytes: int | None) -> bytes:
    try:
        data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    except OSError as err:
        raise InvalidImageError(f"cannot read {name}: {_os_problem(err)}") from err
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidImageError(
            f"cannot read {name}: it is not open in binary mode; open it with 'rb'"
        )
    _check_byte_count(len(data), max_bytes, name)
    return bytes(data)


def _os_problem(err: OSError) -> str:
    return _OS_PROBLEMS.get(err.errno or 0, err.strerror or str(err))


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
        except _DECODE_ERRORS as err:
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
    orientation, exif = _orientation_and_exif(image, name)
    return _Decoded(pixels, orientation, exif, image.format, n_frames)


def _pillow_pixels(image: Image.Image, name: str) -> _Pixels:
    """Pixels of a loaded Pillow image, converted to sRGB when it carries another ICC profile."""
    gray_mode = image.mode in _GRAY_MODES
    converted, icc = _convert_to_srgb(_normalise_mode(image), image.info.get("icc_profile"), name)
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


def _usable_profile(icc: bytes | None, name: str) -> ImageCms.ImageCmsProfile | None:
    if not icc:
        return None
    try:
        return ImageCms.ImageCmsProfile(BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as err:
        logger.warning("%s: its ICC colour profile is corrupt and is ignored (%s)", name, err)
        return None


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    try:
        return "srgb" in ImageCms.getProfileDescription(profile).lower()
    except ImageCms.PyCMSError:
        return False


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _convert_to_srgb(
    image: Image.Image, icc: bytes | None, name: str
) -> tuple[Image.Image, bytes | None]:
    """Return the image in sRGB where its profile allows, and the profile its pixels are then in."""
    profile = _usable_profile(icc, name)
    if profile is None:
        return image, None
    if _is_srgb(profile):
        return image, icc
    output_mode = _ICC_OUTPUT_MODES.get(image.mode)
    if output_mode is None:
        logger.warning(
            "%s: its ICC profile cannot be applied to %s data; pixels used as they are",
            name,
            image.mode,
        )
        return image, icc
    try:
        return ImageCms.profileToProfile(
            image, profile, _srgb_profile(), outputMode=output_mode
        ), None
    except (ImageCms.PyCMSError, OSError, ValueError) as err:
        logger.warning(
            "%s: converting from its ICC profile to sRGB failed (%s); pixels used as they are",
            name,
            err,
        )
        return image, icc


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
    profile = _usable_profile(icc, name)
    if profile is not None and not _is_srgb(profile):
        logger.warning(
            "%s: its ICC profile is not applied to 16-bit colour; pixels used as they are", name
        )
    alpha = array[..., 3] if array.shape[2] == 4 else None
    return _Pixels(array[..., 2::-1], alpha, 16, False, icc if profile is not None else None)


def _orientation_and_exif(image: Image.Image, name: str) -> tuple[int, bytes | None]:
    """The EXIF orientation (1-8) and the EXIF bytes with the orientation reset to 1."""
    try:
        orientation = int(image.getexif().get(_ORIENTATION_TAG, 1))
    except _DECODE_ERRORS as err:
        logger.warning("%s: its EXIF data is unreadable and is dropped (%s)", name, err)
        return 1, None
    if orientation != 1 and orientation not in _ORIENTATIONS:
        logger.warning("%s: EXIF orientation %d is invalid and is ignored", name, orientation)
        orientation = 1
    raw = image.info.get("exif")
    return orientation, _reset_orientation(raw, name) if isinstance(raw, bytes) and raw else None


def _reset_orientation(exif: bytes, name: str) -> bytes | None:
    """EXIF as ``b"Exif\\0\\0"`` + TIFF data, with the IFD0 orientation set to 1.

    The bytes are patched in place rather than rebuilt, so maker notes (which hold absolute
    offsets) survive. Returns None, logged, when the data is malformed.
    """
    data = bytearray(exif.removeprefix(_EXIF_HEADER))
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    try:
        if order is None:
            raise struct.error("no TIFF byte-order mark")
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
        for entry in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag == _ORIENTATION_TAG and kind in (3, 4):  # SHORT or LONG
                struct.pack_into(order + ("H" if kind == 3 else "I"), data, entry + 8, 1)
    except struct.error as err:
        logger.warning("%s: its EXIF data is malformed and is dropped (%s)", name, err)
        return None
    return _EXIF_HEADER + bytes(data)


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
        alpha = _quantize(alpha, np.empty(alpha.shape, np.uint16))
    return _Decoded(_Pixels(colour, alpha, 8 if array.dtype == np.uint8 else 16, channels == 1))


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array upright for an EXIF orientation (1-8), as a view.

    Gives the same result as ``PIL.ImageOps.exif_transpose``.
    """
    if orientation not in _ORIENTATIONS:
        return array
    swap, row_step, column_step = _ORIENTATIONS[orientation]
    if swap:
        array = array.swapaxes(0, 1)
    return array[::row_step, ::column_step]


def _finish(decoded: _Decoded, source_name: str | None) -> LoadedImage:
    """Orient the pixels (a view) and wrap them; float32 RGB is made on first use of ``rgb``."""
    pixels = decoded.pixels
    colour = pixels.colour
    is_grayscale = pixels.gray_mode or colour.ndim == 2
    if not is_grayscale:
        spread = _channel_spread(colour)
        is_grayscale = spread <= _full_scale(colour.dtype) / 255.0
        if spread == 0:  # three copies of one gray channel: keep one (a third of the memory and work)
            colour = np.ascontiguousarray(colour[..., 0])
    colour = _orient(colour, decoded.orientation)
    alpha = (
        None
        if pixels.alpha is None
        else np.array(_orient(pixels.alpha, decoded.orientation), order="C")
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


def _full_scale(dtype: np.dtype) -> float:
    """The value that means white: 255, 65535, or 1.0 for floats."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise InvalidInputError(f"pixels must be float in [0, 1], uint8 or uint16, not {dtype}")


def _row_blocks(height: int, width: int) -> Iterator[slice]:
    """Slices of rows holding about ``_BLOCK_PIXELS`` pixels each, to bound temporaries."""
    step = max(1, _BLOCK_PIXELS // max(width, 1))
    for start in range(0, height, step):
        yield slice(start, min(start + step, height))


def _channel_spread(colour: np.ndarray) -> float:
    """The largest difference between two channels of one pixel of ``(H, W, 3)`` pixels.

    OpenCV compares the channel planes (about 25x faster than NumPy's reduction over the
    last axis on a 12-megapixel photograph); other dtypes (float64, float16) use NumPy.
    """
    if colour.dtype in (np.uint8, np.uint16, np.float32):
        first, second, third = cv2.split(np.ascontiguousarray(colour))
        return max(cv2.norm(first, second, cv2.NORM_INF), cv2.norm(first, third, cv2.NORM_INF),
                   cv2.norm(second, third, cv2.NORM_INF))
    spread = 0.0
    for rows in _row_blocks(*colour.shape[:2]):
        block = colour[rows]
        spread = max(spread, float((block.max(axis=-1) - block.min(axis=-1)).max()))
    return spread


def _to_float_rgb(colour: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` uint8, uint16 or float -> new ``(H, W, 3)`` float32 in [0, 1]."""
    height, width = colour.shape[:2]
    rgb = np.empty((height, width, 3), np.float32)
    source = colour[..., np.newaxis] if colour.ndim == 2 else colour
    np.multiply(source, np.float32(1.0 / _full_scale(colour.dtype)), out=rgb, casting="same_kind")
    if np.issubdtype(colour.dtype, np.floating):
        np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


def _equalise_channels(rgb: np.ndarray) -> None:
    """Replace each pixel of ``(H, W, 3)`` float32 by the mean of its channels, in place."""
    for rows in _row_blocks(*rgb.shape[:2]):
        block = rgb[rows]
        block[...] = block.mean(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- writing


def encode_image(
    rgb: np.ndarray,
    format: str,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    quality: int = DEFAULT_QUALITY,
) -> bytes:
    """Encode an RGB image in memory (for stdout, HTTP responses; :func:`write_image` for files).

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1] (values outside are clipped), uint8 or uint16, sRGB.
        format: "JPEG", "PNG", "TIFF", "WEBP" or "BMP", or an extension such as ".jpg".
        alpha: ``(H, W)`` float in [0, 1], uint8 or uint16; kept in PNG, TIFF and WebP and
            dropped (logged) in JPEG and BMP.
        bit_depth: 8, or 16 for 16-bit PNG and TIFF (other formats write 8 bits, logged).
        exif: EXIF bytes, with or without the ``b"Exif\\0\\0"`` header; the orientation is
            set to 1 since the pixels are upright. Not written to BMP.
        icc_profile: the ICC profile the pixels are in, or None for sRGB. Pass
            :attr:`LoadedImage.icc_profile` on; never a source profile the pixels were
            converted from. Not written to BMP.
        quality: JPEG and WebP quality, 1 (smallest) to 100 (best).

    Returns:
        The encoded file.

    Raises:
        InvalidInputError: an unknown format, or pixel arrays of the wrong shape or type.
        ConfigError: ``bit_depth`` or ``quality`` out of range.
        OutputError: the encoder failed.
    """
    output = _output_format(format, f"format {format!r}")
    return b"".join(_encode_parts(output, rgb, alpha, bit_depth, exif, icc_profile, quality))


def write_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    bit_depth: int = 8,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    quality: int = DEFAULT_QUALITY,
    overwrite: bool = False,
) -> Path:
    """Write an RGB image atomically, in the format its extension names.

    The arguments are those of :func:`encode_image`. The file appears complete or not at all:
    it is written to ``.<name>.<random>.part`` in the same folder, flushed to disk and
    renamed; on any failure the temporary file is removed. Parent folders are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InvalidInputError: the extension is not .jpg, .jpeg, .png, .tif, .tiff, .webp or .bmp,
            or the pixels are malformed.
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
        OutputError: the file cannot be written (permissions, disk full, ...).
    """
    target = Path(path)
    output = _output_format(target.suffix, f"'{target}'")
    if target.is_dir():
        raise OutputError(f"cannot write '{target}': it is a folder; give a file name")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(
            f"'{target}' already exists; pass overwrite=True (--overwrite) or choose another name"
        )
    write_bytes_atomically(target, _encode_parts(output, rgb, alpha, bit_depth, exif, icc_profile, quality))
    return target


def _find_output_format(spec: str) -> _OutputFormat | None:
    """The output format a name ("JPEG") or an extension (".jpg", "jpg") means, if writable."""
    key = spec.lower().lstrip(".")
    for output in _OUTPUT_FORMATS:
        if key == output.name.lower() or f".{key}" in output.extensions:
            return output
    return None


def _output_format(spec: str, what: str) -> _OutputFormat:
    output = _find_output_format(spec)
    if output is not None:
        return output
    raise InvalidInputError(
        f"cannot write {what}: {spec or 'no extension'} is not a supported image type; use one of "
        + ", ".join(_WRITABLE_EXTENSIONS)
    )


def _encode_parts(
    output: _OutputFormat,
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    bit_depth: int,
    exif: bytes | None,
    icc_profile: bytes | None,
    quality: int,
) -> list[bytes | memoryview]:
    """The encoded file as pieces to write in order (a TIFF's strips are not joined: no copy)."""
    _check_write_arguments(rgb, alpha, bit_depth, quality)
    if alpha is not None and not output.alpha:
        logger.warning("%s cannot store transparency; the alpha channel is dropped", output.name)
        alpha = None
    if bit_depth == 16 and not output.sixteen_bit:
        logger.info("%s stores 8 bits per channel; writing 8 bits", output.name)
        bit_depth = 8
    exif = _reset_orientation(exif, "the EXIF to write") if exif else None
    if not output.metadata and (exif or icc_profile):
        logger.info("%s cannot store EXIF or an ICC profile; they are not written", output.name)
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    try:
        if output.name == "PNG":
            return [encode_png(_quantized_pixels(rgb, alpha, dtype, bgr=True), exif, icc_profile)]
        if output.name == "TIFF":
            return tiff_parts(_quantized_pixels(rgb, alpha, dtype), exif, icc_profile)
        return [_encode_pillow(output, rgb, alpha, exif, icc_profile, quality)]
    except MasterpieceError:
        raise
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot encode the image as {output.name}: {err}") from err


def _check_write_arguments(
    rgb: np.ndarray, alpha: np.ndarray | None, bit_depth: int, quality: int
) -> None:
    if bit_depth not in (8, 16):
        raise ConfigError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ConfigError(f"quality must be a whole number from 1 to 100, got {quality!r}")
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise InvalidInputError(
            f"rgb must be a non-empty (H, W, 3) array, got {getattr(rgb, 'shape', rgb)!r}"
        )
    if alpha is not None and (not isinstance(alpha, np.ndarray) or alpha.shape != rgb.shape[:2]):
        found = getattr(alpha, "shape", alpha)
        raise InvalidInputError(
            f"alpha must be an (H, W) array matching rgb {rgb.shape[:2]}, got {found!r}"
        )


def _quantize(source: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Round float in [0, 1] (clipped), uint8 or uint16 ``source`` into integer ``out``."""
    if source.dtype == out.dtype:
        out[...] = source
        return out
    top = float(np.iinfo(out.dtype).max)
    scale = np.float32(top / _full_scale(source.dtype))
    floating = np.issubdtype(source.dtype, np.floating)
    for rows in _row_blocks(*source.shape[:2]):
        block = source[rows].astype(np.float32)
        if floating and np.isnan(block).any():
            raise InvalidInputError("the pixels to write contain NaN values")
        np.multiply(block, scale, out=block)
        np.clip(block, 0.0, top, out=block)
        out[rows] = np.rint(block, out=block)
    return out


def _quantized_pixels(
    rgb: np.ndarray, alpha: np.ndarray | None, dtype: type, *, bgr: bool = False
) -> np.ndarray:
    """``(H, W, 3 | 4)`` integer pixels: RGB (or BGR for OpenCV), then alpha if any."""
    if alpha is None and not bgr and rgb.dtype == dtype and rgb.flags.c_contiguous:
        return rgb  # already what the encoder takes: no copy of a big image
    height, width = rgb.shape[:2]
    pixels = np.empty((height, width, 3 if alpha is None else 4), dtype)
    _quantize(rgb[..., ::-1] if bgr else rgb, pixels[..., :3])
    if alpha is not None:
        _quantize(alpha, pixels[..., 3])
    return pixels


def _encode_pillow(
    output: _OutputFormat,
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    exif: bytes | None,
    icc_profile: bytes | None,
    quality: int,
) -> bytes:
    options: dict[str, object] = {}
    if output.quality:
        options["quality"] = quality
    if output.metadata and exif:
        if output.name == "JPEG" and len(exif) > _JPEG_MAX_EXIF_BYTES:
            logger.warning(
                "the EXIF data (%d bytes) is too large for a JPEG file (at most %d); "
                "it is not written",
                len(exif),
                _JPEG_MAX_EXIF_BYTES,
            )
        else:
            options["exif"] = exif
    if output.metadata and icc_profile:
        options["icc_profile"] = icc_profile
    if output.name == "JPEG":  # OpenCV: no copies of the pixels (see encoders.encode_jpeg)
        return encode_jpeg(_quantized_pixels(rgb, None, np.uint8), options.get("exif"), icc_profile, quality)
    buffer = BytesIO()
    Image.fromarray(_quantized_pixels(rgb, alpha, np.uint8)).save(buffer, output.name, **options)
    return buffer.getvalue()


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write ``data`` (bytes, or pieces written in order) to a temporary file beside ``path``,
    fsync it and rename it to ``path``.

    The file appears complete or not at all; an existing ``path`` is replaced (callers decide
    about overwriting). Raises :class:`OutputError` naming the file and what to do.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
        )
    except OSError as err:
        raise output_error(path, err) from err
    try:
        try:
            for piece in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
                _write_all(descriptor, piece)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException as err:
        _remove_temporary(temporary)
        if isinstance(err, OSError):
            raise output_error(path, err) from err
        raise


def _write_all(descriptor: int, data: bytes | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(descriptor, view) :]


def _remove_temporary(temporary: Path) -> None:
    try:
        temporary.unlink(missing_ok=True)
    except OSError as err:
        logger.warning("could not remove the temporary file '%s': %s", temporary, err)


def output_error(path: Path, err: OSError) -> OutputError:
    """An :class:`OutputError` naming ``path``; its ``errno`` is the OS error's, so callers can
    tell a full disk or a refused folder (every later write fails too) from a one-off."""
    advice = _WRITE_ADVICE.get(err.errno or 0, "check the output path")
    error = OutputError(f"cannot write '{path}': {_os_problem(err)}; {advice}")
    error.errno = err.errno
    return error


# --------------------------------------------------------------------------- folders


def writable_format(name: str | None, fallback: str = "PNG") -> str:
    """``name`` (a Pillow format name such as :attr:`LoadedImage.format`) if it can be written,
    else ``fallback`` (GIF, MPO, ICO and unknown sources are re-encoded as PNG)."""
    return name if name and _find_output_format(name) else fallback


def writable_extension(extension: str) -> str:
    """``extension`` (such as ``".JPG"``) if :func:`write_image` can write it, else ``".png"``."""
    return extension if extension and _find_output_format(extension) else ".png"


def output_path_for(
    input_path: str | os.PathLike[str],
    input_root: str | os.PathLike[str],
    output_root: str | os.PathLike[str],
    suffix: str | None = None,
    extension: str | None = None,
) -> Path:
    """Where the output for ``input_path`` goes when mirroring ``input_root`` into ``output_root``.

    ``in/a/b.jpg`` with ``suffix="_color"`` becomes ``out/a/b_color.jpg``. ``extension``
    (with or without the dot) replaces the input's; an input extension that cannot be written
    (``.gif``, or anything unknown) becomes ``.png``.

    Raises:
        InvalidInputError: ``input_path`` is not inside ``input_root``, or ``extension`` cannot
            be written.
        OutputExistsError: the output would be the input file itself.
    """
    try:
        relative = Path(os.path.abspath(input_path)).relative_to(os.path.abspath(input_root))
    except ValueError:
        raise InvalidInputError(
            f"'{input_path}' is not inside the input folder '{input_root}'"
        ) from None
    if extension is not None:
        new_extension = extension if extension.startswith(".") else f".{extension}"
        _output_format(new_extension, f"extension {extension!r}")
    else:
        new_extension = writable_extension(relative.suffix)
    target = Path(output_root) / relative.parent / f"{relative.stem}{suffix or ''}{new_extension}"
    # realpath, not Path.resolve: it does not raise on a symbolic-link loop
    if os.path.realpath(target) == os.path.realpath(input_path):
        raise OutputExistsError(
            f"writing '{target}' would overwrite the input; choose another output folder or "
            "a suffix"
        )
    return target


def _log_skipped(path: Path, reason: str) -> None:
    logger.warning("skipping '%s': %s", path, reason)


def iter_image_files(
    folder: str | os.PathLike[str], on_error: Callable[[Path, str], None] = _log_skipped
) -> Iterator[Path]:
    """Image files below ``folder``, recursively, in sorted order.

    Picks entries whose extension (any case) is in :data:`SUPPORTED_EXTENSIONS`; skips hidden
    files and folders (names starting with ".", which covers our ``.part`` temporaries) and
    files of other types. Decisions on the odd entries of old drives:

    - A folder is searched whatever its name, also one named like an image (``scans.jpg/``).
    - Symbolic links to folders are followed, each folder visited once, so link loops end.
    - A link to a file is yielded under the link's name. A broken link with an image
      extension is yielded too, so that reading it reports the problem rather than the file
      silently missing from a batch.
    - A subfolder or entry that cannot be examined (permissions, I/O errors, a link loop) is
      skipped and passed to ``on_error(path, reason)``; by default it is logged as a warning.

    Raises:
        InvalidInputError: ``folder`` is not a readable folder (raised here, not on iteration).
    """
    root = Path(folder)
    try:
        info = root.stat()
    except OSError as err:
        raise InvalidInputError(f"cannot read the folder '{root}': {_os_problem(err)}") from err
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"'{root}' is not a folder")
    return _walk(root, {(info.st_dev, info.st_ino)}, on_error)


def _walk(
    folder: Path, seen: set[tuple[int, int]], on_error: Callable[[Path, str], None]
) -> Iterator[Path]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as err:
        on_error(folder, f"the folder cannot be read: {_os_problem(err)}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            folder_info = entry.stat() if entry.is_dir() else None
        except OSError as err:
            on_error(Path(entry.path), _os_problem(err))
            continue
        if folder_info is not None:
            key = (folder_info.st_dev, folder_info.st_ino)
            if key not in seen:
                seen.add(key)
                yield from _walk(Path(entry.path), seen, on_error)
        elif os.path.splitext(entry.name)[1].lower() in SUPPORTED_EXTENSIONS and (
            entry.is_file() or entry.is_symlink()
        ):
            yield Path(entry.path)
