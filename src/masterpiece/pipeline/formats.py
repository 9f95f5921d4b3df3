"""Which image formats are read from folders and which can be written, with what they store.

Reading takes any format Pillow reads but EPS (:mod:`.decoding`); folders are scanned for
:data:`SUPPORTED_EXTENSIONS`. Writing (:mod:`.encoding`) supports JPEG, PNG, TIFF, WebP and BMP;
each :class:`OutputFormat` says whether it keeps alpha, 16 bits and metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from masterpiece.errors import InvalidInputError

__all__ = [
    "OUTPUT_FORMATS",
    "SUPPORTED_EXTENSIONS",
    "WRITABLE_EXTENSIONS",
    "OutputFormat",
    "find_output_format",
    "require_output_format",
    "writable_extension",
    "writable_format",
]

SUPPORTED_EXTENSIONS: Final = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""Extensions (lower case) :func:`~masterpiece.pipeline.folders.iter_image_files` picks up; GIF can be read, not written."""


@dataclass(frozen=True)
class OutputFormat:
    """A format :func:`~masterpiece.pipeline.encoding.write_image` can write, and what it keeps."""

    name: str  # Pillow's name for it
    extensions: tuple[str, ...]
    alpha: bool
    sixteen_bit: bool
    metadata: bool  # EXIF and ICC profile
    quality: bool


OUTPUT_FORMATS: Final = (
    OutputFormat(
        "JPEG", (".jpg", ".jpeg"), alpha=False, sixteen_bit=False, metadata=True, quality=True
    ),
    OutputFormat("PNG", (".png",), alpha=True, sixteen_bit=True, metadata=True, quality=False),
    OutputFormat(
        "TIFF", (".tif", ".tiff"), alpha=True, sixteen_bit=True, metadata=True, quality=False
    ),
    OutputFormat("WEBP", (".webp",), alpha=True, sixteen_bit=False, metadata=True, quality=True),
    OutputFormat("BMP", (".bmp",), alpha=False, sixteen_bit=False, metadata=False, quality=False),
)
WRITABLE_EXTENSIONS: Final = tuple(
    sorted(ext for fmt in OUTPUT_FORMATS for ext in fmt.extensions)
)


def find_output_format(spec: str) -> OutputFormat | None:
    """The output format a name ("JPEG") or an extension (".jpg", "jpg") means, if writable."""
    key = spec.lower().lstrip(".")
    for output in OUTPUT_FORMATS:
        if key == output.name.lower() or f".{key}" in output.extensions:
            return output
    return None


def require_output_format(spec: str, what: str) -> OutputFormat:
    """The output format ``spec`` means; ``what`` names the file or option in the error.

    Raises:
        InvalidInputError: ``spec`` is no writable format, with the extensions that are.
    """
    output = find_output_format(spec)
    if output is not None:
        return output
    raise InvalidInputError(
        f"cannot write {what}: {spec or 'no extension'} is not a supported image type; use one of "
        + ", ".join(WRITABLE_EXTENSIONS)
    )


def writable_format(name: str | None, fallback: str = "PNG") -> str:
    """``name`` (a Pillow format name such as :attr:`~masterpiece.pipeline.decoding.LoadedImage.format`) if it can be written,
    else ``fallback`` (GIF, MPO, ICO and unknown sources are re-encoded as PNG)."""
    return name if name and find_output_format(name) else fallback


def writable_extension(extension: str) -> str:
    """``extension`` (such as ``".JPG"``) if :func:`~masterpiece.pipeline.encoding.write_image` can write it, else ``".png"``."""
    return extension if extension and find_output_format(extension) else ".png"
