"""Full-resolution work in bands of rows: the same numbers as the whole image at once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from masterpiece.color.lab import rgb_to_lightness
from masterpiece.pipeline import bands, image
from masterpiece.pipeline.bands import (
    band_lightness,
    network_lightness,
    resize_for_network,
    row_bands,
    upsample_ab,
    upsample_ab_rows,
    upsample_ab_width,
)
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.image import Colorizer


def test_row_bands_cover_every_row_once() -> None:
    covered = [row for rows in row_bands(103, 10, band_pixels=200) for row in range(rows.start, rows.stop)]
    assert covered == list(range(103))
    assert list(row_bands(5, 10_000, band_pixels=10)) == [slice(i, i + 1) for i in range(5)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_lookup_table_equals_the_rgb_path(dtype: type) -> None:
    values = np.random.default_rng(0).integers(0, np.iinfo(dtype).max + 1, (7, 9)).astype(dtype)
    rgb = np.repeat(values[..., None], 3, axis=2).astype(np.float32) * np.float32(1 / np.iinfo(dtype).max)
    expected = rgb_to_lightness(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()
    # equal up to float32 rounding (the RGB path's matrix product sums in its own order)
    np.testing.assert_allclose(band_lightness(values), expected, atol=1e-4, rtol=0)
    equalised = band_lightness(np.repeat(values[..., None], 3, axis=2), equalise=True)
    np.testing.assert_allclose(equalised, expected, atol=1e-4, rtol=0)


def test_network_lightness_in_bands_equals_whole(gray_photo: np.ndarray) -> None:
    whole = network_lightness(gray_photo, 32)
    banded = network_lightness(gray_photo, 32, band_pixels=128 * 7)
    assert whole.shape == (1, 1, 32, 32) and whole.dtype == np.float32
    np.testing.assert_allclose(banded, whole, atol=1e-3, rtol=0)


def test_network_lightness_is_the_official_demos_input() -> None:
    """PIL bicubic resize of the RGB image to the network size, then its L (REFERENCE.md section 4)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (300, 410, 3), dtype=np.uint8), (0, 0), 2)
    official = np.asarray(Image.fromarray(rgb).resize((64, 64), Image.BICUBIC), np.float32) / 255
    expected = rgb_to_lightness(torch.from_numpy(official).permute(2, 0, 1)[None]).numpy()
    ours = network_lightness(rgb, 64)
    difference = np.abs(ours - expected)
    assert float(difference.mean()) < 0.05 and float(difference.max()) < 1.0  # 8-bit rounding flips, in L units
    gray = rgb[..., 1]
    official_gray = np.asarray(Image.fromarray(gray).resize((64, 64), Image.BICUBIC), np.float32) / 255
    expected_gray = rgb_to_lightness(torch.from_numpy(np.repeat(official_gray[None], 3, axis=0))[None]).numpy()
    assert float(np.abs(network_lightness(gray, 64) - expected_gray).mean()) < 0.05


