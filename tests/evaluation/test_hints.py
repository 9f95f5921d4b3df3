"""Simulated hints: patch means of the ground truth, reproducible, nested, batched."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from masterpiece.evaluation.hints import (
    reveal_hints,
    sample_hint_counts,
    sample_hint_points,
    sample_hints,
    sample_hints_batch,
    sample_nested_hints,
)


def ground_truth(batch: int = 1, height: int = 20, width: int = 30, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 2, height, width, generator=torch.Generator().manual_seed(seed)) * 40


def test_each_patch_holds_the_mean_of_the_ground_truth_under_it() -> None:
    ab = ground_truth()
    points = sample_hint_points([6], 20, 30, torch.Generator().manual_seed(1))
    for k in range(len(points)):
        single = points.select(torch.tensor([k]))
        hint_ab, hint_mask = reveal_hints(ab, single)
        top, left, size = int(single.top), int(single.left), int(single.size)
        patch = ab[0, :, top : top + size, left : left + size]
        assert int(hint_mask.sum()) == size * size
        assert bool((hint_mask[0, 0, top : top + size, left : left + size] == 1).all())
        expected = patch.mean(dim=(1, 2))[:, None, None].expand_as(patch)
        torch.testing.assert_close(hint_ab[0, :, top : top + size, left : left + size], expected)


def test_later_points_win_where_patches_overlap() -> None:
    ab = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    points = sample_hint_points([2], 4, 4, torch.Generator(), patch_sizes=[3])
    overlapping = type(points)(
        torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([3, 3])
    )
    hint_ab, hint_mask = reveal_hints(ab, overlapping)
    second_mean = ab[0, :, 1:4, 1:4].mean(dim=(1, 2))
    torch.testing.assert_close(hint_ab[0, :, 1, 1], second_mean)
    assert int(hint_mask.sum()) == 9 + 9 - 4


def test_same_seed_same_hints_and_zero_points_reveal_nothing() -> None:
    ab = ground_truth()[0]
    first = sample_hints(ab, 5, torch.Generator().manual_seed(7))
    again = sample_hints(ab, 5, torch.Generator().manual_seed(7))
    other = sample_hints(ab, 5, torch.Generator().manual_seed(8))
    assert first[0].shape == (2, 20, 30) and first[1].shape == (1, 20, 30)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])
    empty_ab, empty_mask = sample_hints(ab, 0, torch.Generator().manual_seed(7))
    assert not bool(empty_ab.any()) and not bool(empty_mask.any())


def test_nested_hints_only_ever_add_patches() -> None:
    hint_ab, hint_mask = sample_nested_hints(
        ground_truth(), [0, 1, 5, 20], torch.Generator().manual_seed(2)
    )
    assert hint_ab.shape == (4, 2, 20, 30) and hint_mask.shape == (4, 1, 20, 30)
    assert int(hint_mask[0].sum()) == 0 and int(hint_mask[1].sum()) >= 1
    for fewer, more in itertools.pairwise(hint_mask):
        assert bool((more >= fewer).all())


def test_batch_uses_one_count_per_image() -> None:
    ab = ground_truth(batch=3)
    hint_ab, hint_mask = sample_hints_batch(
        ab, torch.tensor([0, 2, 4]), torch.Generator().manual_seed(0)
    )
    assert hint_ab.shape == (3, 2, 20, 30) and hint_mask.shape == (3, 1, 20, 30)
    assert int(hint_mask[0].sum()) == 0 and int(hint_mask[1].sum()) > 0
    with pytest.raises(ValueError, match="one hint count per image"):
        sample_hints_batch(ab, [1, 2])


def test_patches_larger_than_the_image_are_clipped() -> None:
    _, hint_mask = sample_hints(
        ground_truth(height=3, width=5)[0], 4, torch.Generator().manual_seed(0), [9]
    )
    # Every patch is 3x3: whole columns are covered, at least three of them.
    column_cover = hint_mask[0].sum(dim=0)
    assert set(column_cover.unique().tolist()) <= {0.0, 3.0}
    assert int(hint_mask.sum()) >= 9


def test_training_counts_are_geometric_with_mean_seven() -> None:
    counts = sample_hint_counts(20000, torch.Generator().manual_seed(0))
    assert counts.dtype == torch.int64 and int(counts.min()) == 0
    assert float(counts.double().mean()) == pytest.approx(7.0, abs=0.3)
    assert float((counts == 0).double().mean()) == pytest.approx(1 / 8, abs=0.02)
    assert int(sample_hint_counts(100, torch.Generator().manual_seed(0), max_points=3).max()) <= 3


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    count=st.integers(0, 15),
    seed=st.integers(0, 2**31),
)
def test_hints_are_zero_outside_the_mask_and_within_the_ground_truth_range(
    height, width, count, seed
) -> None:
    ab = ground_truth(height=height, width=width, seed=seed)
    hint_ab, hint_mask = sample_hints_batch(ab, count, torch.Generator().manual_seed(seed))
    assert set(hint_mask.unique().tolist()) <= {0.0, 1.0}
    assert not bool((hint_ab * (1 - hint_mask)).any())
    for channel in range(2):
        values = hint_ab[0, channel][hint_mask[0, 0] > 0]
        if values.numel():
            assert float(values.min()) >= float(ab[0, channel].min()) - 1e-4
            assert float(values.max()) <= float(ab[0, channel].max()) + 1e-4
