"""From files to colour: safe image I/O and the :class:`Colorizer`.

``image`` (the :class:`Colorizer`, :func:`colorize`, colour hints), ``decoding`` (any image
in, sRGB pixels out, safely), ``encoding`` (pixels to PNG, TIFF, JPEG, WebP, BMP, written
atomically), ``formats`` (what can be read and written), ``metadata`` (EXIF orientation, ICC
profiles), ``pixels`` (value scales and rounding), ``folders`` (walking input folders, mirrored
output paths), ``bands`` (big images in bands of rows), ``repair`` (restoration before
colorizing, the damage mask), ``analysis`` (what the web app shows). NumPy only: no torch.

The names below are imported lazily, so that importing one module of the package (or
``masterpiece`` itself) does not import the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "ColorHint": "image",
    "Colorizer": "image",
    "colorize": "image",
    "hint_maps": "image",
    "SUPPORTED_EXTENSIONS": "formats",
    "LoadedImage": "decoding",
    "encode_image": "encoding",
    "iter_image_files": "folders",
    "output_path_for": "folders",
    "read_image": "decoding",
    "write_image": "encoding",
    "MASK_SUFFIX": "repair",
    "mask_path_for": "repair",
    "restore_file": "repair",
}

__all__ = [
    "MASK_SUFFIX",
    "SUPPORTED_EXTENSIONS",
    "ColorHint",
    "Colorizer",
    "LoadedImage",
    "colorize",
    "encode_image",
    "hint_maps",
    "iter_image_files",
    "mask_path_for",
    "output_path_for",
    "read_image",
    "restore_file",
    "write_image",
]

if TYPE_CHECKING:
    from .decoding import LoadedImage, read_image
    from .encoding import encode_image, write_image
    from .folders import iter_image_files, output_path_for
    from .formats import SUPPORTED_EXTENSIONS
    from .image import ColorHint, Colorizer, colorize, hint_maps
    from .repair import MASK_SUFFIX, mask_path_for, restore_file

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
