"""PNG, TIFF and JPEG output (pipeline/encoders.py): exact pixels, metadata, sizes, fallbacks, copies."""

from __future__ import annotations

import zlib
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from masterpiece.errors import OutputError
from masterpiece.pipeline import encoders
from masterpiece.pipeline.io import encode_image, read_image, write_image

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


def _icc() -> bytes:
    """A real profile that is not the sRGB one the reader would assume anyway."""
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
    from masterpiece.pipeline.io import write_bytes_atomically

    target = tmp_path / "pieces.bin"
    write_bytes_atomically(target, [b"head", memoryview(np.arange(6, dtype=np.uint16)), b"tail"])
    assert target.read_bytes() == b"head" + np.arange(6, dtype=np.uint16).tobytes() + b"tail"
    assert [p.name for p in tmp_path.iterdir()] == ["pieces.bin"]
