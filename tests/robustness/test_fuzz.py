"""Issue 7, fuzzing: property-based tests of the colorization entry points.

Mutated image files (bytes), arrays of odd shapes and dtypes, and random colour hints go
through ``Colorizer.colorize``; only :class:`~masterpiece.errors.MasterpieceError` may come out,
and what comes back has the documented kind and shape. The examples are bounded (100 each by
default; ``MASTERPIECE_FUZZ_EXAMPLES`` raises it for a longer local run) so that the module
stays under about 30 seconds. Inputs that once broke something are kept at the end as
regression tests generated here.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from io import BytesIO

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from masterpiece.errors import InvalidHintError, InvalidImageError, MasterpieceError
from masterpiece.pipeline.image import ColorHint, Colorizer

from .corpus import encoded, gray_pixels

FUZZ = settings(
    max_examples=int(os.environ.get("MASTERPIECE_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_PIXELS = 1 << 16  # mutated headers may claim huge sizes: keep decoding small


@pytest.fixture(scope="module")
def colorizer(compact_weights) -> Colorizer:
    # bf16: the fast colour path (OpenCV, gamut table) is the one users get by default
    return Colorizer("compact", weights=compact_weights, size=32, max_pixels=MAX_PIXELS, precision="bf16")


def _seed_files() -> list[bytes]:
    """Small valid files of every readable kind, for the mutations to start from."""
    gray = Image.fromarray(gray_pixels(12, 16))
    frames = [Image.fromarray(gray_pixels(12, 16, seed=s)) for s in range(2)]
    sixteen = np.repeat(gray_pixels(12, 16)[..., None].astype(np.uint16) * 257, 3, axis=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    return [
        encoded(gray, "PNG"),
        encoded(gray, "JPEG", exif=exif.tobytes()),
        encoded(gray.convert("P"), "PNG", transparency=0),
        encoded(gray.convert("1"), "TIFF"),
        encoded(gray.convert("CMYK"), "JPEG"),
        encoded(gray, "WEBP"),
        encoded(gray, "BMP"),
        encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        cv2.imencode(".png", sixteen)[1].tobytes(),
    ]


SEEDS = _seed_files()


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A seed file with up to four runs of bytes spliced out for random runs of other lengths
    (so bytes are replaced, inserted and deleted), maybe truncated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 16)))
        data[start:end] = draw(st.binary(max_size=16))
    return bytes(data[: draw(st.integers(1, max(1, len(data))))])


@FUZZ
@given(data=mutated_files())
def test_mutated_files(colorizer: Colorizer, data: bytes) -> None:
    try:
        result = colorizer.colorize(data)
    except MasterpieceError:
        return
    assert isinstance(result, bytes)
    with Image.open(BytesIO(result)) as image:
        image.load()


ODD_DTYPES = st.sampled_from(
    ["uint8", "uint16", ">u2", "float16", "float32", "float64", "int8", "int32", "uint32",
     "bool", "complex64"]
)  # fmt: skip


@FUZZ
@given(
    array=hnp.arrays(
        dtype=ODD_DTYPES,
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
        elements=None,
        fill=st.nothing(),
    )
)
def test_odd_arrays(colorizer: Colorizer, array: np.ndarray) -> None:
    original = array.copy()
    try:
        result = colorizer.colorize(array)
    except MasterpieceError:
        pass
    else:
        assert isinstance(result, np.ndarray) and result.dtype == array.dtype
        assert result.shape[:2] == array.shape[:2] and result.shape[2] in (3, 4)
    np.testing.assert_array_equal(array, original)  # the input is never modified


NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 15),
    st.just("3"),
    st.none(),
)
COLOURS = st.one_of(
    st.text(max_size=8),
    st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True),
    st.lists(NUMBERS, max_size=4).map(tuple),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    NUMBERS,
)


def _hint(x: object, y: object, color: object, size: object) -> ColorHint:
    return ColorHint(x=x, y=y, color=color, size=size)  # type: ignore[arg-type]


HINTS = st.builds(_hint, NUMBERS, NUMBERS, COLOURS, NUMBERS)


@FUZZ
@given(hints=st.lists(st.one_of(HINTS, NUMBERS), max_size=4))
def test_random_hints(colorizer: Colorizer, hints: list) -> None:
    image = gray_pixels(12, 16)
    try:
        result = colorizer.colorize(image, hints)
    except InvalidHintError:
        return
    assert result.shape == (12, 16, 3) and result.dtype == np.uint8
    assert all(isinstance(h, ColorHint) and math.isfinite(float(h.x)) for h in hints)


# --------------------------------------------------------------------------- regressions
# Inputs the fuzz tests above found, kept as generated regression cases.

#: hints the strategies above generate that escaped as TypeError, ValueError, OverflowError or
#: AttributeError before hint validation was tightened
HINT_REGRESSIONS = {
    "size NaN": _hint(1, 1, "#ffffff", float("nan")),
    "size infinite": _hint(1, 1, "#ffffff", float("inf")),
    "size None": _hint(1, 1, "#ffffff", None),
    "position a string": _hint("1", 1, "#ffffff", 3),
    "colour a number": _hint(1, 1, 5, 3),
    "colour of strings": _hint(1, 1, ("a", "b", "c"), 3),
    "colour beyond float": _hint(1, 1, (10**400, 0, 0), 3),
    "not a ColorHint": (1, 1, "#ffffff"),
}


@pytest.mark.parametrize("hint", HINT_REGRESSIONS.values(), ids=HINT_REGRESSIONS.keys())
def test_hints_that_escaped_as_python_errors(colorizer: Colorizer, hint: object) -> None:
    with pytest.raises(InvalidHintError):
        colorizer.colorize(gray_pixels(12, 16), [hint])


@pytest.mark.parametrize("channels", [1, 4])
def test_big_endian_arrays_are_read_and_given_back(colorizer: Colorizer, channels: int) -> None:
    """``>u2`` was refused with "expected uint8, uint16" although it is 16-bit; once read, an
    RGBA one came back as native uint16 (``np.dstack`` drops the byte order)."""
    gray = gray_pixels(12, 16).astype(np.uint16) * 257
    array = np.repeat(gray[..., None], channels, axis=2).astype(">u2")
    result = colorizer.colorize(array)
    assert result.dtype == array.dtype and result.shape == (12, 16, max(3, channels))
    np.testing.assert_array_equal(result, colorizer.colorize(array.astype(np.uint16)))


def test_object_arrays_are_refused(colorizer: Colorizer) -> None:
    with pytest.raises(InvalidImageError, match="expected uint8, uint16 or float"):
        colorizer.colorize(np.array([[1, 2], [3, 4]], dtype=object))


@pytest.mark.parametrize(
    ("data", "fails"),
    [
        # a truncated 1-bit TIFF: Pillow warns "Corrupt EXIF data" on the way to failing
        (encoded(Image.fromarray(gray_pixels(12, 16)).convert("1"), "TIFF")[:80], True),
        # a JPEG whose EXIF claims five entries and holds none
        (encoded(Image.fromarray(gray_pixels(12, 16)), "JPEG",
                 exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00"), False),
    ],
    ids=["truncated TIFF", "corrupt EXIF"],
)  # fmt: skip
def test_pillow_warnings_are_logged_not_printed(
    colorizer: Colorizer, caplog: pytest.LogCaptureFixture, data: bytes, fails: bool
) -> None:
    """Mutated files made Pillow print ``UserWarning`` lines with its source path on stderr."""
    caplog.set_level(logging.DEBUG, logger="masterpiece")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped would fail the test
        if fails:
            with pytest.raises(InvalidImageError, match="truncated or corrupt"):
                colorizer.colorize(data)
        else:
            assert isinstance(colorizer.colorize(data), bytes)
    assert "Corrupt EXIF data" in caplog.text
