"""Tests for masterpiece.pipeline.decoding (and the EXIF and ICC handling of pipeline.metadata):
every image is made here, small, in tmp_path."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import struct
import tracemalloc
import zlib
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageFile, ImageOps

from masterpiece.errors import (
    ConfigError,
    ImageTooLargeError,
    InvalidImageError,
)
from masterpiece.pipeline.decoding import LoadedImage, read_image
from masterpiece.pipeline.encoding import write_image

from .sample_images import LEVEL_8, encode, gradient, png_chunk, save

# --------------------------------------------------------------------------- modes


def _values(mode: str) -> tuple[Image.Image, np.ndarray]:
    """An image in ``mode`` and its expected grayscale value in [0, 1], per pixel."""
    ramp = np.tile(np.arange(16), (6, 1))
    if mode == "1":
        values = (ramp % 2).astype(bool)
        return Image.fromarray(values), values.astype(np.float32)
    if mode in ("L", "LA"):
        values = (ramp * 17).astype(np.uint8)
        image = Image.fromarray(values)
        return (image.convert("LA") if mode == "LA" else image), values / 255
    if mode == "I;16":
        values = (ramp * 4369).astype(np.uint16)
        return Image.fromarray(values), values / 65535
    if mode == "I":
        values = (ramp * 4369).astype(np.int32)
        return Image.fromarray(values), values / 65535
    values = (ramp / 15).astype(np.float32)  # F
    return Image.fromarray(values), values


@pytest.mark.parametrize(
    ("mode", "extension", "bit_depth"),
    [("1", ".png", 8), ("1", ".tif", 8), ("L", ".png", 8), ("L", ".tif", 8), ("LA", ".png", 8),
     ("I;16", ".png", 16), ("I;16", ".tif", 16), ("I", ".tif", 16), ("F", ".tif", 16)],
)  # fmt: skip
def test_grayscale_modes(tmp_path: Path, mode: str, extension: str, bit_depth: int) -> None:
    image, expected = _values(mode)
    loaded = read_image(save(tmp_path, f"g{extension}", image))
    assert loaded.is_grayscale and loaded.bit_depth == bit_depth
    for channel in range(3):
        np.testing.assert_allclose(loaded.rgb[..., channel], expected, atol=1e-6)
    assert (loaded.alpha is not None) == (mode == "LA")


def test_rgba_keeps_alpha(tmp_path: Path) -> None:
    pixels = np.dstack([gradient(), np.full((12, 16), 77, np.uint8)])
    loaded = read_image(save(tmp_path, "a.png", Image.fromarray(pixels)))
    np.testing.assert_array_equal(loaded.alpha, pixels[..., 3])
    np.testing.assert_allclose(loaded.rgb * 255, pixels[..., :3], atol=1e-3)


def test_palette_with_transparency_becomes_alpha(tmp_path: Path) -> None:
    image = Image.fromarray(np.array([[0, 1, 2, 1]], np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    loaded = read_image(save(tmp_path, "p.png", image, transparency=1))
    np.testing.assert_array_equal(loaded.alpha, [[255, 0, 255, 0]])
    np.testing.assert_allclose(loaded.rgb[0, 0], [1, 0, 0])
    np.testing.assert_allclose(loaded.rgb[0, 2], [0, 0, 1])
    assert not loaded.is_grayscale


def test_palette_of_grays_is_grayscale(tmp_path: Path) -> None:
    image = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    image.putpalette([10, 10, 10, 200, 200, 200] + [0] * 762)
    loaded = read_image(save(tmp_path, "p.gif", image))
    assert loaded.is_grayscale and loaded.alpha is None
    np.testing.assert_allclose(loaded.rgb[0, :, 0] * 255, [10, 200], atol=1e-3)


def test_cmyk_jpeg_converted_to_rgb(tmp_path: Path) -> None:
    cmyk = np.zeros((8, 8, 4), np.uint8)
    cmyk[...] = (200, 50, 0, 30)
    loaded = read_image(save(tmp_path, "c.jpg", Image.fromarray(cmyk, mode="CMYK"), quality=100))
    c, m, y, k = (np.array([200, 50, 0, 30]) / 255).tolist()
    expected = [(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)]
    np.testing.assert_allclose(loaded.rgb[4, 4], expected, atol=3 * LEVEL_8)
    assert loaded.format == "JPEG"


def test_16bit_colour_png_and_tiff_read_with_full_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    bgra = rng.integers(0, 65536, (5, 7, 4), dtype=np.uint16)
    for extension in (".png", ".tif"):
        cv2.imwrite(str(tmp_path / f"d{extension}"), bgra)
        loaded = read_image(tmp_path / f"d{extension}")
        assert (
            loaded.bit_depth == 16 and loaded.alpha is not None and loaded.alpha.dtype == np.uint16
        )
        np.testing.assert_array_equal(loaded.alpha, bgra[..., 3])
        np.testing.assert_allclose(loaded.rgb * 65535, bgra[..., 2::-1], atol=0.02)


def test_rgb_that_is_gray_has_equal_channels(tmp_path: Path) -> None:
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (4, 1))
    rgb = np.dstack([gray, gray + 1, gray])  # within one level: JPEG-style noise
    loaded = read_image(save(tmp_path, "g.png", Image.fromarray(rgb)))
    assert loaded.is_grayscale
    np.testing.assert_array_equal(loaded.rgb[..., 0], loaded.rgb[..., 1])
    np.testing.assert_allclose(loaded.rgb[..., 0] * 255, gray + 1 / 3, atol=1e-3)


def test_sepia_is_kept_as_colour(tmp_path: Path) -> None:
    gray = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (4, 1)).astype(np.float32)
    sepia = np.dstack([gray * 1.1 + 20, gray + 10, gray * 0.8]).astype(np.uint8)
    loaded = read_image(save(tmp_path, "s.png", Image.fromarray(sepia)))
    assert not loaded.is_grayscale
    np.testing.assert_allclose(loaded.rgb * 255, sepia, atol=1e-3)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_image_reads_first_frame(tmp_path: Path, fmt: str) -> None:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.new("RGB", (8, 6), colour) for colour in colours]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    loaded = read_image(path)
    assert loaded.n_frames == 3
    np.testing.assert_allclose(loaded.rgb[3, 4] * 255, colours[0], atol=2)


# --------------------------------------------------------------------------- EXIF and ICC


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Masterpiece test camera"
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_exif_transpose(tmp_path: Path, orientation: int) -> None:
    path = save(tmp_path, "o.png", Image.fromarray(gradient()), exif=_exif(orientation))
    loaded = read_image(path)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    np.testing.assert_allclose(loaded.rgb * 255, expected, atol=1e-3)
    kept = Image.Exif()
    kept.load(loaded.exif)
    assert kept[0x0112] == 1 and kept[0x010F] == "Masterpiece test camera"
    assert loaded.exif is not None and loaded.exif.startswith(b"Exif\x00\x00")


@pytest.mark.parametrize(("fmt", "keeps_exif"), [("JPEG", True), ("WEBP", True), ("TIFF", False)])
def test_exif_orientation_in_every_format(fmt: str, keeps_exif: bool) -> None:
    loaded = read_image(encode(Image.fromarray(gradient()), fmt, exif=_exif(6), quality=95))
    assert loaded.size == (12, 16)
    np.testing.assert_allclose(loaded.rgb[0, -1] * 255, gradient()[0, 0], atol=12)
    assert (loaded.exif is not None) == keeps_exif  # TIFF tags are not EXIF to carry over
    if loaded.exif is not None:
        assert loaded.exif.startswith(b"Exif\x00\x00")


def test_exif_preserved_on_jpeg_output(tmp_path: Path) -> None:
    source = save(tmp_path, "in.jpg", Image.fromarray(gradient()), exif=_exif(6), quality=95)
    loaded = read_image(source)
    assert loaded.size == (12, 16)  # rotated by orientation 6
    out = write_image(tmp_path / "out.jpg", loaded.rgb, exif=loaded.exif)
    exif = Image.open(out).getexif()
    assert exif[0x0112] == 1 and exif[0x010F] == "Masterpiece test camera"
    assert Image.open(out).size == (12, 16)


def test_writer_resets_orientation_of_raw_exif(tmp_path: Path) -> None:
    out = write_image(tmp_path / "out.png", gradient(), exif=_exif(8))
    assert Image.open(out).getexif()[0x0112] == 1


def test_16bit_png_output_keeps_exif_and_icc(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = write_image(
        tmp_path / "d.png", gradient(), bit_depth=16, exif=_exif(1), icc_profile=srgb
    )
    loaded = read_image(out)
    assert loaded.bit_depth == 16 and loaded.icc_profile == srgb
    assert Image.open(out).getexif()[0x010F] == "Masterpiece test camera"


def test_corrupt_icc_profile_is_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = save(
        tmp_path, "bad.png", Image.fromarray(gradient()), icc_profile=b"not a profile" * 10
    )
    with caplog.at_level(logging.WARNING):
        loaded = read_image(path)
    assert loaded.icc_profile is None and "corrupt" in caplog.text
    np.testing.assert_allclose(loaded.rgb * 255, gradient(), atol=1e-3)


def _profile_with_red_and_green_swapped() -> bytes:
    """LittleCMS's sRGB profile with the rXYZ and gXYZ tag entries swapped and "sRGB" renamed.

    Pixels tagged with it are sRGB with red and green exchanged, so converting them to sRGB
    must swap the first two channels back.
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack_from(">I", profile, 128)
    entries = {
        struct.unpack_from(">4s", profile, 132 + 12 * i)[0]: 132 + 12 * i for i in range(count)
    }
    red, green = entries[b"rXYZ"], entries[b"gXYZ"]
    profile[red + 4 : red + 12], profile[green + 4 : green + 12] = (
        profile[green + 4 : green + 12],
        profile[red + 4 : red + 12],
    )
    return bytes(profile).replace(b"\x00s\x00R\x00G\x00B", b"\x00x\x00R\x00G\x00B")


