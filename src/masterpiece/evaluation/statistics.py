"""Means with percentile-bootstrap confidence intervals, reproducible from a seed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap resamples drawn for each interval.
DEFAULT_RESAMPLES = 2000
#: Coverage of the reported intervals.
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over images with its bootstrap confidence interval.

    Attributes:
        mean: the sample mean.
        low: lower end of the interval.
        high: upper end of the interval.
        n: how many values were averaged.
    """

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}

    def format(self, digits: int = 2, signed: bool = False) -> str:
        """``"mean [low, high]"`` rounded to ``digits`` (with ``+`` on positives if ``signed``)."""
        spec = f"{'+' if signed else ''}.{digits}f"
        return f"{self.mean:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def resample_indices(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """``(resamples, n)`` int indices drawn with replacement from ``0..n-1``.

    Use the same indices for several metrics of the same images to keep them paired.
    """
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    indices: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Mean of ``values`` with a percentile-bootstrap interval.

    Args:
        values: ``(n,)`` finite numbers, one per image (for a gain over a baseline, the
            per-image differences, which makes the interval a paired one).
        indices: ``(resamples, n)`` from :func:`resample_indices`; drawn from ``seed`` when
            ``None``.
        confidence: the interval's coverage in (0, 1).

    Returns:
        The :class:`Interval`; ``low == high == mean`` for a single value.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"need a non-empty 1-D sequence of values, got shape {data.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if indices is None:
        indices = resample_indices(data.size, seed=seed)
    if indices.shape[1] != data.size:
        raise ValueError(f"indices are for {indices.shape[1]} values, got {data.size}")
    means = data[indices].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    mean = float(data.mean())
    # Round-off can put a constant sample's percentiles a hair off its mean.
    return Interval(
        mean=mean, low=min(float(low), mean), high=max(float(high), mean), n=int(data.size)
    )
