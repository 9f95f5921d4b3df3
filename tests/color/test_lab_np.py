"""The NumPy colour maths used at inference against the same reference values as the PyTorch
versions, and against them (one formula, two array libraries: they must not drift apart)."""

import numpy as np
import pytest
import torch

from masterpiece.color import annealed, lab, lab_np, quantize

from .test_lab import REFERENCE


@pytest.mark.parametrize(("rgb", "expected"), REFERENCE)
def test_rgb_to_lab_matches_reference(rgb, expected):
    result = lab_np.rgb_to_lab(np.asarray(rgb, np.float64).reshape(3, 1, 1))[:, 0, 0]
    assert result.tolist() == pytest.approx(expected, abs=0.01)


def _random_lab(shape, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, 100, shape), rng.uniform(-110, 110, shape),
                     rng.uniform(-110, 110, shape)], axis=-3).astype(np.float32)


@pytest.mark.parametrize("name", ["lab_to_linear_rgb", "lab_to_rgb", "fit_chroma_to_gamut"])
@pytest.mark.parametrize("shape", [(7, 9), (2, 5, 4)])
def test_lab_functions_equal_the_torch_ones(name, shape):
    values = _random_lab(shape)  # (3, H, W), or a batch (B, 3, H, W)
    ours = getattr(lab_np, name)(values)
    theirs = getattr(lab, name)(torch.from_numpy(values)).numpy()
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_rgb_functions_equal_the_torch_ones():
    rgb = np.random.default_rng(1).random((3, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(lab_np.rgb_to_lab(rgb), lab.rgb_to_lab(torch.from_numpy(rgb)).numpy(), atol=1e-4)
    np.testing.assert_allclose(lab_np.rgb_to_lightness(rgb), lab.rgb_to_lightness(torch.from_numpy(rgb)).numpy(),
                               atol=1e-4)
    gray = rgb[:1]
    np.testing.assert_allclose(lab_np.gray_to_lightness(gray), lab.gray_to_lightness(torch.from_numpy(gray)).numpy(),
                               atol=1e-4)


def test_max_chroma_equals_the_torch_one():
    rng = np.random.default_rng(2)
    lightness, hue = rng.uniform(0, 100, 500), rng.uniform(0, 2 * np.pi, 500)
    ours = lab_np.max_chroma_in_gamut(lightness, hue)
    theirs = lab.max_chroma_in_gamut(torch.from_numpy(lightness), torch.from_numpy(hue)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"\(\*, 3, H, W\)"):
        lab_np.rgb_to_lab(np.zeros((4, 8, 8), np.float32))


@pytest.mark.parametrize("temperature", [0.01, 0.38, 1.0, 10.0])
def test_annealed_mean_equals_the_torch_one(temperature):
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((2, 262, 5, 6)) * 4).astype(np.float32)
    centers = quantize.gamut_bin_centers()
    ours = annealed.annealed_mean(logits, centers.numpy(), temperature)
    theirs = quantize.decode_annealed_mean(torch.from_numpy(logits), centers, temperature).numpy()
    assert ours.shape == (2, 2, 5, 6) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
