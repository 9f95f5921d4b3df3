"""Hint propagation: hinted cells get their hint, similar cells near it follow, others keep theirs."""

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
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), spatial_sigma=0.2, lightness_sigma=8.0)
    np.testing.assert_allclose(out[0, :, 16, 4], [30.0, -20.0], atol=1e-4)  # the hinted cell
    same_region = out[0, :, 10, 10]  # dark like the hint, 8 cells away
    assert same_region[0] > 15.0 and same_region[1] < -10.0
    other_region = out[0, :, 16, 20]  # bright: across the edge, as near as the cell above
    assert np.abs(other_region).max() < 0.01


def test_hints_at_network_resolution_act_on_a_coarser_prediction() -> None:
    lightness = np.full((1, 1, 64, 64), 50.0, np.float32)
    ab = np.zeros((1, 2, 16, 16), np.float32)
    hint_ab, hint_mask = _hint_at(64, 32, 32, (0.0, 40.0))
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), spatial_sigma=0.1, lightness_sigma=8.0)
    assert out.shape == (1, 2, 16, 16)
    np.testing.assert_allclose(out[0, 1, 8, 8], 40.0, atol=1e-3)
    assert 0.0 < out[0, 1, 0, 0] < out[0, 1, 8, 4] < 40.0  # fades with distance


def test_images_of_a_batch_are_propagated_independently() -> None:
    lightness, ab = _scene()
    lightness, ab = np.concatenate([lightness] * 2), np.concatenate([ab] * 2)
    hint_ab, hint_mask = _hint_at(32, 5, 5, (20.0, 20.0))
    hint_ab = np.concatenate([hint_ab, np.zeros_like(hint_ab)])
    hint_mask = np.concatenate([hint_mask, np.zeros_like(hint_mask)])
    out = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask))
    assert np.abs(out[0]).max() > 10.0
    np.testing.assert_array_equal(out[1], ab[1])


def test_the_result_does_not_depend_on_the_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    lightness = rng.uniform(0, 100, (1, 1, 24, 24)).astype(np.float32)
    ab = rng.normal(0, 10, (1, 2, 24, 24)).astype(np.float32)
    hint_mask = (rng.uniform(size=(1, 1, 24, 24)) < 0.05).astype(np.float32)
    hint_ab = rng.normal(0, 30, (1, 2, 24, 24)).astype(np.float32) * hint_mask
    whole = propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask))
    monkeypatch.setattr(hint_propagation, "CHUNK_CELLS", 7)
    np.testing.assert_allclose(propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask)), whole, rtol=1e-5, atol=1e-4)


def test_the_guide_keeps_a_hint_to_what_the_network_coloured_alike() -> None:
    """One lightness everywhere; the network saw a red left half and a green right half. A hint
    on the left reaches the left half, and the right half only without the guide."""
    lightness = np.full((1, 1, 32, 32), 50.0, np.float32)
    guide = np.zeros((1, 2, 32, 32), np.float32)
    guide[:, 0, :, :16], guide[:, 0, :, 16:], guide[:, 1, :, 16:] = 40.0, -40.0, 30.0
    hint_ab, hint_mask = _hint_at(32, 16, 12, (60.0, 10.0))
    hints = HintMaps(hint_ab, hint_mask)
    guided = propagate_hints(lightness, guide, hints, spatial_sigma=0.2, guide_ab=guide, colour_sigma=10.0)
    unguided = propagate_hints(lightness, guide, hints, spatial_sigma=0.2)
    left, right = (0, slice(None), 16, 8), (0, slice(None), 16, 20)  # 4 and 8 cells from the click
    assert guided[left][0] > 50.0 and unguided[left][0] > 50.0
    np.testing.assert_allclose(guided[right], guide[right], atol=1e-3)  # another kind of thing: kept
    assert unguided[right][0] > guide[right][0] + 40.0  # without the guide it is pulled to the red


def test_the_guided_result_does_not_depend_on_the_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    lightness = rng.uniform(0, 100, (2, 1, 20, 20)).astype(np.float32)
    ab, guide = rng.normal(0, 10, (2, 2, 2, 20, 20)).astype(np.float32)
    hint_mask = (rng.uniform(size=(2, 1, 20, 20)) < 0.05).astype(np.float32)
    hints = HintMaps(rng.normal(0, 30, (2, 2, 20, 20)).astype(np.float32) * hint_mask, hint_mask)
    whole = propagate_hints(lightness, ab, hints, guide_ab=guide)
    monkeypatch.setattr(hint_propagation, "CHUNK_CELLS", 9)
    np.testing.assert_allclose(propagate_hints(lightness, ab, hints, guide_ab=guide), whole, rtol=1e-5, atol=1e-4)


def test_sigmas_must_be_positive_and_the_guide_shaped_like_the_prediction() -> None:
    lightness, ab = _scene()
    hint_ab, hint_mask = _hint_at(32, 1, 1, (1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), spatial_sigma=0.0)
    with pytest.raises(ValueError, match="positive"):
        propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), guide_ab=ab, colour_sigma=0.0)
    with pytest.raises(ValueError, match="shaped like"):
        propagate_hints(lightness, ab, HintMaps(hint_ab, hint_mask), guide_ab=ab[:, :, :8])
