"""From files to colour: safe image I/O and the :class:`Colorizer`.

``image`` (the :class:`Colorizer`, :func:`colorize`, colour hints), ``io`` (reading, encoding
and writing images; folders of them), ``bands`` (big images in bands of rows), ``repair``
(restoration before colorizing, the damage mask), ``analysis`` (what the web app shows),
``encoders`` (PNG, TIFF and JPEG written fast). NumPy only: no torch.

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
    "SUPPORTED_EXTENSIONS": "io",
    "LoadedImage": "io",
    "encode_image": "io",
    "iter_image_files": "io",
    "output_path_for": "io",
    "read_image": "io",
    "write_image": "io",
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
    from .image import ColorHint, Colorizer, colorize, hint_maps
    from .io import (
        SUPPORTED_EXTENSIONS,
        LoadedImage,
        encode_image,
        iter_image_files,
        output_path_for,
        read_image,
        write_image,
    )
    from .repair import MASK_SUFFIX, mask_path_for, restore_file

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
