"""The metadata carried from an input to its output: EXIF orientation and ICC colour profiles.

EXIF: :func:`orientation_and_exif` reads a Pillow image's orientation and returns its EXIF with
the orientation reset to 1 (:func:`reset_orientation`, patched in place so maker notes
survive); :func:`orient` turns pixels upright as a view. ICC: :func:`convert_to_srgb`
converts 8-bit data in another profile to sRGB with ``ImageCms``; a corrupt profile is
dropped with a warning (:func:`usable_profile`).
"""

from __future__ import annotations

import functools
import logging
import struct
from io import BytesIO
from typing import Final

import numpy as np
from PIL import Image, ImageCms

__all__ = [
    "EXIF_HEADER",
    "ORIENTATION_TAG",
    "PILLOW_DECODE_ERRORS",
    "convert_to_srgb",
    "is_srgb",
    "orient",
    "orientation_and_exif",
    "reset_orientation",
    "usable_profile",
]

logger = logging.getLogger(__name__)

EXIF_HEADER: Final = b"Exif\x00\x00"
ORIENTATION_TAG: Final = 0x0112
_ICC_OUTPUT_MODES: Final = {"L": "RGB", "LA": "RGBA", "RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}
# EXIF orientation -> (swap rows and columns, row step, column step); 1 is upright.
ORIENTATIONS: Final = {
    2: (False, 1, -1), 3: (False, -1, -1), 4: (False, -1, 1), 5: (True, 1, 1),
    6: (True, 1, -1), 7: (True, -1, -1), 8: (True, -1, 1),
}  # fmt: skip
# What Pillow raises on corrupt data (Image.open itself catches several while identifying;
# the fuzz test in test_decoding.py found TypeError "Missing dimensions" from a mutated file).
PILLOW_DECODE_ERRORS: Final = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
    ZeroDivisionError, OverflowError,
)  # fmt: skip


def orientation_and_exif(image: Image.Image, name: str) -> tuple[int, bytes | None]:
    """The EXIF orientation (1-8) and the EXIF bytes with the orientation reset to 1."""
    try:
        orientation = int(image.getexif().get(ORIENTATION_TAG, 1))
    except PILLOW_DECODE_ERRORS as err:
        logger.warning("%s: its EXIF data is unreadable and is dropped (%s)", name, err)
        return 1, None
    if orientation != 1 and orientation not in ORIENTATIONS:
        logger.warning("%s: EXIF orientation %d is invalid and is ignored", name, orientation)
        orientation = 1
    raw = image.info.get("exif")
    return orientation, reset_orientation(raw, name) if isinstance(raw, bytes) and raw else None


def reset_orientation(exif: bytes, name: str) -> bytes | None:
    """EXIF as ``b"Exif\\0\\0"`` + TIFF data, with the IFD0 orientation set to 1.

    The bytes are patched in place rather than rebuilt, so maker notes (which hold absolute
    offsets) survive. Returns None, logged, when the data is malformed.
    """
    data = bytearray(exif.removeprefix(EXIF_HEADER))
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    try:
        if order is None:
            raise struct.error("no TIFF byte-order mark")
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
        for entry in range(offset + 2, offset + 2 + 12 * count, 12):
            tag, kind = struct.unpack_from(order + "HH", data, entry)
            if tag == ORIENTATION_TAG and kind in (3, 4):  # SHORT or LONG
                struct.pack_into(order + ("H" if kind == 3 else "I"), data, entry + 8, 1)
    except struct.error as err:
        logger.warning("%s: its EXIF data is malformed and is dropped (%s)", name, err)
        return None
    return EXIF_HEADER + bytes(data)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array upright for an EXIF orientation (1-8), as a view.

    Gives the same result as ``PIL.ImageOps.exif_transpose``.
    """
    if orientation not in ORIENTATIONS:
        return array
    swap, row_step, column_step = ORIENTATIONS[orientation]
    if swap:
        array = array.swapaxes(0, 1)
    return array[::row_step, ::column_step]


def usable_profile(icc: bytes | None, name: str) -> ImageCms.ImageCmsProfile | None:
    if not icc:
        return None
    try:
        return ImageCms.ImageCmsProfile(BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, ValueError, TypeError) as err:
        logger.warning("%s: its ICC colour profile is corrupt and is ignored (%s)", name, err)
        return None


def is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    try:
        return "srgb" in ImageCms.getProfileDescription(profile).lower()
    except ImageCms.PyCMSError:
        return False


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def convert_to_srgb(
    image: Image.Image, icc: bytes | None, name: str
) -> tuple[Image.Image, bytes | None]:
    """Return the image in sRGB where its profile allows, and the profile its pixels are then in."""
    profile = usable_profile(icc, name)
    if profile is None:
        return image, None
    if is_srgb(profile):
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
