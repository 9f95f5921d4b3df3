"""Auto levels: a percentile stretch that never clips more than 0.5 % at either end."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece.errors import ConfigError
from masterpiece.restoration import auto_levels

from .conftest import photo_lightness


def test_a_faded_print_is_stretched_to_the_full_range() -> None:
    faded = 30 + photo_lightness() * 0.4  # tones in about [32, 68]
    stretched = auto_levels(faded)
    assert stretched.dtype == np.float32
    assert stretched.min() == 0 and stretched.max() == 100
    assert np.corrcoef(stretched.ravel(), faded.ravel())[0, 1] > 0.999  # a monotone, linear map


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.005])
def test_never_more_than_the_fraction_clipped_at_either_end(fraction: float) -> None:
    rng = np.random.default_rng(0)
    faded = np.clip(rng.normal(50, 8, (300, 400)), 0, 100).astype(np.float32)
    faded[:3, :] = 20.0  # 1 % of the pixels share one dark tone (ties at the percentile)
    stretched = auto_levels(faded, fraction)
    inside = (stretched > 0) & (stretched < 100)
    scale, offset = np.polyfit(faded[inside], stretched[inside], 1)  # the linear map
    low, high = -offset / scale, (100 - offset) / scale  # the tones mapped to 0 and 100
    assert scale > 1.2
    assert (faded < low - 1e-3).mean() <= fraction and (faded > high + 1e-3).mean() <= fraction


def test_full_range_and_flat_images_are_kept() -> None:
    spread = np.linspace(0, 100, 256 * 320, dtype=np.float32).reshape(256, 320)
    assert np.abs(auto_levels(spread) - spread).max() <= 0.51  # at most the 0.5 % at each end move
    flat = np.full((20, 30), 42.0, np.float32)
    assert np.array_equal(auto_levels(flat), flat)


def test_bad_fraction() -> None:
    with pytest.raises(ConfigError, match="0.5 %"):
        auto_levels(photo_lightness(), 0.02)
