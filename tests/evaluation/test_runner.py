"""The evaluation loop on synthetic images: known answers, baseline, sweep, determinism."""

from __future__ import annotations

import itertools
import logging

import pytest
import torch

from masterpiece.errors import ConfigError
from masterpiece.evaluation.metrics import PSNR_CAP_DB
from masterpiece.evaluation.rebalance import evaluation_bins
from masterpiece.evaluation.results import EvaluationSettings
from masterpiece.evaluation.runner import (
    Candidate,
    ModelSpec,
    build_candidate,
    check_settings,
    evaluate,
    evaluate_candidates,
)

RED = (1.0, 0.0, 0.0)
MID_GRAY = (0.5, 0.5, 0.5)
FAST = EvaluationSettings(resamples=200)


class Oracle:
    """Knows the answer: returns the ground-truth ab of the one image it was made for."""

    def __init__(self, ab: torch.Tensor) -> None:
        self.ab = ab

    def predict_ab(self, lightness, hints=None) -> torch.Tensor:
        return self.ab.expand(lightness.shape[0], -1, -1, -1).clone()


class PasteHints:
    """Gray, except where hints are given: they are copied (a 'perfect' use of hints)."""

    def predict_ab(self, lightness, hints=None) -> torch.Tensor:
        ab = lightness.new_zeros(lightness.shape[0], 2, *lightness.shape[-2:])
        return ab if hints is None else torch.where(hints.mask > 0, hints.ab, ab)


def test_a_perfect_prediction_scores_100_and_the_psnr_cap(make_random_images) -> None:
    image = make_random_images(1)[0]
    result = evaluate_candidates([image], [Candidate("oracle", Oracle(image.ab))], FAST)
    summary = result.models[0].summary
    assert summary["raw_auc"].mean == pytest.approx(100.0)
    assert summary["rebalanced_auc"].mean == pytest.approx(100.0)
    assert summary["psnr"].mean == PSNR_CAP_DB
    assert summary["colorfulness"].mean == pytest.approx(
        result.ground_truth_colorfulness.mean, rel=1e-4
    )
    assert result.models[0].gain["raw_auc"].mean > 0


def test_the_gray_baseline_gives_the_hand_computed_values(make_striped_image) -> None:
    # See test_metrics: AuC (1 + 46/151) / 2 and PSNR 9.0394 dB for half red, half gray.
    image = make_striped_image([RED, MID_GRAY], [4, 4])
    result = evaluate_candidates([image], [], FAST)
    assert result.baseline.label == "gray"
    assert result.baseline.summary["raw_auc"].mean == pytest.approx(
        100 * (1 + 46 / 151) / 2, abs=1e-3
    )
    assert result.baseline.summary["psnr"].mean == pytest.approx(9.0394, abs=2e-3)
    assert result.baseline.summary["colorfulness"].mean == pytest.approx(0.0, abs=1e-3)
    assert result.ground_truth_colorfulness.mean == pytest.approx(185.3142, abs=1e-2)


def test_gain_is_the_paired_difference_to_gray(make_striped_image) -> None:
    # Plain colours: every revealed hint is exact, so more hints can only help.
    colours = [RED, (0.2, 0.7, 0.3), (0.3, 0.4, 0.9), (0.9, 0.8, 0.2)]
    images = [make_striped_image([c], [24], name=f"plain_{i}.png") for i, c in enumerate(colours)]
    result = evaluate_candidates(
        images, [Candidate("paste", PasteHints(), accepts_hints=True)], FAST
    )
    model, gray = result.models[0], result.baseline
    for metric in ("raw_auc", "psnr"):
        expected = (model.values(metric) - gray.values(metric)).mean()
        assert model.gain[metric].mean == pytest.approx(expected)
    # Without hints it is gray; with hints pasted from the ground truth PSNR only rises.
    assert model.gain["psnr"].mean == pytest.approx(0.0)
    sweep = [interval.mean for interval in model.hint_sweep.values()]
    assert list(model.hint_sweep) == [0, 1, 2, 5, 10, 20, 50, 100]
    assert sweep[0] == pytest.approx(gray.summary["psnr"].mean)
    assert all(later >= earlier for earlier, later in itertools.pairwise(sweep))
    assert sweep[-1] > sweep[0] + 1.0


