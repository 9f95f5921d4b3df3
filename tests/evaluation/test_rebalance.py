"""Class rebalancing: the prior, the per-pixel weights, reading a given prior."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from masterpiece.errors import InvalidInputError
from masterpiece.evaluation.metrics import accuracy_auc
from masterpiece.evaluation.rebalance import (
    evaluation_bins,
    load_prior,
    pixel_weights,
    prior_from_ab,
)

SKY = (0.4, 0.6, 0.9)
RED = (0.9, 0.1, 0.1)


def constant_ab(image, colour_image) -> torch.Tensor:
    """ab of ``colour_image``'s first pixel everywhere, shaped like ``image.ab``."""
    return colour_image.ab[:, :, :1, :1].expand_as(image.ab)


@pytest.fixture
def mostly_sky(make_striped_image):
    """18 columns of sky blue and 2 of red: one colour dominates."""
    return make_striped_image([SKY, RED], [18, 2])


def test_prior_is_a_distribution_over_the_evaluation_bins(mostly_sky) -> None:
    prior = prior_from_ab([mostly_sky.ab])
    assert prior.shape == (evaluation_bins().shape[0],) == (262,)
    assert float(prior.sum()) == pytest.approx(1.0)
    assert bool((prior >= 0).all())


def _expectation(prior: torch.Tensor, mix: float) -> float:
    """``sum_q prior_q * w_q``: the weights :func:`pixel_weights` gives a pixel on each bin
    centre, averaged under ``prior`` (the smoothed empirical distribution of the bins)."""
    on_each_centre = evaluation_bins().T[None, :, :, None]  # (1, 2, Q, 1)
    per_bin = pixel_weights(on_each_centre, prior, mix=mix)[0, :, 0].double()
    return float((prior * per_bin).sum())


def test_weights_favour_the_rare_colour_and_average_to_one(mostly_sky) -> None:
    prior = prior_from_ab([mostly_sky.ab])
    weights = pixel_weights(mostly_sky.ab, prior)
    assert weights.shape == (1, 8, 20)
    sky_weight, red_weight = float(weights[0, 0, 0]), float(weights[0, 0, -1])
    assert red_weight > 5 * sky_weight
    assert _expectation(prior, 0.0) == pytest.approx(1.0, abs=1e-6)
    # Uniform mixing (lambda = 1) gives equal weights.
    flat = pixel_weights(mostly_sky.ab, prior, mix=1.0)
    torch.testing.assert_close(flat, torch.ones_like(flat))


@pytest.mark.parametrize("mix", [0.0, 0.5])
def test_weights_of_a_real_photograph_average_to_one(photo_ab, mix) -> None:
    """The paper's normalisation, E[w] = sum_q p_q w_q = 1, on the prior of a real photograph
    (mix 0: the evaluation's inverse prior; 0.5: the paper's training lambda)."""
    prior = prior_from_ab([photo_ab])
    assert float(prior.max()) > 20 * float(prior.median())  # far from uniform
    assert _expectation(prior, mix) == pytest.approx(1.0, abs=1e-6)
    weights = pixel_weights(photo_ab, prior, mix=mix)
    assert float(weights.max()) > 5 * float(weights.min())  # not flat: the test can fail


def test_rebalancing_moves_auc_in_the_expected_direction(mostly_sky, make_striped_image) -> None:
    prior = prior_from_ab([mostly_sky.ab])
    weights = pixel_weights(mostly_sky.ab, prior)
    sky, red = make_striped_image([SKY], [1]), make_striped_image([RED], [1])
    # Right on the dominant colour, wrong on the rare one: rebalancing lowers the score...
    all_sky = constant_ab(mostly_sky, sky)
    assert accuracy_auc(all_sky, mostly_sky.ab, weights) < accuracy_auc(all_sky, mostly_sky.ab) - 20
    # ...and a prediction right on the rare colour only gains from it.
    all_red = constant_ab(mostly_sky, red)
    assert accuracy_auc(all_red, mostly_sky.ab, weights) > accuracy_auc(all_red, mostly_sky.ab) + 20


def test_load_prior_accepts_npy_json_and_a_previous_report(tmp_path: Path) -> None:
    values = np.arange(1, 263, dtype=np.float64)
    np.save(tmp_path / "prior.npy", values)
    (tmp_path / "prior.json").write_text(json.dumps(values.tolist()))
    (tmp_path / "metrics.json").write_text(json.dumps({"prior": {"values": values.tolist()}}))
    for name in ("prior.npy", "prior.json", "metrics.json"):
        prior = load_prior(tmp_path / name)
        assert float(prior.sum()) == pytest.approx(1.0)
        assert float(prior[-1] / prior[0]) == pytest.approx(262.0)


@pytest.mark.parametrize(
    "content",
    [
        "[1, 2, 3]",
        json.dumps([-1.0] * 262),
        json.dumps([0.0] * 262),
        '["a"]',
        "not json",
        '{"other": 1}',
    ],
)
def test_load_prior_rejects_bad_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prior.json"
    path.write_text(content)
    with pytest.raises(InvalidInputError):
        load_prior(path)


def test_load_prior_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read a colour prior"):
        load_prior(tmp_path / "absent.npy")
