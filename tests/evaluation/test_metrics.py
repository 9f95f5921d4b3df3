"""Metrics with known answers: perfect predictions, hand-computed gray scores, colourfulness."""

from __future__ import annotations

import math

import pytest
import torch

from masterpiece.color.lab import lab_to_rgb
from masterpiece.evaluation.metrics import (
    AUC_MAX_THRESHOLD,
    PSNR_CAP_DB,
    accuracy_auc,
    accuracy_curve,
    colorfulness,
    psnr,
)

RED = (1.0, 0.0, 0.0)
MID_GRAY = (0.5, 0.5, 0.5)


def gray_prediction(image) -> torch.Tensor:
    return torch.zeros_like(image.ab)


def test_perfect_prediction_scores_auc_100_and_the_psnr_cap(make_random_images) -> None:
    image = make_random_images(1)[0]
    assert accuracy_auc(image.ab, image.ab) == pytest.approx(100.0)
    weights = torch.rand(image.ab.shape[0], *image.ab.shape[-2:])
    assert accuracy_auc(image.ab, image.ab, weights) == pytest.approx(100.0)
    assert psnr(image.rgb, image.rgb) == PSNR_CAP_DB
    # The Lab round trip of a perfect ab is below float32 round-off: still capped, never inf.
    assert psnr(lab_to_rgb(image.lab), image.rgb) == PSNR_CAP_DB


def test_gray_prediction_on_red_and_gray_matches_the_hand_computation(make_striped_image) -> None:
    # Half sRGB red, half mid gray. Red is Lab (53.2408, 80.0925, 67.2032): chroma 104.55, so
    # with ab = 0 its pixels are within t only for t = 105..150 (46 of 151 thresholds); gray
    # pixels are within every threshold. AuC = (1 + 46/151) / 2 = 65.2318 %.
    image = make_striped_image([RED, MID_GRAY], [4, 4])
    assert accuracy_auc(gray_prediction(image), image.ab) == pytest.approx(
        100 * (1 + 46 / 151) / 2, abs=1e-3
    )
    # The gray of red's L (53.2408) is sRGB 0.498524; its squared error to (1, 0, 0) is
    # 0.501476^2 + 2 * 0.498524^2 = 0.748530 over 3 channels, the gray half is exact:
    # MSE = 0.748530 / 6 = 0.124755, PSNR = 9.0394 dB.
    predicted = lab_to_rgb(torch.cat((image.lightness, gray_prediction(image)), dim=1))
    assert psnr(predicted, image.rgb) == pytest.approx(9.0394, abs=2e-3)
    assert colorfulness(predicted) == pytest.approx(0.0, abs=1e-3)


def test_accuracy_curve_matches_the_definition() -> None:
    generator = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 2, 5, 7, generator=generator) * 60
    true = torch.randn(2, 2, 5, 7, generator=generator) * 60
    weights = torch.rand(2, 5, 7, generator=generator)
    error = (pred - true).double().pow(2).sum(1).sqrt().flatten()
    thresholds = torch.arange(AUC_MAX_THRESHOLD + 1, dtype=torch.float64)
    within = (error[None] <= thresholds[:, None]).double()
    expected_raw = within.mean(1)
    expected_weighted = (within * weights.double().flatten()).sum(1) / weights.double().sum()
    torch.testing.assert_close(accuracy_curve(pred, true), expected_raw)
    torch.testing.assert_close(accuracy_curve(pred, true, weights), expected_weighted)
    assert bool((accuracy_curve(pred, true).diff() >= 0).all())


def test_errors_exactly_on_a_threshold_count_as_within() -> None:
    true = torch.zeros(1, 2, 1, 2)
    pred = torch.tensor([3.0, 0.0, 4.0, 150.0]).view(1, 2, 1, 2)  # errors 5 and 150
    curve = accuracy_curve(pred, true)
    assert curve[4] == 0.0 and curve[5] == 0.5 and curve[149] == 0.5 and curve[150] == 1.0


def test_psnr_known_value_and_shape_check() -> None:
    true = torch.zeros(1, 3, 4, 4)
    assert psnr(torch.full_like(true, 0.1), true) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.zeros(1, 3, 4, 5), true)


def test_colorfulness_of_half_red_half_black_is_known(make_striped_image) -> None:
    # rg = R - G and yb = (R + G) / 2 - B on 0..255: red gives (255, 127.5), black (0, 0).
    # mean = std = (127.5, 63.75), so M = 1.3 * sqrt(127.5^2 + 63.75^2) = 185.3142.
    image = make_striped_image([RED, (0.0, 0.0, 0.0)], [3, 3])
    assert colorfulness(image.rgb) == pytest.approx(1.3 * math.hypot(127.5, 63.75), rel=1e-5)
    assert colorfulness(image.rgb) == pytest.approx(185.3142, abs=1e-3)
    assert colorfulness(make_striped_image([MID_GRAY], [5]).rgb) == pytest.approx(0.0, abs=1e-6)
