"""The public API: Restorer and RestoreResult on the lightness plane, both detectors' contract,
nothing changed outside the mask, auto levels after the repair, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidInputError
from masterpiece.restoration import DETECTORS, Restorer, RestoreResult
from masterpiece.restoration.damage import DamageConfig, draw_damage

SCRATCHES = DamageConfig(kinds=("scratch", "dust", "hairline"), scratches=10, dust=60, hairlines=6,
                         scratch_contrast=(0.7, 1.0), dust_contrast=(0.7, 1.0), grain_sigma=(0.5, 0.5))


def _psnr(first: np.ndarray, second: np.ndarray) -> float:
    return float(10 * np.log10(100**2 / np.mean((first.astype(np.float64) - second) ** 2)))


def test_restore_repairs_and_keeps_every_other_pixel(photo: np.ndarray) -> None:
    damaged, truth = draw_damage(photo, seed=6, config=SCRATCHES)
    result = Restorer("classical").restore(damaged)
    assert isinstance(result, RestoreResult)
    assert result.lightness.dtype == np.float32 and result.mask.dtype == bool
    assert result.lightness.shape == result.mask.shape == photo.shape
    assert np.array_equal(result.lightness.view(np.uint32)[~result.mask], damaged.view(np.uint32)[~result.mask])
    assert _psnr(result.lightness[truth], photo[truth]) > _psnr(damaged[truth], photo[truth]) + 6
    assert np.array_equal(result.mask, Restorer("classical").detect(damaged))


def test_float64_input_is_kept_bit_for_bit_as_float32(photo: np.ndarray) -> None:
    damaged, _ = draw_damage(photo, seed=1, config=SCRATCHES)
    result = Restorer("classical").restore(damaged.astype(np.float64))
    assert np.array_equal(result.lightness[~result.mask], damaged[~result.mask])


def test_repair_off_changes_nothing_and_auto_levels_stretches(photo: np.ndarray) -> None:
    faded = (25 + photo * 0.5).astype(np.float32)
    untouched = Restorer("classical", repair=False).restore(faded)
    assert not untouched.mask.any() and np.array_equal(untouched.lightness, faded)
    stretched = Restorer("classical", repair=False, auto_levels=True).restore(faded)
    assert stretched.lightness.max() - stretched.lightness.min() > 95
    assert not stretched.mask.any()


def test_auto_levels_after_the_repair(photo: np.ndarray) -> None:
    damaged, _ = draw_damage((25 + photo * 0.5).astype(np.float32), seed=3, config=SCRATCHES)
    plain = Restorer("classical").restore(damaged)
    levelled = Restorer("classical", auto_levels=True).restore(damaged)
    assert np.array_equal(plain.mask, levelled.mask)
    assert np.ptp(levelled.lightness) > np.ptp(plain.lightness)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 5, 3), np.float32), r"\(H, W\)"),
        (np.zeros((0, 5), np.float32), "non-empty"),
        (np.full((4, 5), np.nan, np.float32), "NaN"),
        (np.full((4, 5), 200.0, np.float32), "gray_to_lightness"),
        (np.full((4, 5), "a"), "real numbers"),
    ],
)
def test_bad_input_says_what_to_do(bad: np.ndarray, message: str) -> None:
    restorer = Restorer("classical")
    with pytest.raises(InvalidInputError, match=message):
        restorer.restore(bad)
    with pytest.raises(InvalidInputError, match=message):
        restorer.detect(bad)


def test_bad_settings() -> None:
    assert DETECTORS == ("learned", "classical")
    with pytest.raises(ConfigError, match="learned, classical"):
        Restorer("magic")
    with pytest.raises(ConfigError, match="threads"):
        Restorer("classical", threads=0)
    with pytest.raises(ConfigError, match="fill method"):
        Restorer("classical", fill_method="blur")  # type: ignore[arg-type]


def test_tiny_images(photo: np.ndarray) -> None:
    for shape in [(1, 1), (1, 7), (5, 1), (3, 3)]:
        plane = np.full(shape, 40.0, np.float32)
        result = Restorer("classical").restore(plane)
        assert result.lightness.shape == shape and np.array_equal(result.lightness, plane)
