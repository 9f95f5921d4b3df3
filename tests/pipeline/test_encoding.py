"""Tests for masterpiece.pipeline.encoding: exact pixels, metadata, sizes, fallbacks, copies,
atomic writes and their errors."""

from __future__ import annotations

import errno
import functools
import logging
import os
import zlib
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from masterpiece import atomic
from masterpiece.errors import ConfigError, InvalidInputError, OutputError, OutputExistsError
from masterpiece.pipeline import encoding as encoders
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.encoding import encode_image, write_image

from .sample_images import LEVEL_16, gradient

CAMERA = "Masterpiece test camera"
TAKEN = "1936:03:01 10:00:00"


def _pixels(dtype: type, channels: int, height: int = 37, width: int = 53) -> np.ndarray:
    """Every channel different, the full range of ``dtype`` reached: channel swaps, byte order
    and truncation to 8 bits all show."""
    rng = np.random.default_rng(channels)
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top + 1, (height, width, channels), dtype=dtype)
    pixels[0, 0] = top
    return pixels


def _photo(height: int = 480, width: int = 640, noise: float = 3.0) -> np.ndarray:
    """A smooth colour scene with sensor-like noise (sigma 3): photographic, not flat."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.stack(
        [128 + 90 * np.sin(x / 90 + y / 160), 128 + 80 * np.cos(x / 130 - y / 70),
         128 + 70 * np.sin((x + y) / 200)], axis=-1,
    )  # fmt: skip
    noise = np.random.default_rng(0).normal(0.0, noise, scene.shape)
    return np.clip(np.rint(scene + noise), 0, 255).astype(np.uint8)


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = CAMERA
    exif.get_ifd(0x8769)[0x9003] = TAKEN  # DateTimeOriginal, in the EXIF sub-IFD
    return exif.tobytes()


@functools.cache
def _icc() -> bytes:
    """A real profile that is not the sRGB one the reader would assume anyway. Made once: its
    header holds the time it was created, so two calls a second apart give different bytes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()


def _write(path: Path, pixels: np.ndarray, **options: object) -> Path:
    alpha = pixels[..., 3] if pixels.shape[2] == 4 else None
    depth = 16 if pixels.dtype == np.uint16 else 8
    return write_image(path, pixels[..., :3], alpha=alpha, bit_depth=depth, **options)


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [3, 4])
def test_round_trip_is_pixel_exact_in_opencv_and_pillow(
    tmp_path: Path, extension: str, dtype: type, channels: int
) -> None:
    pixels = _pixels(dtype, channels)
    out = _write(tmp_path / f"out{extension}", pixels)
    decoded = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    order = [2, 1, 0, 3][:channels]
    assert decoded.dtype == dtype and decoded.shape == pixels.shape
    if not (extension == ".tif" and dtype == np.uint8 and channels == 4):
        # (OpenCV reads 8-bit RGBA TIFF through libtiff's RGBA interface, which premultiplies
        # unassociated alpha: it changes Pillow's own files the same way)
        assert np.array_equal(decoded[..., order], pixels)
    with Image.open(out) as image:
        image.load()  # Pillow decodes it too (16-bit colour reduced to 8 bits, as it does)
        assert image.size == (pixels.shape[1], pixels.shape[0])
        assert image.mode == ("RGBA" if channels == 4 else "RGB")
        if dtype == np.uint8:
            assert np.array_equal(np.asarray(image), pixels)
    loaded = read_image(out)
    assert loaded.bit_depth == (16 if dtype == np.uint16 else 8)
    assert np.array_equal(loaded.pixels, pixels[..., :3])


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_exif_and_icc_profile_are_kept(tmp_path: Path, extension: str, dtype: type) -> None:
    out = _write(tmp_path / f"meta{extension}", _pixels(dtype, 3), exif=_exif(), icc_profile=_icc())
    with Image.open(out) as image:
        assert image.info["icc_profile"] == _icc()
        exif = image.getexif()
        assert exif[0x010F] == CAMERA
        assert exif.get_ifd(0x8769)[0x9003] == TAKEN
    assert read_image(out).icc_profile == _icc()