def test_non_srgb_profile_converted_to_srgb(tmp_path: Path) -> None:
    pixels = gradient()
    path = save(
        tmp_path,
        "p.png",
        Image.fromarray(pixels),
        icc_profile=_profile_with_red_and_green_swapped(),
    )
    loaded = read_image(path)
    assert loaded.icc_profile is None  # the pixels are sRGB now
    np.testing.assert_allclose(loaded.rgb * 255, pixels[..., [1, 0, 2]], atol=3)


def test_srgb_profile_kept_and_pixels_untouched(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    loaded = read_image(save(tmp_path, "s.png", Image.fromarray(gradient()), icc_profile=srgb))
    assert loaded.icc_profile == srgb
    np.testing.assert_allclose(loaded.rgb * 255, gradient(), atol=1e-3)


def test_failed_colour_conversion_uses_pixels_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    profile = _profile_with_red_and_green_swapped()
    path = save(tmp_path, "p.png", Image.fromarray(gradient()), icc_profile=profile)

    def fail(*args: object, **kwargs: object) -> None:
        raise ImageCms.PyCMSError("simulated failure")

    monkeypatch.setattr(ImageCms, "profileToProfile", fail)
    with caplog.at_level(logging.WARNING):
        loaded = read_image(path)
    assert loaded.icc_profile == profile and "simulated failure" in caplog.text
    np.testing.assert_allclose(loaded.rgb * 255, gradient(), atol=1e-3)


# --------------------------------------------------------------------------- sources


def test_every_kind_of_source(tmp_path: Path) -> None:
    pixels = gradient()
    path = save(tmp_path, "ünï cödé with spaces.png", Image.fromarray(pixels))
    data = path.read_bytes()
    with path.open("rb") as handle:
        from_handle = read_image(handle)
    sources = [str(path), path, data, bytearray(data), BytesIO(data), Image.open(path), pixels]
    for loaded in [read_image(source) for source in sources] + [from_handle]:
        np.testing.assert_allclose(loaded.rgb * 255, pixels, atol=1e-3)
    assert from_handle.source_name == str(path)
    assert read_image(data).source_name is None and read_image(data).format == "PNG"


@pytest.mark.parametrize(
    ("array", "bit_depth", "gray"),
    [(np.full((4, 5), 128, np.uint8), 8, True), (np.full((4, 5, 1), 32896, np.uint16), 16, True),
     (np.full((4, 5, 3), 0.5019608, np.float64), 16, True),
     (np.full((4, 5, 4), 128, np.uint8), 8, True)],
)  # fmt: skip
def test_array_sources(array: np.ndarray, bit_depth: int, gray: bool) -> None:
    before = array.copy()
    loaded = read_image(array)
    np.testing.assert_allclose(loaded.rgb, 128 / 255, atol=1e-6)
    assert loaded.bit_depth == bit_depth and loaded.is_grayscale == gray
    assert loaded.rgb.dtype == np.float32 and not np.shares_memory(loaded.rgb, array)
    if loaded.alpha is not None:
        assert not np.shares_memory(loaded.alpha, array)
    np.testing.assert_array_equal(array, before)


@pytest.mark.parametrize(
    "array",
    [np.full((4, 5, 3), 255.0), np.full((4, 5), np.nan, np.float32), np.zeros((4, 5), np.int32),
     np.zeros((4, 5, 2), np.uint8), np.zeros((0, 5), np.uint8), np.zeros((2, 4, 5, 3), np.uint8)],
)  # fmt: skip
def test_invalid_arrays(array: np.ndarray) -> None:
    with pytest.raises(InvalidImageError, match="array"):
        read_image(array)


def test_inputs_are_not_modified(tmp_path: Path) -> None:
    path = save(tmp_path, "o.jpg", Image.fromarray(gradient()), exif=_exif(6))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    image = Image.open(path)
    read_image(path)
    read_image(image)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert image.size == (16, 12) and image.getexif()[0x0112] == 6


def test_text_mode_file_object_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello")
    with path.open() as handle, pytest.raises(InvalidImageError, match="binary mode"):
        read_image(handle)


def test_pillow_settings_restored_and_enforced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encode(Image.fromarray(gradient()), "JPEG")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # set by some other library
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 12345)
    with pytest.raises(InvalidImageError, match="truncated or corrupt"):
        read_image(data[: len(data) // 2])
    assert read_image(data).size == (16, 12)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True and Image.MAX_IMAGE_PIXELS == 12345


# --------------------------------------------------------------------------- read errors


def _huge_png_header() -> bytes:
    """A PNG claiming 40000 x 40000 RGB pixels, with a tiny IDAT."""
    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + png_chunk(b"IEND", b"")
    )


def _make_error_case(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case} photo.jpg"
    jpeg = encode(Image.fromarray(gradient(64, 64)), "JPEG")
    png = encode(Image.fromarray(gradient(64, 64)), "PNG")
    if case == "empty":
        path.write_bytes(b"")
    elif case == "truncated-jpeg":
        path.write_bytes(jpeg[: len(jpeg) // 2])
    elif case == "truncated-png":
        path = path.with_suffix(".png")
        path.write_bytes(png[: len(png) // 2])
    elif case == "text":
        path.write_text("<!DOCTYPE html><p>Not found</p>")
    elif case == "directory":
        path.mkdir()
    elif case == "broken-link":
        path.symlink_to(tmp_path / "gone.jpg")
    elif case == "huge":
        path = path.with_suffix(".png")
        path.write_bytes(_huge_png_header())
    return path  # "missing": never created


@pytest.mark.parametrize(
    ("case", "error", "phrase"),
    [("empty", InvalidImageError, "empty"),
     ("truncated-jpeg", InvalidImageError, "truncated or corrupt"),
     ("truncated-png", InvalidImageError, "truncated or corrupt"),
     ("text", InvalidImageError, "<!DOCTYPE"),
     ("directory", InvalidImageError, "folder"), ("missing", InvalidImageError, "no such file"),
     ("broken-link", InvalidImageError, "broken symbolic link"),
     ("huge", ImageTooLargeError, "1,600,000,000 pixels, more than the limit of 200,000,000")],
)  # fmt: skip
def test_read_errors_name_the_file(
    tmp_path: Path, case: str, error: type[Exception], phrase: str
) -> None:
    path = _make_error_case(tmp_path, case)
    with pytest.raises(error) as caught:
        read_image(path)
    assert type(caught.value) is error
    assert str(path) in str(caught.value) and phrase in str(caught.value)


def test_huge_header_fails_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError, match="40000x40000|1,600,000,000"):
        read_image(_huge_png_header())


def test_pillow_decompression_bomb_check_is_translated() -> None:
    """An icon whose directory says 16x16 but whose PNG says 40000x40000: Pillow's check sees it."""
    png = _huge_png_header()
    icon = (
        struct.pack("<HHH", 0, 1, 1)
        + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(png), 22)
        + png
    )
    with pytest.raises(
        ImageTooLargeError, match="1,600,000,000 pixels, more than the limit of 1,000"
    ):
        read_image(icon, max_pixels=1000)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path, "locked.png", Image.fromarray(gradient()))

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InvalidImageError, match="permission denied") as caught:
        read_image(path)
    assert str(path) in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    path = save(tmp_path, "locked.png", Image.fromarray(gradient()))
    path.chmod(0)
    with pytest.raises(InvalidImageError, match="permission denied"):
        read_image(path)


def test_byte_and_pixel_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path, "a.png", Image.fromarray(gradient()))
    size = path.stat().st_size
    with pytest.raises(ImageTooLargeError, match="max_bytes"):
        read_image(path, max_bytes=size - 1)
    with pytest.raises(ImageTooLargeError, match="max_bytes"):
        read_image(BytesIO(path.read_bytes()), max_bytes=size - 1)
    assert read_image(path, max_bytes=size).size == (16, 12)
    with pytest.raises(ImageTooLargeError, match=str(path)):
        read_image(path, max_pixels=16 * 12 - 1)
    assert read_image(path, max_pixels=None).size == (16, 12)
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError):
        read_image(path)
    with pytest.raises(ImageTooLargeError):
        read_image(gradient())
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="MASTERPIECE_MAX_PIXELS"):
        read_image(path)


