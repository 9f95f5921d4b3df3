"""The synthetic damage generator: seeded, every kind drawn, the mask exactly covers the
change, grain is not damage, shapes, dtypes and ranges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidInputError
from masterpiece.restoration.damage import DAMAGE_KINDS, DamageConfig, draw_damage

from .conftest import photo_lightness

#: dense enough that a 256x320 image holds every kind
DENSE = DamageConfig(scratches=20, hairlines=20, creases=8, dust=120, spots=20, torn_probability=1.0,
                     missing=8, stains=8, cracks=12)


def test_same_seed_same_damage_other_seed_other(photo: np.ndarray) -> None:
    first, first_mask = draw_damage(photo, seed=3, config=DENSE)
    again, again_mask = draw_damage(photo, seed=3, config=DENSE)
    other, other_mask = draw_damage(photo, seed=4, config=DENSE)
    assert np.array_equal(first, again) and np.array_equal(first_mask, again_mask)
    assert not np.array_equal(first_mask, other_mask)
    assert np.abs(first - other).mean() > 0.5


def test_shapes_dtypes_and_range(photo: np.ndarray) -> None:
    damaged, mask = draw_damage(photo.astype(np.float64), seed=1, config=DENSE)
    assert damaged.shape == mask.shape == photo.shape
    assert damaged.dtype == np.float32 and mask.dtype == bool
    assert damaged.min() >= 0 and damaged.max() <= 100
    assert 0.01 < mask.mean() < 0.5


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_each_kind_appears_and_is_masked(photo: np.ndarray, kind: str) -> None:
    config = dataclasses.replace(DENSE, kinds=(kind,), grain_sigma=(0.0, 0.0))
    _, mask, kinds = draw_damage(photo, seed=11, config=config, return_kinds=True)
    assert kinds[kind].sum() > 20, f"{kind} was not drawn"
    assert all(not covered.any() for name, covered in kinds.items() if name != kind)
    assert mask.sum() > 10 and np.all(kinds[kind][mask]), f"{kind}: masked pixels outside what it drew"


def test_mask_is_exactly_where_the_damage_changed_l(photo: np.ndarray) -> None:
    config = dataclasses.replace(DENSE, grain_sigma=(0.0, 0.0))
    damaged, mask = draw_damage(photo, seed=5, config=config)
    change = np.abs(damaged - photo)
    assert np.all(change[mask] > config.mask_threshold - 1e-4)
    assert np.all(change[~mask] <= config.mask_threshold + 1e-4)


def test_grain_changes_pixels_but_is_not_masked(photo: np.ndarray) -> None:
    config = DamageConfig(kinds=(), grain_sigma=(2.5, 2.5))
    damaged, mask = draw_damage(photo, seed=2, config=config)
    assert not mask.any()
    assert 1.5 < float(np.std(damaged - photo)) < 3.5


def test_with_grain_the_mask_is_the_grainless_one(photo: np.ndarray) -> None:
    grainless, mask = draw_damage(photo, seed=9, config=dataclasses.replace(DENSE, grain_sigma=(0.0, 0.0)))
    grainy, grainy_mask = draw_damage(photo, seed=9, config=dataclasses.replace(DENSE, grain_sigma=(3.0, 3.0)))
    assert np.array_equal(mask, grainy_mask)
    assert np.abs(grainy - grainless)[~mask].std() > 1.0


def test_scratches_are_thin_lines_of_one_to_four_pixels(photo: np.ndarray) -> None:
    config = DamageConfig(kinds=("scratch",), scratches=4, grain_sigma=(0.0, 0.0), scratch_contrast=(1.0, 1.0))
    _, mask = draw_damage(photo_lightness(512, 512), seed=7, config=config)
    import cv2

    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    assert mask.sum() > 500
    # at most about 4 px wide plus the anti-aliased rim (crossings of two scratches are wider)
    assert np.percentile(distance[mask], 99) <= 3.5


def test_cracks_are_off_by_default_and_leave_the_rest_of_the_damage_as_it_was(photo: np.ndarray) -> None:
    """The fixed measurement set (default config) predates the crack networks: with ``cracks=0``
    they draw nothing and take nothing from the random stream, so every other kind is the same."""
    assert DamageConfig().cracks == 0
    default, default_mask, kinds = draw_damage(photo, seed=21, config=DamageConfig(), return_kinds=True)
    without = DamageConfig(kinds=tuple(kind for kind in DAMAGE_KINDS if kind != "crack"))
    other, other_mask = draw_damage(photo, seed=21, config=without)
    assert not kinds["crack"].any()
    assert np.array_equal(default, other) and np.array_equal(default_mask, other_mask)
    _, cracked_mask, cracked_kinds = draw_damage(photo, seed=21, config=DamageConfig(cracks=6), return_kinds=True)
    assert cracked_kinds["crack"].sum() > 100 and cracked_mask.sum() > default_mask.sum()


def test_crack_networks_are_fine_lines_around_closed_cells() -> None:
    import cv2

    config = DamageConfig(kinds=("crack",), cracks=1, crack_radius=(120, 120), crack_cell=(25, 25), crack_gaps=0.0,
                          grain_sigma=(0.0, 0.0), crack_contrast=(1.0, 1.0))
    _, mask = draw_damage(photo_lightness(512, 512), seed=4, config=config)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    assert mask.sum() > 2000
    # 1-2 px wide plus the anti-aliased rim (junctions are wider)
    assert np.median(distance[mask]) <= 1.5 and np.percentile(distance[mask], 99) <= 4.0
    # a network, not strokes: the cracks enclose many cells of about the chosen size
    _, _, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    cells = stats[1:, cv2.CC_STAT_AREA]
    assert np.sum((cells > 0.2 * 25**2) & (cells < 4 * 25**2)) >= 20


def test_counts_scale_with_area() -> None:
    config = DamageConfig(kinds=("dust",), dust=40, grain_sigma=(0.0, 0.0))
    small = sum(draw_damage(photo_lightness(128, 128, seed), seed, config)[1].sum() for seed in range(6))
    large = sum(draw_damage(photo_lightness(512, 512, seed), seed, config)[1].sum() for seed in range(6))
    assert 6 < large / max(small, 1) < 30  # 16x the area


def test_bad_input_and_config() -> None:
    with pytest.raises(InvalidInputError, match=r"\(H, W\)"):
        draw_damage(np.zeros((4, 4, 3), np.float32), seed=0)
    with pytest.raises(InvalidInputError, match="outside"):
        draw_damage(np.full((4, 4), 255.0), seed=0)
    with pytest.raises(ConfigError, match="unknown damage kinds"):
        DamageConfig(kinds=("fingerprint",))
    assert DamageConfig().as_dict()["scratch_width"] == [1.0, 4.0]
