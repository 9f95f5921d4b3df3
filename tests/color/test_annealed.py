"""Combining the annealed mean with the regression head (``color/annealed.blend_decoded``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masterpiece.color.annealed import blend_decoded


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two ``(2, 2, 8, 12)`` ab maps with different means per image (annealed, regressed)."""
    rng = np.random.default_rng(seed)
    annealed = rng.normal(0, 20, (2, 2, 8, 12)).astype(np.float32) + np.float32([[[[30.0]], [[40.0]]], [[[-10.0]], [[5.0]]]])
    regressed = rng.normal(0, 5, (2, 2, 8, 12)).astype(np.float32)
    return annealed, regressed


@pytest.mark.parametrize("weight", [1.0, 0.7, 0.0])
def test_without_tint_it_is_the_plain_blend(weight: float) -> None:
    annealed, regressed = _pair()
    np.testing.assert_allclose(blend_decoded(annealed, regressed, weight), weight * annealed + (1 - weight) * regressed, atol=1e-5)
    np.testing.assert_allclose(blend_decoded(annealed, regressed, weight, 0.0), weight * annealed + (1 - weight) * regressed, atol=1e-5)


@pytest.mark.parametrize("tint", [0.3, 0.7, 1.0])
def test_tint_moves_each_images_mean_towards_the_regression_heads(tint: float) -> None:
    annealed, regressed = _pair(1)
    decoded = blend_decoded(annealed, regressed, 1.0, tint)
    mean_of = lambda ab: ab.mean(axis=(-2, -1))
    expected_mean = (1 - tint) * mean_of(annealed) + tint * mean_of(regressed)
    np.testing.assert_allclose(mean_of(decoded), expected_mean, atol=1e-4)  # per image, per channel
    # the colours around the mean are the annealed mean's: only the tint moves
    np.testing.assert_allclose(decoded - decoded.mean(axis=(-2, -1), keepdims=True),
                               annealed - annealed.mean(axis=(-2, -1), keepdims=True), atol=1e-4)


def test_each_image_of_a_batch_gets_its_own_tint() -> None:
    annealed, regressed = _pair(2)
    together = blend_decoded(annealed, regressed, 0.8, 0.6)
    alone = np.concatenate([blend_decoded(annealed[i : i + 1], regressed[i : i + 1], 0.8, 0.6) for i in range(2)])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_numpy_and_torch_agree() -> None:
    annealed, regressed = _pair(3)
    ours = blend_decoded(torch.from_numpy(annealed), torch.from_numpy(regressed), 0.9, 0.7)
    assert isinstance(ours, torch.Tensor)
    np.testing.assert_allclose(ours.numpy(), blend_decoded(annealed, regressed, 0.9, 0.7), atol=1e-5)


def test_the_regression_head_alone_has_its_own_tint() -> None:
    annealed, regressed = _pair(4)
    assert blend_decoded(annealed, regressed, 0.0, 0.7) is regressed


def test_models_that_decode_by_regression_take_no_tint() -> None:
    """The tint is part of decoding the classification head: a regression model's ab is its own."""
    from masterpiece.models import create_model

    torch.manual_seed(0)
    model = create_model("siggraph17", pretrained=False).eval()
    assert model.decoder == "regression"
    model.regression_tint = 1.0
    with torch.no_grad():
        prediction = model.predict(torch.rand(1, 1, 64, 64) * 100)
    assert torch.equal(model.decode(prediction), prediction.ab)