def _pillow_default(pixels: np.ndarray, fmt: str) -> int:
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return len(buffer.getvalue())


@pytest.mark.parametrize("noise", [0.5, 3.0])
def test_png_size_within_15_percent_of_pillow_default_on_a_photo(noise: float) -> None:
    photo = _photo(noise=noise)
    assert len(encode_image(photo, "png")) <= 1.15 * _pillow_default(photo, "PNG")


def test_16bit_png_size_within_15_percent_of_zlib_level_6() -> None:
    """Pillow writes no 16-bit colour PNG; its default is zlib level 6, here through OpenCV."""
    photo = _photo().astype(np.uint16) * 257 + np.random.default_rng(1).integers(
        0, 64, (480, 640, 3), dtype=np.uint16
    )
    level_6 = cv2.imencode(".png", photo[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 6])[1]
    assert len(encode_image(photo, "png", bit_depth=16)) <= 1.15 * len(level_6)


def test_tiff_is_no_larger_than_pillow_default() -> None:
    """Pillow's default TIFF is uncompressed: 8 bits compress well below it, 16 bits match it."""
    photo = _photo()
    assert len(encode_image(photo, "tiff")) <= 0.8 * _pillow_default(photo, "TIFF")
    deep = encode_image(photo.astype(np.uint16) * 257, "tiff", bit_depth=16)
    assert len(deep) <= 1.15 * photo.nbytes * 2


def _refuse(image: str, pixels: np.ndarray, params: list[int]) -> tuple[bool, None]:
    return False, None


def test_png_falls_back_to_pillow_when_opencv_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders.cv2, "imencode", _refuse)
    pixels = _pixels(np.uint8, 4)
    data = encode_image(pixels[..., :3], "png", alpha=pixels[..., 3], icc_profile=_icc())
    with Image.open(BytesIO(data)) as image:
        assert np.array_equal(np.asarray(image), pixels) and image.info["icc_profile"] == _icc()
    with pytest.raises(OutputError, match="16-bit PNG"):
        encode_image(_pixels(np.uint16, 3), "png", bit_depth=16)


def test_16bit_tiff_past_the_format_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "_TIFF_MAX_BYTES", 1000)
    with pytest.raises(OutputError, match="4 GiB"):
        encode_image(_pixels(np.uint16, 3), "tiff", bit_depth=16)


def test_png_chunks_have_valid_crcs() -> None:
    data = encode_image(_pixels(np.uint8, 3), "png", exif=_exif(), icc_profile=_icc())
    position, kinds = 8, []
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        body = data[position + 4 : position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length : position + 12 + length], "big")
        assert zlib.crc32(body) == crc
        kinds.append(body[:4])
        position += 12 + length
    assert kinds[:3] == [b"IHDR", b"iCCP", b"eXIf"] and kinds[-1] == b"IEND"


# --------------------------------------------------------------------------- JPEG (OpenCV, no copies)


def test_jpeg_keeps_exif_and_a_multi_segment_icc_profile(tmp_path: Path) -> None:
    big_icc = _icc() + bytes(range(256)) * 400  # over 64 KiB: two APP2 segments
    out = write_image(tmp_path / "meta.jpg", _photo(), exif=_exif(), icc_profile=big_icc)
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.info["icc_profile"] == big_icc
        assert image.getexif()[0x010F] == CAMERA and image.getexif().get_ifd(0x8769)[0x9003] == TAKEN
        assert image.info.get("jfif") is not None  # the JFIF header stays first
    assert read_image(out).icc_profile == big_icc


def test_jpeg_matches_pillow_in_quality_and_size() -> None:
    photo = _photo()
    ours = encode_image(photo, "JPEG", quality=95)
    buffer = BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=95)
    theirs = buffer.getvalue()
    assert abs(len(ours) - len(theirs)) / len(theirs) < 0.15
    decoded = [np.asarray(Image.open(BytesIO(data)), np.float32) for data in (ours, theirs)]
    assert np.abs(decoded[0] - photo).mean() < 1.5 * np.abs(decoded[1] - photo).mean() + 0.1
    assert np.abs(decoded[0] - decoded[1]).mean() < 1.0  # same colours: no red/blue swap


