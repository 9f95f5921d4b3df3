"""Tests for masterpiece.color.hint_maps: the hint maps every layer passes on together."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from masterpiece.color.hint_maps import HintMaps, adaptive_average
from masterpiece.errors import InvalidHintError


def test_zeros_unpack_and_size() -> None:
    hints = HintMaps.zeros(3, 8, 12)
    ab, mask = hints
    assert ab.shape == (3, 2, 8, 12) and mask.shape == (3, 1, 8, 12) and hints.size == (8, 12)
    assert ab.dtype == mask.dtype == np.float32 and not ab.any() and not mask.any()


@pytest.mark.parametrize(
    ("ab_shape", "mask_shape"),
    [((1, 3, 8, 8), (1, 1, 8, 8)), ((1, 2, 8, 8), (1, 1, 4, 4)), ((2, 2, 8, 8), (1, 1, 8, 8)), ((2, 8, 8), (1, 8, 8))],
)
def test_mismatched_maps_are_refused(ab_shape: tuple[int, ...], mask_shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidHintError, match="hint maps must be"):
        HintMaps(np.zeros(ab_shape, np.float32), np.zeros(mask_shape, np.float32)).checked()


def test_adaptive_average_matches_pytorch_on_uneven_sizes() -> None:
    planes = torch.rand(2, 3, 37, 23, generator=torch.Generator().manual_seed(0))
    expected = F.adaptive_avg_pool2d(planes, (8, 5)).numpy()
    np.testing.assert_allclose(adaptive_average(planes.numpy(), (8, 5)), expected, atol=1e-6)


def test_resizing_keeps_each_hint_colour_where_it_fell() -> None:
    ab = np.zeros((1, 2, 64, 64), np.float32)
    mask = np.zeros((1, 1, 64, 64), np.float32)
    ab[0, :, 10:12, 40:42] = np.array([30.0, -20.0]).reshape(2, 1, 1)
    mask[0, :, 10:12, 40:42] = 1.0
    small = HintMaps(torch.from_numpy(ab), torch.from_numpy(mask)).resized((16, 16))  # tensors in, NumPy out
    assert isinstance(small.ab, np.ndarray) and small.size == (16, 16)
    assert np.argwhere(small.mask[0, 0]).tolist() == [[2, 10]]
    # the hinted cell gets the hint's colour, not diluted by the unhinted pixels it also covers
    np.testing.assert_allclose(small.ab[0, :, 2, 10], [30.0, -20.0], atol=1e-4)
    assert not small.ab[0][:, small.mask[0, 0] == 0].any()


def test_maps_at_the_right_size_are_passed_on_as_they_are() -> None:
    hints = HintMaps.zeros(1, 16, 16)
    resized = hints.resized((16, 16))
    assert resized.ab is hints.ab and resized.mask is hints.mask