def test_unsupported_source_type() -> None:
    with pytest.raises(InvalidImageError, match="int"):
        read_image(42)  # type: ignore[arg-type]


def test_eps_is_refused_without_running_ghostscript() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(InvalidImageError, match="not an image"):
        read_image(eps)


def _seed_images() -> list[bytes]:
    """Small valid files of every kind of path through read_image: formats, 16 bits, metadata."""
    image = Image.fromarray(gradient(6, 7))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    deep = cv2.imencode(".png", np.zeros((6, 7, 3), np.uint16))[1].tobytes()
    return [encode(image, "PNG", icc_profile=srgb), encode(image, "JPEG", exif=_exif(6)),
            encode(image.convert("P"), "GIF"), encode(image, "TIFF"), encode(image, "WEBP"),
            encode(image, "BMP"), encode(Image.fromarray(np.zeros((6, 7), np.uint16)), "PNG"),
            deep]  # fmt: skip


_SEEDS = _seed_images()


@st.composite
def _mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(min_size=1, max_size=256), _mutated_images()))
def test_fuzzed_bytes_give_an_image_or_invalid_image_error(data: bytes) -> None:
    try:
        loaded = read_image(data, max_pixels=1_000_000)
    except InvalidImageError:
        return
    assert isinstance(loaded, LoadedImage)
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3


def test_memory_has_no_float64_copies(tmp_path: Path) -> None:
    path = save(tmp_path, "big.png", Image.fromarray(np.tile(gradient(500, 4), (1, 250, 1))))
    tracemalloc.start()
    try:
        loaded = read_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded.rgb.nbytes == 500 * 1000 * 3 * 4
    # the float32 result plus the decoded uint8 copies; a float64 copy alone would be 2x.
    assert peak < 1.7 * loaded.rgb.nbytes
