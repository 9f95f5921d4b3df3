"""Filling: only masked pixels change (bit for bit), in bands as on the whole image, both methods."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidInputError
from masterpiece.restoration.damage import DamageConfig, draw_damage
from masterpiece.restoration.fill import FILL_CHOICES, band_starts, fill_damage, inpaint

from .conftest import photo_lightness

FILL_METHODS_USED = (cv2.INPAINT_TELEA, cv2.INPAINT_NS)


def _psnr(first: np.ndarray, second: np.ndarray) -> float:
    return float(10 * np.log10(100**2 / np.mean((first.astype(np.float64) - second) ** 2)))


@pytest.mark.parametrize("method", FILL_CHOICES)
def test_outside_the_mask_bit_for_bit_and_inside_repaired(photo: np.ndarray, method: str) -> None:
    damaged, mask = draw_damage(photo, seed=4, config=DamageConfig(kinds=("scratch", "dust"), scratches=12,
                                                                  grain_sigma=(0.0, 0.0)))
    filled = fill_damage(damaged, mask, method=method)
    assert filled.dtype == np.float32 and filled.shape == photo.shape
    assert np.array_equal(filled.view(np.uint32)[~mask], damaged.view(np.uint32)[~mask])
    assert _psnr(filled[mask], photo[mask]) > _psnr(damaged[mask], photo[mask]) + 10


def test_bands_agree_with_the_whole_image_for_small_holes() -> None:
    clean = photo_lightness(300, 200, seed=3)
    damaged, mask = draw_damage(clean, seed=8, config=DamageConfig(kinds=("scratch", "dust"), scratches=10))
    whole = fill_damage(damaged, mask, band_rows=10_000, keep_texture=False)
    banded = fill_damage(damaged, mask, band_rows=64, margin_rows=32, keep_texture=False)
    assert np.abs(whole - banded).max() < 0.5
    assert np.array_equal(banded[~mask], damaged[~mask])


def test_band_edges_are_moved_off_the_damage_within_a_quarter_band() -> None:
    mask = np.zeros((1000, 50), bool)
    assert band_starts(mask, 200) == [0, 200, 400, 600, 800]  # nothing damaged: every 200 rows
    assert band_starts(mask, 200, step=4) == [0, 200, 400, 600, 800]
    mask[:, 5] = True  # a scratch from top to bottom: every row crosses one damaged pixel
    mask[152:260, 10:30] = True  # a hole across the edge at 200: the edge goes up to its top
    mask[310:420, 10:30] = True  # one across 352 (200 below 152): up to its top, 310
    assert band_starts(mask, 200) == [0, 152, 310, 510, 710, 910]  # then nothing better than 200 on
    assert band_starts(mask, 200, step=4) == [0, 152, 308, 508, 708, 908]  # on the 4-row grid
    heights = np.diff([*band_starts(mask, 200), 1000])
    assert heights[:-1].min() >= 150 and heights.max() <= 250


@pytest.mark.parametrize("method", FILL_CHOICES)
def test_a_hole_taller_than_the_margin_is_filled_whole_as_on_the_whole_image(method: str) -> None:
    """A torn corner or a large lost region across where a band would end: the band's edge
    moves off it, so it is not filled from two sides of a seam (a review found the seam)."""
    clean = photo_lightness(300, 200, seed=5)
    damaged, mask = clean.copy(), np.zeros(clean.shape, bool)
    rows, columns = np.mgrid[0:300, 0:200]
    mask[(rows - 70) ** 2 + (columns - 100) ** 2 < 30**2] = True  # rows 41-99, across row 64
    damaged[mask] = 97.0
    whole = fill_damage(damaged, mask, method=method, band_rows=10_000, keep_texture=False)
    banded = fill_damage(damaged, mask, method=method, band_rows=96, margin_rows=8, keep_texture=False)
    assert band_starts(mask, 96, 4)[1] == 100  # below the hole, not through it at 96
    assert np.abs(banded - whole).max() < 1e-3


@pytest.mark.parametrize("shape", [(1, 40), (2, 40), (40, 1), (1, 1)])
def test_inpainting_planes_of_one_or_two_rows_or_columns(shape: tuple[int, int]) -> None:
    plane = np.linspace(10, 60, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    mask = np.zeros(shape, np.uint8)
    mask.reshape(-1)[len(mask.reshape(-1)) // 2] = 1
    for algorithm in FILL_METHODS_USED:
        filled = inpaint(plane, mask, 3, algorithm)
        assert filled.shape == shape and np.isfinite(filled).all()
        assert np.array_equal(filled[mask == 0], plane[mask == 0])


def test_empty_mask_returns_an_identical_copy(photo: np.ndarray) -> None:
    filled = fill_damage(photo, np.zeros(photo.shape, bool))
    assert filled is not photo and np.array_equal(filled, photo)


def test_bad_arguments(photo: np.ndarray) -> None:
    with pytest.raises(ConfigError, match="telea"):
        fill_damage(photo, np.zeros(photo.shape, bool), method="median")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="mask has shape"):
        fill_damage(photo, np.zeros((3, 3), bool))
    with pytest.raises(ConfigError):
        fill_damage(photo, np.zeros(photo.shape, bool), radius=0)


def _textured(shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.clip(photo_lightness(*shape) + rng.normal(0, 6, shape), 0, 100).astype(np.float32)


def test_a_stain_keeps_its_texture_and_is_corrected_in_tone() -> None:
    clean = _textured((200, 200))
    config = DamageConfig(kinds=("stain",), stains=40, grain_sigma=(0.0, 0.0), stain_radius=(20.0, 30.0))
    damaged, mask = draw_damage(clean, seed=3, config=config)
    assert mask.sum() > 1000
    painted = fill_damage(damaged, mask, keep_texture=False)
    kept = fill_damage(damaged, mask)
    assert _psnr(kept[mask], clean[mask]) > _psnr(painted[mask], clean[mask]) + 1.5
    assert np.array_equal(kept[~mask], damaged[~mask])


def test_a_flat_missing_region_is_inpainted_not_kept() -> None:
    clean = _textured((200, 200))
    damaged, mask = clean.copy(), np.zeros(clean.shape, bool)
    mask[60:140, 60:140] = True
    damaged[mask] = 95.0  # the picture is gone there
    kept = fill_damage(damaged, mask)
    assert np.array_equal(kept, fill_damage(damaged, mask, keep_texture=False))
    assert np.abs(kept[mask] - 95.0).mean() > 20
