"""Filling: only masked pixels change (bit for bit), in bands as on the whole image, both methods."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidInputError
from masterpiece.restoration.damage import DamageConfig, draw_damage
from masterpiece.restoration.fill import FILL_CHOICES, fill_damage

from .conftest import photo_lightness


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
