"""Hint propagation: hinted cells get their hint, cells tied to them by neighbours of alike
lightness follow, others keep the network's colours; the solve is the least-squares solution."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece.color import hint_propagation
from masterpiece.color.hint_maps import HintMaps
from masterpiece.color.hint_propagation import propagate_hints


def _scene(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Dark left half (L 20), bright right half (L 80), predicted a neutral ab everywhere."""
    lightness = np.full((1, 1, size, size), 20.0, np.float32)
    lightness[..., size // 2 :] = 80.0
    ab = np.zeros((1, 2, size, size), np.float32)
    return lightness, ab


def _hint_at(size: int, row: int, col: int, value: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    hint_ab = np.zeros((1, 2, size, size), np.float32)
    hint_mask = np.zeros((1, 1, size, size), np.float32)
    hint_ab[0, :, row, col] = value
    hint_mask[0, 0, row, col] = 1.0
    return hint_ab, hint_mask


def test_without_hints_the_prediction_is_returned_unchanged() -> None:
    lightness, ab = _scene()
    ab += np.random.default_rng(0).normal(size=ab.shape).astype(np.float32)
    empty = np.zeros((1, 1, 32, 32), np.float32)
    np.testing.assert_array_equal(propagate_hints(lightness, ab, None), ab)
    np.testing.assert_array_equal(propagate_hints(lightness, ab, HintMaps(np.zeros((1, 2, 32, 32), np.float32), empty)), ab)


def test_the_hint_spreads_over_its_own_region_and_not_across_the_edge() -> None:
    lightness, ab = _scene()
    hint_ab, hint_mask = _hint_at(32, 16, 4, (30.0, -20.0))
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask))
    np.testing.assert_allclose(out[0, :, 16, 4], [30.0, -20.0], atol=0.5)  # the hinted cell
    far_in_region = out[0, :, 2, 14]  # dark like the hint, 17 cells away
    assert far_in_region[0] > 18.0 and far_in_region[1] < -12.0
    other_region = out[0, :, 16, 17]  # bright: just across the edge
    assert np.abs(other_region).max() < 0.5


def test_the_solution_is_the_least_squares_one() -> None:
    """Against dense solves of the same normal equations on a small random grid: the hints'
    colours spread H (the hints alone), the reach r (1 at the hints, 0 as the prior) and the
    result (1 - r) pred + H, the colours C = S(pred) + H with the network's own colours kept
    where C smooths them."""
    rng = np.random.default_rng(3)
    lightness = rng.uniform(40, 60, (1, 1, 9, 11)).astype(np.float32)
    ab = rng.normal(0, 10, (1, 2, 9, 11)).astype(np.float32)
    hint_mask = np.zeros((1, 1, 9, 11), np.float32)
    hint_mask[0, 0, 2, 3] = hint_mask[0, 0, 7, 8] = 1.0
    hint_ab = rng.normal(0, 30, (1, 2, 9, 11)).astype(np.float32) * hint_mask
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), data_weight=0.001)
    weight = 0.001 * (hint_propagation.REFERENCE_SIDE / 11) ** 2
    across, down = hint_propagation.neighbour_ties(lightness[0, 0], 2.0)
    cells = 9 * 11
    system = np.zeros((cells, cells))
    index = np.arange(cells).reshape(9, 11)
    for ties, first, second in ((across, index[:, :-1], index[:, 1:]), (down, index[:-1], index[1:])):
        for tie, a, b in zip(ties.ravel(), first.ravel(), second.ravel()):
            system[a, a] += tie
            system[b, b] += tie
            system[a, b] -= tie
            system[b, a] -= tie
    pull = hint_propagation.HINT_WEIGHT * hint_mask[0, 0].ravel()
    system += np.diag(weight + pull)
    reach = np.linalg.solve(system, pull)
    assert 0.95 < reach[2 * 11 + 3] <= 1.0 and reach.min() >= 0.0
    for channel in range(2):
        predicted = ab[0, channel].ravel().astype(np.float64)
        spread = np.linalg.solve(system, pull * hint_ab[0, channel].ravel())
        colours = np.linalg.solve(system, weight * predicted + pull * hint_ab[0, channel].ravel())
        np.testing.assert_allclose(colours - np.linalg.solve(system, weight * predicted), spread, atol=1e-9)
        expected = (1 - reach) * predicted + spread
        error = out[0, channel].ravel() - expected
        assert np.sqrt(np.mean(error**2)) <= hint_propagation.TOLERANCE  # two solves, each within half the bound
        assert np.abs(error).max() < 0.1