@pytest.mark.parametrize(("shape", "size"), [((300, 410), 64), ((50, 70), 64), ((64, 64), 64)])
def test_resize_for_network_equals_torch_antialiased_bicubic(shape: tuple[int, int], size: int) -> None:
    planes = np.random.default_rng(1).random((3, *shape), dtype=np.float32)
    expected = F.interpolate(torch.from_numpy(planes)[None], size=(size, size), mode="bicubic",
                             align_corners=False, antialias=True)[0].numpy()
    np.testing.assert_allclose(resize_for_network(planes, (size, size)), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("height", [3, 37, 96, 256])  # 3: fewer rows than the grid, rows first
def test_ab_rows_equal_interpolate(height: int) -> None:
    ab = torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(0)) * 50
    expected = F.interpolate(ab, size=(height, 40), mode="bilinear", align_corners=False).numpy()
    wide = upsample_ab_width(ab.numpy(), 40)
    np.testing.assert_allclose(wide, F.interpolate(ab, size=(16, 40), mode="bilinear", align_corners=False).numpy(),
                               atol=1e-4, rtol=1e-5)
    for rows in row_bands(height, 40, band_pixels=40 * 11):
        np.testing.assert_allclose(upsample_ab_rows(wide, rows, height), expected[:, :, rows], atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(upsample_ab(ab.numpy(), (height, 40)), expected, atol=1e-4, rtol=1e-5)


def test_bands_on_several_threads_equal_one_thread(
    compact_weights: Path, gray_photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    colorizer = Colorizer("compact", weights=compact_weights, size=64, precision="bf16")
    monkeypatch.setattr(bands, "BAND_PIXELS", 128 * 7)  # 14 bands
    monkeypatch.setattr(image, "default_threads", lambda: 1)
    one = colorizer.colorize_pixels(gray_photo, dtype=np.uint8)
    monkeypatch.setattr(image, "default_threads", lambda: 3)
    several = colorizer.colorize_pixels(gray_photo, dtype=np.uint8)
    np.testing.assert_array_equal(several, one)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_colorizer_in_bands_equals_whole(
    compact_weights: Path, gray_photo: np.ndarray, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    colorizer = Colorizer("compact", weights=compact_weights, size=64, precision=precision)
    whole = colorizer.colorize_pixels(gray_photo)
    monkeypatch.setattr(bands, "BAND_PIXELS", 128 * 10)  # ten rows per band
    banded = colorizer.colorize_pixels(gray_photo)
    assert np.abs(banded - whole).max() < 2e-3


def test_loaded_images_keep_their_pixels_and_colorize_to_integers(
    compact_weights: Path, gray_photo: np.ndarray, tmp_path: Path
) -> None:
    from PIL import Image

    Image.fromarray(gray_photo).save(tmp_path / "gray.png")
    loaded = read_image(tmp_path / "gray.png")
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == gray_photo.shape
    assert "rgb" not in vars(loaded)  # float32 is made only when asked for
    colorizer = Colorizer("compact", weights=compact_weights, size=64, precision="fp32")
    as_float = colorizer.colorize_loaded(loaded)
    as_bytes = colorizer.colorize_loaded(loaded, dtype=np.uint8)
    assert "rgb" not in vars(loaded)
    assert as_bytes.dtype == np.uint8
    assert np.array_equal(as_bytes, np.rint(np.clip(as_float, 0, 1) * 255).astype(np.uint8))


def test_arrays_passed_in_are_copied_not_aliased(gray_photo: np.ndarray) -> None:
    source = gray_photo.copy()
    loaded = read_image(source)
    source[...] = 0
    assert np.array_equal(loaded.pixels, gray_photo) and loaded.rgb.max() > 0


@pytest.mark.parametrize("channels", [(), (3,)])
def test_a_tall_thin_image_is_resized_height_first_to_the_same_numbers(channels: tuple[int, ...]) -> None:
    # Pillow resizes the width first: a 1-pixel-wide strip became a 256-wide copy of itself
    # (1 x 4,000,000 pixels took 4 GB and a minute); shrinking the height first is the same map
    rng = np.random.default_rng(1)
    strip = cv2.GaussianBlur(rng.integers(0, 256, (3000, 9, *channels), dtype=np.uint8), (0, 0), 2)
    planes = strip.astype(np.float32).reshape(3000, 9, -1).transpose(2, 0, 1) / 255
    one_pass = resize_for_network(planes, (64, 64))  # what the whole image at once gives
    expected = network_lightness(np.ascontiguousarray(strip[:, :, ...]), 64)
    official = np.clip(one_pass, 0, 1)
    official = np.round(official * 255) / 255
    light = rgb_to_lightness(torch.from_numpy(np.repeat(official, 3 // official.shape[0], axis=0))[None]).numpy()
    np.testing.assert_allclose(expected, light, atol=0.02, rtol=0)


def test_a_one_pixel_strip_costs_what_its_pixels_do(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = bands.resize_for_network

    def recording(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        calls.append((image.shape[-2:], size))
        return real(image, size)

    monkeypatch.setattr(bands, "resize_for_network", recording)
    network_lightness(np.zeros((200_000, 1), np.uint8), 256)
    # never a resize that makes the width grow while the height is still the strip's
    assert all(not (size[1] > shape[1] and shape[0] > size[0]) for shape, size in calls), calls


def test_a_wide_strip_is_upsampled_rows_first(
    compact_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # width first, a 1 x 50,000,000 strip needed the grid's 64 rows at its full width (25 GB)
    made = []
    real = bands.upsample_ab_width

    def recording(ab: np.ndarray, width: int) -> np.ndarray:
        made.append(ab.shape[-2] * width)
        return real(ab, width)

    monkeypatch.setattr(bands, "upsample_ab_width", recording)
    monkeypatch.setattr(image, "upsample_ab_width", recording)
    colorizer = Colorizer("compact", weights=compact_weights, size=64, precision="fp32")
    strip = np.random.default_rng(2).integers(0, 256, (3, 20_000), dtype=np.uint8)
    whole = colorizer.colorize_pixels(strip)
    assert made and max(made) <= 3 * 20_000  # never more rows at the full width than the strip's
    monkeypatch.setattr(bands, "BAND_PIXELS", 20_000)  # one row per band
    made.clear()
    banded = colorizer.colorize_pixels(strip)
    assert made and max(made) <= 20_000
    assert np.abs(banded - whole).max() < 2e-3
