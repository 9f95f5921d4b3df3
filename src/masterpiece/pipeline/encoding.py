"""Encode colorized images: :func:`encode_image` (bytes) and :func:`write_image` (a file, atomically).

Pixels come as float in [0, 1], uint8 or uint16 sRGB; they are rounded block by block
(:func:`~masterpiece.pipeline.pixels.quantize`) into the integer type the format stores, and
the EXIF (orientation reset to 1) and ICC profile are carried into formats that keep them.
Every failure is an :class:`OutputError` (or :class:`InvalidInputError` for malformed pixels),
naming the file and saying what to do.

PNG, TIFF and JPEG are encoded here, fast at file sizes close to Pillow's defaults and without
copies of big images (issue 15); WebP and BMP go through Pillow. The choices, measured on
12-megapixel colorized photographs (grainy scanned lightness, smooth colour) and on smooth and
noisy generated ones:

- PNG, 8 and 16 bits: OpenCV's encoder (libpng) at zlib level 1, 4 to 5 times faster than
  Pillow's default (level 6). The strategy is chosen per image on sample bands: the default
  one is best on grain (a colorized 12 MP scan: +3 % over Pillow's size, where ``Z_RLE`` gives
  +15 %), ``Z_RLE`` on smooth content (an upscaled photo: +3 %, where the default gives +27 %).
  Levels 4 to 6 are 2 to 5 times slower. OpenCV writes no metadata, so the iCCP and
  eXIf chunks are inserted after IHDR. Images OpenCV refuses (libpng's limit is a million
  pixels a side) fall back to Pillow with the same zlib settings (8 bits only).
- TIFF, written here (Pillow has no 16-bit colour mode, and its libtiff writer fails on EXIF
  with a sub-IFD), with the ICC profile and the EXIF (IFD0 tags, EXIF and GPS sub-IFDs).
  8 bits: deflate at zlib level 1 with the horizontal predictor, 1 MiB strips compressed in
  parallel threads (zlib releases the GIL): as fast as libtiff's LZW and files half the size
  of Pillow's default (uncompressed). 16 bits: uncompressed, Pillow's default: the noise in
  the low bits leaves deflate 19 % smaller for 6 times the time, and makes LZW larger than raw.
  The file is handed to the writer as pieces (:func:`tiff_parts`): the strips of a 16-bit
  image are views of the pixels (joining them cost a 600 MB copy on a 100 MP scan).
- JPEG: OpenCV's libjpeg at the caller's quality with 4:2:0 chroma, as Pillow by default;
  the APP1 (EXIF) and APP2 (ICC) segments are inserted after the JFIF header. Pillow held two
  more copies of the pixels (its 4-byte-a-pixel image and a bytes copy: 700 MB on a 100 MP
  scan); here the pixels are swapped to BGR in place, block by block, and back.
"""

from __future__ import annotations

import itertools
import logging
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from PIL import Image, TiffImagePlugin, TiffTags

from masterpiece.atomic import write_bytes_atomically
from masterpiece.errors import (
    ConfigError,
    InvalidInputError,
    MasterpieceError,
    OutputError,
    OutputExistsError,
)
from masterpiece.pipeline.formats import OutputFormat, require_output_format
from masterpiece.pipeline.metadata import EXIF_HEADER, reset_orientation
from masterpiece.pipeline.pixels import quantize
from masterpiece.settings import DEFAULT_QUALITY

__all__ = ["encode_image", "encode_jpeg", "encode_png", "encode_tiff", "tiff_parts", "write_image"]

logger = logging.getLogger(__name__)

#: the largest side each output type can store, in pixels (the others: no limit of their own)
MAX_OUTPUT_SIDE: Final = {"WEBP": 16383, "JPEG": 65535}
_JPEG_MAX_EXIF_BYTES: Final = 65533  # one APP1 segment, less its length field

PNG_COMPRESSION_LEVEL: Final = 1
PNG_STRATEGY: Final = zlib.Z_RLE  # Pillow's fallback; OpenCV's is chosen by _png_params
_PNG_SAMPLE_BANDS: Final = 8
_PNG_SAMPLE_ROWS: Final = 32
TIFF_COMPRESSION_LEVEL: Final = 1
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_TIFF_PREDICTOR: Final = 317
_TIFF_HORIZONTAL_DIFFERENCING: Final = 2
_TIFF_MAX_BYTES: Final = 2**32 - 2**20  # classic TIFF offsets are 32 bits
_TIFF_STRIP_BYTES: Final = 2**20
#: EXIF IFD0 tags that describe pixel layout: the writer's own values stand
_TIFF_LAYOUT_TAGS: Final = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325,
     338, 339, 513, 514, 530, 531, 532}
)  # fmt: skip