def test_a_region_no_hint_reaches_keeps_the_network_colours() -> None:
    """The bright half is cut off from the hint by its edge: its colours (a gradient the
    network drew there) stay as they were, not smoothed towards their mean."""
    lightness, ab = _scene()
    ab[0, 0, :, 16:] = np.linspace(-30.0, 30.0, 32, dtype=np.float32)[:, None]
    hint_ab, hint_mask = _hint_at(32, 16, 4, (30.0, -20.0))
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask))
    np.testing.assert_allclose(out[0, :, :, 17:], ab[0, :, :, 17:], atol=0.05)
    assert out[0, 0, 10, 8] > 15.0  # while the dark half follows the hint


def test_a_lone_hint_fades_as_its_reach_not_as_its_square() -> None:
    """On a uniform prediction p, a hint h gives p + r (h - p), r the reach: the colours of the
    least squares themselves (until the seventh session it was p + r^2 (h - p))."""
    lightness = np.full((1, 1, 32, 32), 50.0, np.float32)
    ab = np.full((1, 2, 32, 32), 5.0, np.float32)
    hint_ab, hint_mask = _hint_at(32, 16, 16, (45.0, 5.0))
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), data_weight=0.001)
    share = (out[0, 0] - 5.0) / 40.0  # r, by the formula above
    assert 0.2 < share[16, 2] < 0.8  # a cell the hint reaches in part
    np.testing.assert_allclose(out[0, 1], 5.0, atol=0.02)  # the channel the hint agrees on stays
    # the least squares colours of that grid, which a uniform prior makes p + r (h - p)
    weight = 0.001 * (hint_propagation.REFERENCE_SIDE / 32) ** 2
    across, down = hint_propagation.neighbour_ties(lightness[0, 0], 2.0)
    pull = hint_propagation.HINT_WEIGHT * hint_mask[0, 0].astype(np.float64)
    diagonal = hint_propagation._tie_sums(across, down) + weight + pull
    colours = hint_propagation.solve_ties(across, down, diagonal, (weight * 5.0 + pull * 45.0)[None],
                                          np.full((1, 32, 32), 5.0), weight, 1e-4)
    np.testing.assert_allclose(out[0, 0], colours[0], atol=0.05)


def test_hints_at_network_resolution_act_on_a_coarser_prediction() -> None:
    lightness = np.full((1, 1, 64, 64), 50.0, np.float32)
    ab = np.zeros((1, 2, 16, 16), np.float32)
    hint_ab, hint_mask = np.zeros((1, 2, 64, 64), np.float32), np.zeros((1, 1, 64, 64), np.float32)
    hint_ab[0, 1, 32:36, 32:36], hint_mask[0, 0, 32:36, 32:36] = 40.0, 1.0  # the whole cell (8, 8)
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), data_weight=0.003)
    assert out.shape == (1, 2, 16, 16)
    np.testing.assert_allclose(out[0, 1, 8, 8], 40.0, atol=2.0)
    assert 0.0 < out[0, 1, 0, 0] < out[0, 1, 8, 4] < out[0, 1, 8, 8]  # fades with distance


def test_images_of_a_batch_are_propagated_independently() -> None:
    lightness, ab = _scene()
    lightness, ab = np.concatenate([lightness] * 2), np.concatenate([ab] * 2)
    hint_ab, hint_mask = _hint_at(32, 5, 5, (20.0, 20.0))
    hint_ab = np.concatenate([hint_ab, np.zeros_like(hint_ab)])
    hint_mask = np.concatenate([hint_mask, np.zeros_like(hint_mask)])
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask))
    assert np.abs(out[0]).max() > 10.0
    np.testing.assert_array_equal(out[1], ab[1])


def test_the_settings_must_be_positive() -> None:
    lightness, ab = _scene()
    hint_ab, hint_mask = _hint_at(32, 1, 1, (1.0, 1.0))
    for keywords in ({"lightness_sigma": 0.0}, {"data_weight": -1.0}):
        with pytest.raises(ValueError, match="positive"):
            propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), **keywords)
