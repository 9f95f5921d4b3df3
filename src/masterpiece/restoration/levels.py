"""Fading: a percentile stretch of the tones of a faded print (``--auto-levels``)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._checks import check_lightness

__all__ = ["auto_levels"]

#: histogram bins over L's [0, 100]: 0.01 L units each
_BINS = 10_000
#: tone ranges narrower than this (L units) are left alone (a flat image has nothing to stretch)
_MIN_SPREAD = 1.0


def _levels(lightness: np.ndarray, clip_fraction: float) -> tuple[float, float]:
    """The (low, high) L values to map to 0 and 100: at most ``clip_fraction`` of pixels lie
    strictly below low, and at most that many strictly above high."""
    counts = np.bincount(np.minimum((lightness.ravel() * (_BINS / 100)).astype(np.int64), _BINS - 1),
                         minlength=_BINS)
    allowed = clip_fraction * lightness.size
    cumulative = np.cumsum(counts)
    low_bin = int(np.searchsorted(cumulative, allowed, side="right"))  # first bin reaching past it
    from_top = np.cumsum(counts[::-1])
    high_bin = _BINS - 1 - int(np.searchsorted(from_top, allowed, side="right"))
    low = low_bin * 100 / _BINS
    high = (high_bin + 1) * 100 / _BINS
    # the bins are 0.01 wide: every pixel below ``low`` is in a bin before low_bin (counted in
    # cumulative[low_bin - 1] <= allowed), every pixel above ``high`` in a bin after high_bin
    return low, min(high, float(lightness.max()))


def auto_levels(lightness: np.ndarray, clip_fraction: float = 0.005) -> np.ndarray:
    """Stretch the tones of a faded print to the full [0, 100] range.

    The darkest and lightest ``clip_fraction`` of the pixels (at most; fewer when many pixels
    share a tone) may be clipped to 0 and 100; everything between is mapped linearly. Tones are
    only ever stretched, never compressed, and an image whose tones span less than 1 L unit is
    returned unchanged (a copy).

    Args:
        lightness: (H, W) CIE L in [0, 100].
        clip_fraction: the most pixels clipped at either end, in [0, 0.005] (0.5 %).

    Returns:
        (H, W) float32 L in [0, 100].

    Raises:
        ConfigError: ``clip_fraction`` outside [0, 0.005].
        InvalidInputError: ``lightness`` is not an (H, W) plane in [0, 100].
    """
    if not 0 <= clip_fraction <= 0.005:
        raise ConfigError(f"clip_fraction must be in [0, 0.005] (at most 0.5 % clipped), not {clip_fraction}")
    plane = check_lightness(lightness)
    low, high = _levels(plane, clip_fraction)
    low, high = max(low, 0.0), min(high, 100.0)
    if high - low < _MIN_SPREAD or (low <= 0.0 and high >= 100.0):
        return plane.copy()
    scale = np.float32(100.0 / (high - low))
    stretched = (plane - np.float32(low)) * scale
    return np.clip(stretched, 0, 100, out=stretched)