def test_jpeg_leaves_the_pixels_as_given() -> None:
    photo = _photo(64, 96)
    given = photo.copy()
    encoders.encode_jpeg(photo, None, None, 90)  # swapped to BGR in place, and back
    assert np.array_equal(photo, given)
    frozen = given.copy()
    frozen.flags.writeable = False
    assert encoders.encode_jpeg(frozen, None, None, 90) == encoders.encode_jpeg(given.copy(), None, None, 90)
    strided = np.ascontiguousarray(np.repeat(given, 2, axis=1))[:, ::2]
    assert encoders.encode_jpeg(strided, None, None, 90) == encoders.encode_jpeg(given.copy(), None, None, 90)


def test_jpeg_red_is_red() -> None:
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220
    decoded = np.asarray(Image.open(BytesIO(encode_image(red, "JPEG"))), np.int16)
    assert abs(decoded[..., 0].mean() - 220) < 3 and decoded[..., 2].mean() < 5


def test_16bit_tiff_strips_are_views_of_the_pixels() -> None:
    pixels = _pixels(np.uint16, 3, 800, 500)  # 2.4 MB: three 1 MiB strips
    header, *strips = encoders.tiff_parts(pixels, None, None)
    assert isinstance(header, bytes) and len(strips) > 1
    assert all(isinstance(strip, memoryview) for strip in strips)
    assert np.shares_memory(np.frombuffer(strips[0], np.uint16), pixels)  # not copied before writing
    assert b"".join((header, *strips)) == encoders.encode_tiff(pixels, None, None)


def test_a_file_written_in_pieces_is_whole(tmp_path: Path) -> None:
    from masterpiece.atomic import write_bytes_atomically

    target = tmp_path / "pieces.bin"
    write_bytes_atomically(target, [b"head", memoryview(np.arange(6, dtype=np.uint16)), b"tail"])
    assert target.read_bytes() == b"head" + np.arange(6, dtype=np.uint16).tobytes() + b"tail"
    assert [p.name for p in tmp_path.iterdir()] == ["pieces.bin"]


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("extension", "tolerance"),
    [
        (".png", 0),
        (".tif", 0),
        (".tiff", 0),
        (".bmp", 0),
        (".jpg", 20),
        (".jpeg", 20),
        (".webp", 20),
    ],
)
def test_round_trip_every_format(tmp_path: Path, extension: str, tolerance: int) -> None:
    """Lossless formats give the pixels back exactly; lossy ones within a few levels on average."""
    pixels = gradient()
    path = write_image(tmp_path / f"out{extension}", pixels.astype(np.float32) / 255)
    loaded = read_image(path)
    assert loaded.rgb.dtype == np.float32 and loaded.rgb.shape == (12, 16, 3)
    assert loaded.rgb.flags.c_contiguous
    assert loaded.size == (16, 12)
    error = np.abs(loaded.rgb * 255 - pixels)
    assert error.max() <= tolerance + 1e-3 and error.mean() <= tolerance / 5 + 1e-3
    assert loaded.bit_depth == 8 and not loaded.is_grayscale and loaded.alpha is None
    assert loaded.source_name == str(path) and loaded.n_frames == 1


@pytest.mark.parametrize("extension", [".png", ".tif", ".webp"])
def test_alpha_round_trip(tmp_path: Path, extension: str) -> None:
    alpha = np.tile(np.arange(16, dtype=np.uint8) * 17, (12, 1))
    write_image(tmp_path / f"a{extension}", gradient(), alpha=alpha, quality=100)
    loaded = read_image(tmp_path / f"a{extension}")
    assert loaded.alpha is not None and loaded.alpha.dtype == np.uint8
    assert np.abs(loaded.alpha.astype(int) - alpha).max() <= (0 if extension != ".webp" else 2)


