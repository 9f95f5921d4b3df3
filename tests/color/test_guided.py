"""The edge-aware ab refinement: flat colour kept, colour bleeding across an edge of L removed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masterpiece.color.guided import guided_upsample_ab


def _edge_scene(height: int = 96, width: int = 128):
    """A dark left half and a light right half; ab red on the left, blue on the right."""
    lightness = np.full((height, width), 30.0, np.float32)
    lightness[:, width // 2 :] = 80.0
    truth = np.zeros((height, width, 2), np.float32)
    truth[:, : width // 2] = (50.0, 30.0)
    truth[:, width // 2 :] = (-10.0, -40.0)
    # what the network's 1/4-resolution prediction looks like once upsampled: a soft edge
    small = cv2.resize(truth, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return lightness, truth, blurred


def test_flat_colour_is_unchanged():
    lightness = np.random.default_rng(0).uniform(0, 100, (40, 60)).astype(np.float32)
    ab = np.zeros((40, 60, 2), np.float32) + np.array([12.0, -7.0], np.float32)
    np.testing.assert_allclose(guided_upsample_ab(lightness, ab, cell=4.0), ab, atol=1e-3)


@pytest.mark.parametrize("size", [(96, 128), (700, 1100)])  # whole image, and the subsampled working copy
def test_colour_no_longer_bleeds_across_an_edge_of_lightness(size):
    lightness, truth, blurred = _edge_scene(*size)
    refined = guided_upsample_ab(lightness, blurred, cell=4.0)
    assert refined.shape == blurred.shape and refined.dtype == np.float32
    band = slice(size[1] // 2 - 8, size[1] // 2 + 8)  # the columns the bilinear colour bleeds into
    error_before = np.abs(blurred[:, band] - truth[:, band]).mean()
    error_after = np.abs(refined[:, band] - truth[:, band]).mean()
    assert error_after < 0.7 * error_before
