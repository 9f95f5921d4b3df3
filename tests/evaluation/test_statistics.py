"""Bootstrap intervals: reproducible, sensible, paired."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece.evaluation.statistics import bootstrap_interval, resample_indices


def test_interval_is_reproducible_and_contains_the_mean() -> None:
    values = np.random.default_rng(1).normal(10.0, 2.0, size=50)
    first = bootstrap_interval(values, seed=3)
    assert first == bootstrap_interval(values, seed=3)
    assert first.low < first.mean < first.high
    assert first.mean == pytest.approx(values.mean())
    # About 2 * 1.96 * 2 / sqrt(50) = 1.1 wide.
    assert 0.8 < first.high - first.low < 1.4
    assert first.n == 50


def test_constant_and_single_values_give_a_degenerate_interval() -> None:
    constant = bootstrap_interval([2.5] * 7)
    assert constant.low == constant.mean == constant.high == 2.5
    single = bootstrap_interval([4.0])
    assert (single.low, single.mean, single.high, single.n) == (4.0, 4.0, 4.0, 1)


def test_shared_indices_pair_the_samples() -> None:
    values = np.arange(20, dtype=float)
    indices = resample_indices(20, resamples=500, seed=0)
    shifted = bootstrap_interval(values + 5.0, indices)
    plain = bootstrap_interval(values, indices)
    assert shifted.low == pytest.approx(plain.low + 5.0)
    assert shifted.high == pytest.approx(plain.high + 5.0)


@pytest.mark.parametrize("values", [[], [[1.0, 2.0]]])
def test_bad_input_is_refused(values) -> None:
    with pytest.raises(ValueError):
        bootstrap_interval(values)


def test_format() -> None:
    assert bootstrap_interval([1.0, 1.0]).format(1) == "1.0 [1.0, 1.0]"