def test_hint_sweep_only_for_hint_models_and_can_be_switched_off(
    make_random_images, caplog
) -> None:
    images = make_random_images(2)
    candidates = [
        Candidate("paste", PasteHints(), accepts_hints=True),
        Candidate("plain", PasteHints()),
    ]
    with caplog.at_level(logging.WARNING):
        result = evaluate_candidates(
            images, candidates, EvaluationSettings(resamples=50, hint_sweep=True)
        )
    assert result.models[0].hint_sweep is not None and result.models[1].hint_sweep is None
    assert "plain does not accept colour hints" in caplog.text
    off = evaluate_candidates(
        images,
        [Candidate("paste", PasteHints(), accepts_hints=True)],
        EvaluationSettings(hint_sweep=False),
    )
    assert off.models[0].hint_sweep is None and off.models[0].scores[0].hint_psnr == {}


def test_labels_are_made_unique(make_random_images) -> None:
    candidates = [
        Candidate("a", PasteHints()),
        Candidate("a", PasteHints()),
        Candidate("gray", PasteHints()),
    ]
    result = evaluate_candidates(make_random_images(1), candidates, FAST)
    assert [m.label for m in result.models] == ["a", "a #2", "gray #2"]


def test_a_wrongly_shaped_prediction_is_reported(make_random_images) -> None:
    class Small:
        def predict_ab(self, lightness, hints=None):
            return torch.zeros(1, 2, 1, 1)

    with pytest.raises(RuntimeError, match="returned ab of shape"):
        evaluate_candidates(make_random_images(1), [Candidate("small", Small())], FAST)


def test_a_given_prior_is_used_and_recorded(make_random_images) -> None:
    images = make_random_images(2)
    uniform = torch.full(
        (evaluation_bins().shape[0],), 1.0 / evaluation_bins().shape[0], dtype=torch.float64
    )
    given = evaluate_candidates(images, [], FAST, prior=uniform, prior_source="uniform.npy")
    own = evaluate_candidates(images, [], FAST)
    assert given.provenance.prior_source == "uniform.npy"
    assert own.provenance.prior_source == "the evaluation images"
    assert (
        given.baseline.summary["rebalanced_auc"].mean != own.baseline.summary["rebalanced_auc"].mean
    )


def test_a_real_model_is_deterministic_and_sweeps_hints(make_random_images) -> None:
    torch.manual_seed(0)
    candidate = build_candidate(ModelSpec("compact", pretrained=False), FAST)
    assert candidate.accepts_hints and candidate.weights == "random initialization"
    images = make_random_images(2, height=40, width=56)
    settings = EvaluationSettings(resamples=200, hint_counts=(0, 3, 30))
    first = evaluate_candidates(images, [candidate], settings).to_dict()
    second = evaluate_candidates(images, [candidate], settings).to_dict()
    assert first == second
    assert [row["hints"] for row in first["models"][0]["hint_sweep"]] == [0, 3, 30]
    assert first["images"][0]["eval_size"] == [56, 40]


@pytest.mark.parametrize(
    "change",
    [
        {"eval_size": 8},
        {"limit": 0},
        {"temperature": 0.0},
        {"hint_counts": (1, 1)},
        {"confidence": 1.0},
        {"rebalance_mix": 2.0},
    ],
)
def test_settings_out_of_range_are_refused(change) -> None:
    with pytest.raises(ConfigError):
        check_settings(EvaluationSettings(**change))


def test_evaluate_needs_a_model(tmp_path) -> None:
    with pytest.raises(ConfigError, match="at least one model"):
        evaluate(tmp_path, [])


class Tinted:
    """The ground truth shifted by a constant ab offset: a pure colour cast."""

    def __init__(self, ab: torch.Tensor, offset: tuple[float, float]) -> None:
        self.ab = ab + torch.tensor(offset).view(1, 2, 1, 1)

    def predict_ab(self, lightness, hints=None) -> torch.Tensor:
        return self.ab.expand(lightness.shape[0], -1, -1, -1).clone()


def test_colour_cast_is_the_mean_ab_offset_and_its_length(make_striped_image) -> None:
    image = make_striped_image([RED, MID_GRAY], [4, 4])
    result = evaluate_candidates([image], [Candidate("tinted", Tinted(image.ab, (3.0, -4.0)))], FAST)
    scores = result.models[0].scores[0]
    assert (scores.cast_a, scores.cast_b, scores.color_cast) == pytest.approx((3.0, -4.0, 5.0), abs=1e-4)
    # gray's cast is the chroma of the original's mean colour
    true_mean = image.ab.double().mean(dim=(0, 2, 3))
    gray = result.baseline.scores[0]
    assert (gray.cast_a, gray.cast_b) == pytest.approx((-float(true_mean[0]), -float(true_mean[1])), abs=1e-4)
    assert gray.color_cast == pytest.approx(float(true_mean.norm()), abs=1e-4)
    assert result.models[0].summary["color_cast"].mean == pytest.approx(5.0, abs=1e-4)
    assert result.models[0].gain["color_cast"].mean == pytest.approx(5.0 - gray.color_cast, abs=1e-4)