# --------------------------------------------------------------------------- the API


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
    output = require_output_format(format, f"format {format!r}")
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
    output = require_output_format(target.suffix, f"'{target}'")
    if target.is_dir():
        raise OutputError(f"cannot write '{target}': it is a folder; give a file name")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(
            f"'{target}' already exists; pass overwrite=True (--overwrite) or choose another name"
        )
    write_bytes_atomically(target, _encode_parts(output, rgb, alpha, bit_depth, exif, icc_profile, quality))
    return target



def _encode_parts(
    output: OutputFormat,
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
    exif = reset_orientation(exif, "the EXIF to write") if exif else None
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


def _quantized_pixels(
    rgb: np.ndarray, alpha: np.ndarray | None, dtype: type, *, bgr: bool = False
) -> np.ndarray:
    """``(H, W, 3 | 4)`` integer pixels: RGB (or BGR for OpenCV), then alpha if any."""
    if alpha is None and not bgr and rgb.dtype == dtype and rgb.flags.c_contiguous:
        return rgb  # already what the encoder takes: no copy of a big image
    height, width = rgb.shape[:2]
    pixels = np.empty((height, width, 3 if alpha is None else 4), dtype)
    quantize(rgb[..., ::-1] if bgr else rgb, pixels[..., :3])
    if alpha is not None:
        quantize(alpha, pixels[..., 3])
    return pixels


def _encode_pillow(
    output: OutputFormat,
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
    if output.name == "JPEG":  # OpenCV: no copies of the pixels (see encode_jpeg)
        return encode_jpeg(_quantized_pixels(rgb, None, np.uint8), options.get("exif"), icc_profile, quality)
    buffer = BytesIO()
    Image.fromarray(_quantized_pixels(rgb, alpha, np.uint8)).save(buffer, output.name, **options)
    return buffer.getvalue()


# --------------------------------------------------------------------------- PNG, TIFF, JPEG


def encode_png(bgr: np.ndarray, exif: bytes | None, icc_profile: bytes | None) -> bytes:
    """A PNG of ``bgr``, with the EXIF and ICC profile if given.

    Args:
        bgr: ``(H, W, 3 | 4)`` uint8 or uint16, in OpenCV's channel order (BGR, then alpha).
        exif: EXIF with the ``b"Exif\\0\\0"`` header, or None.
        icc_profile: the ICC profile of the pixels, or None.

    Raises:
        OutputError: neither OpenCV nor (8 bits) Pillow could encode the image.
    """
    params = _png_params(bgr)
    try:
        ok, encoded = cv2.imencode(".png", bgr, params)
        problem = "" if ok else "OpenCV's PNG encoder failed"
    except cv2.error as err:
        problem = f"OpenCV's PNG encoder failed: {err}"
    if problem:
        return _png_with_metadata(_pillow_png(bgr, problem), exif, icc_profile)
    return _png_with_metadata(encoded.tobytes(), exif, icc_profile)


def _png_params(bgr: np.ndarray) -> list[int]:
    """OpenCV's settings: level 1, with ``Z_RLE`` or the default strategy, whichever makes
    the smaller file of a sample of bands (about 8 % of a 12-megapixel image, each way)."""
    rows = bgr.shape[0]
    starts = np.linspace(0, max(0, rows - _PNG_SAMPLE_ROWS), _PNG_SAMPLE_BANDS).astype(int)
    sample = np.concatenate([bgr[start : start + _PNG_SAMPLE_ROWS] for start in np.unique(starts)])
    sizes = {}
    for strategy in (cv2.IMWRITE_PNG_STRATEGY_DEFAULT, cv2.IMWRITE_PNG_STRATEGY_RLE):
        params = [
            cv2.IMWRITE_PNG_COMPRESSION,
            PNG_COMPRESSION_LEVEL,
            cv2.IMWRITE_PNG_STRATEGY,
            strategy,
        ]
        try:
            ok, encoded = cv2.imencode(".png", sample, params)
        except cv2.error:
            ok = False
        sizes[strategy] = len(encoded) if ok else 0
    return [
        cv2.IMWRITE_PNG_COMPRESSION,
        PNG_COMPRESSION_LEVEL,
        cv2.IMWRITE_PNG_STRATEGY,
        min(sizes, key=sizes.get),
    ]


def _pillow_png(bgr: np.ndarray, problem: str) -> bytes:
    if bgr.dtype != np.uint8:
        raise OutputError(f"cannot encode the image as 16-bit PNG: {problem}; try a .tif output")
    logger.info("%s (%dx%d); encoding the PNG with Pillow", problem, bgr.shape[1], bgr.shape[0])
    rgb = bgr[..., [2, 1, 0, 3][: bgr.shape[2]]]
    buffer = BytesIO()
    Image.fromarray(rgb).save(
        buffer, "PNG", compress_level=PNG_COMPRESSION_LEVEL, compress_type=PNG_STRATEGY
    )
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_with_metadata(png: bytes, exif: bytes | None, icc_profile: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks right after the IHDR chunk of an encoded PNG."""
    chunks = b""
    if icc_profile:
        chunks += png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile))
    if exif:
        chunks += png_chunk(b"eXIf", exif.removeprefix(EXIF_HEADER))
    if not chunks:
        return png
    end_of_header = len(_PNG_SIGNATURE) + 8 + 13 + 4  # length, type, IHDR data, CRC
    return b"".join((png[:end_of_header], chunks, memoryview(png)[end_of_header:]))


def encode_tiff(rgb: np.ndarray, exif: bytes | None, icc_profile: bytes | None) -> bytes:
    """A little-endian, chunky RGB(A) TIFF of ``rgb`` (see :func:`tiff_parts`), as one bytes object."""
    return b"".join(tiff_parts(rgb, exif, icc_profile))


def tiff_parts(rgb: np.ndarray, exif: bytes | None, icc_profile: bytes | None) -> list[bytes | memoryview]:
    """A little-endian, chunky RGB(A) TIFF of ``rgb``, with the EXIF and ICC profile if given,
    as the pieces of the file in order: written one after the other, the strips of an
    uncompressed 16-bit image are views of ``rgb`` (a 100 MP scan is not copied again).

    Args:
        rgb: ``(H, W, 3 | 4)`` uint8 (deflate with the horizontal predictor, strips compressed
            in parallel threads) or uint16 (uncompressed), RGB then unassociated alpha.
        exif: EXIF with the ``b"Exif\\0\\0"`` header, or None: its IFD0 tags (camera, date)
            and its EXIF and GPS sub-IFDs are written.
        icc_profile: the ICC profile of the pixels, or None.

    Raises:
        OutputError: an image of 4 GiB or more (classic TIFF's limit).
    """
    height, width, channels = rgb.shape
    if rgb.nbytes > _TIFF_MAX_BYTES:
        raise OutputError(
            f"cannot encode a {width}x{height} TIFF: it would pass the format's 4 GiB limit; "
            "write a PNG"
        )
    pixels = np.ascontiguousarray(rgb, dtype=rgb.dtype.newbyteorder("<"))
    rows_per_strip = max(1, _TIFF_STRIP_BYTES // (width * channels * pixels.itemsize))
    strips = [pixels[start : start + rows_per_strip] for start in range(0, height, rows_per_strip)]
    compressed = pixels.dtype.itemsize == 1
    if compressed:
        with ThreadPoolExecutor(min(len(strips), os.cpu_count() or 1)) as pool:
            data = list(pool.map(_deflate_strip, strips))
    else:
        data = [memoryview(strip).cast("B") for strip in strips]
    sizes = [len(strip) for strip in data]
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if exif:
        _copy_exif(exif, ifd)
    if icc_profile:
        ifd[TiffImagePlugin.ICCPROFILE] = icc_profile
    layout: dict[int, object] = {
        256: width, 257: height, 258: (pixels.itemsize * 8,) * channels, 262: 2,
        259: 8 if compressed else 1, 277: channels, 278: rows_per_strip, 284: 1,
        339: (1,) * channels,
        273: tuple(itertools.accumulate(sizes[:-1], initial=0)),  # Pillow adds the data offset
        279: tuple(sizes),
    }  # fmt: skip
    if compressed:
        layout[_TIFF_PREDICTOR] = _TIFF_HORIZONTAL_DIFFERENCING
    if channels == 4:
        layout[338] = 2  # unassociated alpha
    for tag, value in layout.items():
        ifd[tag] = value
        ifd.tagtype[tag] = TiffTags.LONG if tag in (273, 279) else TiffTags.SHORT
    header = BytesIO()
    ifd.save(header)  # the file header, the directory and its data; the strips follow
    return [header.getvalue(), *data]


def encode_jpeg(rgb: np.ndarray, exif: bytes | None, icc_profile: bytes | None, quality: int) -> bytes:
    """A baseline JPEG (4:2:0, libjpeg quality ``quality``, what Pillow writes by default) of
    ``(H, W, 3)`` uint8 RGB, with the EXIF (APP1) and ICC profile (APP2) if given.

    OpenCV's encoder reads the pixels where they are: a writable C-contiguous array is turned
    to BGR in place and back afterwards (Pillow would hold two more copies, 700 MB for a
    100 MP scan); any other array is copied once.
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if rgb.flags.c_contiguous and rgb.flags.writeable:
        _swap_red_blue(rgb)
        try:
            ok, encoded = cv2.imencode(".jpg", rgb, params)
        finally:
            _swap_red_blue(rgb)
    else:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OutputError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} JPEG")
    return _jpeg_with_metadata(encoded.tobytes(), exif, icc_profile)


def _swap_red_blue(pixels: np.ndarray) -> None:
    """RGB <-> BGR in place, a block of rows at a time (OpenCV's in-place conversion copies the
    whole image first)."""
    rows = max(1, _SWAP_BLOCK_BYTES // max(1, pixels[0].nbytes))
    for start in range(0, pixels.shape[0], rows):
        block = pixels[start : start + rows]
        cv2.cvtColor(block, cv2.COLOR_RGB2BGR, dst=block)


_SWAP_BLOCK_BYTES: Final = 4 * 2**20
#: an ICC profile is split into APP2 segments of at most this many bytes of profile
_ICC_SEGMENT_BYTES: Final = 65519
#: the most a JPEG segment holds (its 16-bit length counts itself)
_JPEG_SEGMENT_BYTES: Final = 65533
_ICC_SIGNATURE: Final = b"ICC_PROFILE\x00"


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg_with_metadata(jpeg: bytes, exif: bytes | None, icc_profile: bytes | None) -> bytes:
    """``jpeg`` with an APP1 EXIF and APP2 ICC segments after its SOI and JFIF APP0 (as Pillow
    places them); the caller keeps the EXIF within one segment (64 KiB)."""
    segments = b""
    exif = EXIF_HEADER + exif.removeprefix(EXIF_HEADER) if exif else None
    if exif and len(exif) > _JPEG_SEGMENT_BYTES:
        logger.warning("the EXIF data (%d bytes) does not fit in a JPEG segment; it is not written", len(exif))
    elif exif:
        segments += _jpeg_segment(0xE1, exif)
    if icc_profile:
        chunks = [icc_profile[i : i + _ICC_SEGMENT_BYTES] for i in range(0, len(icc_profile), _ICC_SEGMENT_BYTES)]
        segments += b"".join(_jpeg_segment(0xE2, _ICC_SIGNATURE + bytes((index, len(chunks))) + chunk)
                             for index, chunk in enumerate(chunks, start=1))
    if not segments:
        return jpeg
    position = 2  # after SOI
    if jpeg[2:4] == b"\xff\xe0":  # the JFIF header stays first
        position += 2 + struct.unpack(">H", jpeg[4:6])[0]
    return b"".join((jpeg[:position], segments, memoryview(jpeg)[position:]))


def _deflate_strip(strip: np.ndarray) -> bytes:
    """One strip, horizontally differenced (TIFF predictor 2, modulo 2**8) and deflated."""
    differences = strip.copy()
    np.subtract(strip[:, 1:], strip[:, :-1], out=differences[:, 1:])
    return zlib.compress(differences, TIFF_COMPRESSION_LEVEL)


def _copy_exif(exif: bytes, ifd: TiffImagePlugin.ImageFileDirectory_v2) -> None:
    """EXIF's IFD0 tags (camera, date, ...) and sub-IFDs (EXIF, GPS) into the TIFF's IFD0."""
    info = Image.Exif()
    info.load(exif)
    for tag in info:
        if tag in _TIFF_LAYOUT_TAGS:
            continue
        ifd[tag] = info.get_ifd(tag) if tag in TiffTags.TAGS_V2_GROUPS else info[tag]
