"""The bad-input corpus of issue 7, generated from code (no binary file is committed).

:func:`build_corpus` writes every :data:`CASES` entry into a folder: files that must fail
(zero bytes, truncated JPEG and PNG, a text file named ``.jpg``, a decompression bomb, broken
and looping symbolic links), odd files that must colorize (CMYK, 16-bit, 1-bit, palette with
transparency, animated GIF and WebP, a corrupt ICC profile, huge EXIF, unicode, spaces and
undecodable bytes in names, a symbolic link to a file and one to a folder, a folder named like
an image) and two plain good images. Every image is tiny (at most 32x48) so that a whole folder
colorizes in seconds with the compact model at ``--size 64``.

Each :class:`Case` says what reading it produces: ``error`` is the exception type
:func:`~masterpiece.pipeline.decoding.read_image` and ``Colorizer.colorize`` raise (None: it
colorizes), ``reason`` a regular expression the message matches, and ``output`` where a folder
run writes its result, relative to the output folder. The helpers at the end check runs over
it: :func:`fingerprint` (inputs untouched), :data:`TRACEBACK`, :func:`model_options`.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from masterpiece.errors import ImageTooLargeError, InvalidImageError, MasterpieceError

HEIGHT, WIDTH = 32, 48
BOMB_SIDE = 40_000  # 1.6 gigapixels claimed by the header; the default limit is 200 million


@dataclass(frozen=True)
class Case:
    """One corpus entry.

    Attributes:
        name: the input, relative to the corpus folder.
        what: the case in words, for the report.
        make: writes the entry at the path it is given (parents exist).
        error: what ``read_image`` and ``Colorizer.colorize`` raise for it, or None when it
            colorizes.
        reason: a regular expression the error message (and the CLI's line) matches.
        output: what a folder run of the corpus writes for it, relative to the output folder;
            None when the run reports it as failed or skips it.
    """

    name: str
    what: str
    make: Callable[[Path], None] = field(repr=False, compare=False)
    error: type[MasterpieceError] | None = None
    reason: str = ""
    output: str | None = None


# --------------------------------------------------------------------------- pixels


def gray_pixels(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    """``(H, W)`` uint8: a gradient with noise, so that encoders cannot shrink it to nothing."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    ramp = rows * (200 / height) + cols * (50 / width)
    return np.clip(ramp + rng.integers(-20, 20, (height, width)), 0, 255).astype(np.uint8)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` encoded by Pillow as ``fmt``."""
    buffer = BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --------------------------------------------------------------------------- makers


def _writer(data: Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data())


def _saver(image: Callable[[], Image.Image], fmt: str, **options: object) -> Callable[[Path], None]:
    return lambda path: image().save(path, fmt, **options)


def _gray() -> Image.Image:
    return Image.fromarray(gray_pixels())


def _truncated(fmt: str) -> Callable[[Path], None]:
    """The first 60% of a noisy image: what an interrupted download leaves."""

    def make(path: Path) -> None:
        data = encoded(_gray(), fmt)
        path.write_bytes(data[: len(data) * 6 // 10])

    return make


def _bomb_png() -> bytes:
    """A PNG whose header claims BOMB_SIDE x BOMB_SIDE gray pixels, with almost no data."""
    header = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _cmyk() -> Image.Image:
    pixels = gray_pixels()
    ink = np.stack([np.zeros_like(pixels)] * 3 + [255 - pixels], axis=-1)
    return Image.fromarray(ink, "CMYK")


def _gray16() -> Image.Image:
    return Image.fromarray(gray_pixels().astype(np.uint16) * 257)


def _rgb16_png(path: Path) -> None:
    pixels = np.repeat(gray_pixels()[..., None].astype(np.uint16) * 257, 3, axis=2)
    ok, data = cv2.imencode(".png", pixels)
    assert ok, "OpenCV failed to encode the 16-bit test image"
    path.write_bytes(data.tobytes())


def _bilevel() -> Image.Image:
    return Image.fromarray(gray_pixels() > 110)


def _palette() -> Image.Image:
    return _gray().convert("P")


def _frames() -> list[Image.Image]:
    return [Image.fromarray(gray_pixels(seed=seed)) for seed in range(3)]


def _animated(fmt: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        first, *rest = _frames()
        first.save(path, fmt, save_all=True, append_images=rest, duration=100, loop=0)

    return make


def _huge_exif(size: int) -> bytes:
    """EXIF of about ``size`` bytes: an ImageDescription of that length."""
    exif = Image.Exif()
    exif[0x010E] = "x" * size  # ImageDescription
    return exif.tobytes()


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _self_link(path: Path) -> None:
    path.symlink_to(path.name)


def _folder_with_image(path: Path) -> None:
    path.mkdir()
    _gray().save(path / "inside.png")


def _non_utf8_name() -> str:
    return os.fsdecode(b"caf\xe9 latin-1.png")  # a name written by an old Windows or Mac


# --------------------------------------------------------------------------- the corpus

_TRUNCATED = "truncated or corrupt"

CASES: tuple[Case, ...] = (
    Case("good.png", "a plain gray PNG", _saver(_gray, "PNG"), output="good.png"),
    Case("good.jpg", "a plain gray JPEG", _saver(_gray, "JPEG"), output="good.jpg"),
    Case("empty.jpg", "a zero-byte file", _writer(lambda: b""), InvalidImageError,
         r"empty \(0 bytes\)"),
    Case("truncated.jpg", "a truncated JPEG (60% of the file)", _truncated("JPEG"),
         InvalidImageError, _TRUNCATED),
    Case("truncated.png", "a truncated PNG (60% of the file)", _truncated("PNG"),
         InvalidImageError, _TRUNCATED),
    Case("only-a-header.jpg", "a JPEG cut after its first bytes",
         _writer(lambda: encoded(_gray(), "JPEG")[:20]), InvalidImageError,
         f"not an image|{_TRUNCATED}"),
    Case("notes.jpg", "a text file named .jpg",
         _writer(lambda: b"Grandma's album, page 3: the beach at Scheveningen, 1952.\n"),
         InvalidImageError, "not an image in a format that can be read"),
    Case("bomb.png", f"a PNG header claiming {BOMB_SIDE}x{BOMB_SIDE} pixels (decompression bomb)",
         _writer(_bomb_png), ImageTooLargeError, "1,600,000,000 pixels, more than the limit"),
    Case("broken link.jpg", "a symbolic link to a file that does not exist",
         _symlink("gone.jpg"), InvalidImageError, "broken symbolic link"),
    Case("loop.jpg", "a symbolic link to itself (a link loop)", _self_link, InvalidImageError,
         "symbolic links"),
    Case("cmyk.jpg", "a CMYK JPEG", _saver(_cmyk, "JPEG"), output="cmyk.jpg"),
    Case("gray16.png", "a 16-bit grayscale PNG", _saver(_gray16, "PNG"), output="gray16.png"),
    Case("rgb16.png", "a 16-bit RGB PNG", _rgb16_png, output="rgb16.png"),
    Case("bilevel.png", "a 1-bit PNG", _saver(_bilevel, "PNG"), output="bilevel.png"),
    Case("bilevel.tif", "a 1-bit TIFF, CCITT group 4", _saver(_bilevel, "TIFF", compression="group4"),
         output="bilevel.tif"),
    Case("palette-transparent.png", "a palette PNG with a transparent colour",
         _saver(_palette, "PNG", transparency=0),
         output="palette-transparent.png"),
    Case("animated.gif", "an animated GIF (3 frames): the first frame, written as PNG",
         _animated("GIF"), output="animated.png"),
    Case("animated.webp", "an animated WebP (3 frames): the first frame", _animated("WEBP"),
         output="animated.webp"),
    Case("corrupt-icc.jpg", "a JPEG with a corrupt ICC profile (ignored, logged)",
         _saver(_gray, "JPEG", icc_profile=b"not an ICC profile " * 20), output="corrupt-icc.jpg"),
    Case("huge-exif.jpg", "a JPEG with 64 KB of EXIF (the most a JPEG holds)",
         _saver(_gray, "JPEG", exif=_huge_exif(65_000)), output="huge-exif.jpg"),
    Case("huge-exif.png", "a PNG with 2 MB of EXIF", _saver(_gray, "PNG", exif=_huge_exif(2_000_000)),
         output="huge-exif.png"),
    Case("png-named.jpg", "a PNG file named .jpg", _saver(_gray, "PNG"), output="png-named.jpg"),
    Case("UPPER CASE.JPG", "an upper-case extension and a space", _saver(_gray, "JPEG"),
         output="UPPER CASE.JPG"),
    Case("Fotos von Oma/Großmutter – 1952 (é).jpg", "unicode and spaces in folder and file names",
         _saver(_gray, "JPEG"), output="Fotos von Oma/Großmutter – 1952 (é).jpg"),
    Case("🎨 émoji.png", "an emoji in the name", _saver(_gray, "PNG"), output="🎨 émoji.png"),
    Case("link to good.jpg", "a symbolic link to a good file", _symlink("good.jpg"),
         output="link to good.jpg"),
    Case("album.jpg", "a folder named like an image: searched like any folder (read_image: "
         "refused)", _folder_with_image, InvalidImageError, "is a folder",
         output="album.jpg/inside.png"),
    Case(".elsewhere/inside.png", "the target of the folder link (hidden: found only through it)",
         _saver(_gray, "PNG")),
    Case("linked folder", "a symbolic link to a folder: followed once (read_image: refused)",
         _symlink(".elsewhere"), InvalidImageError, "is a folder",
         output="linked folder/inside.png"),
    Case(".hidden.jpg", "a hidden file (skipped by folder runs)", _writer(lambda: b"hidden"),
         InvalidImageError, "not an image"),
    Case("readme.txt", "a file without an image extension (skipped by folder runs)",
         _writer(lambda: b"scanned in 2003\n"), InvalidImageError, "not an image"),
) + (
    (Case(_non_utf8_name(), "undecodable bytes in the name (Latin-1 on a UTF-8 system)",
          _saver(_gray, "PNG"), output=_non_utf8_name()),)
    if sys.platform.startswith("linux")
    else ()
)  # fmt: skip

#: names a folder run skips without a word: hidden entries and other file types
SKIPPED_BY_FOLDER_RUNS = frozenset({".elsewhere/inside.png", ".hidden.jpg", "readme.txt"})


def build_corpus(folder: Path) -> tuple[Case, ...]:
    """Write every case of :data:`CASES` into ``folder`` (created); returns the cases."""
    for case in CASES:
        path = folder / case.name
        path.parent.mkdir(parents=True, exist_ok=True)
        case.make(path)
    return CASES


def failing(cases: tuple[Case, ...] = CASES) -> list[Case]:
    """The cases a folder run must report as failed."""
    return [
        c
        for c in cases
        if c.error is not None and c.output is None and c.name not in SKIPPED_BY_FOLDER_RUNS
    ]


def succeeding(cases: tuple[Case, ...] = CASES) -> list[Case]:
    """The cases a folder run must colorize."""
    return [c for c in cases if c.output is not None]


# --------------------------------------------------------------------------- checking runs

#: text that only a Python traceback prints
TRACEBACK = re.compile(r"Traceback|^\s+File \"", re.MULTILINE)


def model_options(weights: Path) -> list[str]:
    """CLI options for the compact model on random ``weights``, at the smallest useful size."""
    return ["--model", "compact", "--weights", str(weights), "--size", "64"]


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry below ``folder``: a file's sha256, a link's target, or "folder"."""
    found = {}
    for directory, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(directory, name)
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[key] = "link to " + os.readlink(path)
            elif path.is_dir():
                found[key] = "folder"
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