@pytest.mark.parametrize("extension", [".jpg", ".bmp"])
def test_alpha_dropped_where_unsupported(
    tmp_path: Path, extension: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        write_image(tmp_path / f"a{extension}", gradient(), alpha=np.zeros((12, 16), np.uint8))
    assert "alpha channel is dropped" in caplog.text
    assert read_image(tmp_path / f"a{extension}").alpha is None


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16bit_output_reads_back_exactly(tmp_path: Path, extension: str, with_alpha: bool) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((9, 11, 3), dtype=np.float32)
    alpha = rng.random((9, 11), dtype=np.float32) if with_alpha else None
    write_image(tmp_path / f"deep{extension}", rgb, alpha=alpha, bit_depth=16)
    loaded = read_image(tmp_path / f"deep{extension}")
    assert loaded.bit_depth == 16
    assert np.abs(loaded.rgb - rgb).max() <= LEVEL_16
    if with_alpha:
        assert loaded.alpha is not None and loaded.alpha.dtype == np.uint16
        assert np.abs(loaded.alpha / 65535 - alpha).max() <= LEVEL_16
    # Read independently: channel order is RGB, not OpenCV's BGR.
    independent = cv2.imread(str(tmp_path / f"deep{extension}"), cv2.IMREAD_UNCHANGED)
    assert independent.dtype == np.uint16
    assert np.abs(independent[..., 2] / 65535 - rgb[..., 0]).max() <= LEVEL_16


def test_16bit_request_for_8bit_format_writes_8_bits(tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", gradient(), bit_depth=16)
    assert read_image(tmp_path / "a.jpg").bit_depth == 8



# --------------------------------------------------------------------------- writing


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\.png") as caught:
        write_image(tmp_path / "out.xyz", gradient())
    assert "out.xyz" in str(caught.value)
    with pytest.raises(InvalidInputError, match="no extension"):
        write_image(tmp_path / "out", gradient())


def test_never_overwrites_without_permission(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_image(target, gradient())
    assert target.read_bytes() == b"precious"
    write_image(target, gradient(), overwrite=True)
    assert read_image(target).size == (16, 12)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_creates_parent_folders(tmp_path: Path) -> None:
    target = write_image(tmp_path / "a" / "b" / "out.jpg", gradient())
    assert target.is_file() and target == tmp_path / "a" / "b" / "out.jpg"


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_disk_full_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, failing, disk_full)
    with pytest.raises(OutputError, match="disk is full") as caught:
        write_image(tmp_path / "out.png", gradient())
    monkeypatch.undo()
    assert "out.png" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refuse(path: str, *args: object) -> int:
        if str(path).endswith(".part"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *args)

    monkeypatch.setattr(atomic.os, "open", refuse)
    with pytest.raises(OutputError, match="permission denied") as caught:
        write_image(tmp_path / "out.png", gradient())
    assert str(tmp_path / "out.png") in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder_for_real(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="permission denied"):
        write_image(folder / "out.png", gradient())


def test_target_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.png").mkdir()
    with pytest.raises(OutputError, match="folder"):
        write_image(tmp_path / "out.png", gradient(), overwrite=True)


def test_jpeg_quality_and_encode_image() -> None:
    rng = np.random.default_rng(2)
    noisy = rng.random((32, 32, 3), dtype=np.float32)
    small, large = encode_image(noisy, "jpg", quality=20), encode_image(noisy, ".JPEG", quality=95)
    assert len(small) < len(large)
    assert read_image(large).format == "JPEG"
    assert read_image(encode_image(noisy, "png", bit_depth=16)).bit_depth == 16


@pytest.mark.parametrize(
    ("arguments", "error"),
    [({"bit_depth": 12}, ConfigError), ({"quality": 0}, ConfigError),
     ({"quality": 101}, ConfigError),
     ({"alpha": np.zeros((3, 3))}, InvalidInputError)],
)  # fmt: skip
def test_encode_argument_errors(arguments: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_image(gradient(), "PNG", **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rgb", [np.zeros((4, 4)), np.zeros((4, 4, 3), np.int64), np.full((4, 4, 3), np.nan)]
)
def test_bad_pixels_to_write(rgb: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        encode_image(rgb, "PNG")


def test_float_values_are_clipped_and_rounded() -> None:
    rgb = np.array([[[-0.5, 0.5, 1.5]]], np.float32)
    loaded = read_image(encode_image(rgb, "PNG"))
    np.testing.assert_allclose(loaded.rgb[0, 0] * 255, [0, 128, 255], atol=1e-3)
