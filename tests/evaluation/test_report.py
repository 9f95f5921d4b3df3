"""The report folder: strict JSON, one CSV row per image and model, an HTML page with its files."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch

from masterpiece.errors import OutputExistsError
from masterpiece.evaluation.data import SkippedFile
from masterpiece.evaluation.report import ranked_examples, write_report
from masterpiece.evaluation.results import EvaluationSettings
from masterpiece.evaluation.runner import Candidate, evaluate_candidates


class Tinted:
    """Predicts one fixed ab everywhere, pastes hints where given."""

    def __init__(self, a: float) -> None:
        self.a = a

    def predict_ab(self, lightness, hints=None) -> torch.Tensor:
        ab = lightness.new_zeros(lightness.shape[0], 2, *lightness.shape[-2:])
        ab[:, 0] = self.a
        return ab if hints is None else torch.where(hints.mask > 0, hints.ab, ab)


@pytest.fixture(scope="module")
def result(make_random_images):
    images = make_random_images(5)
    candidates = [
        Candidate(
            "tinted",
            Tinted(8.0),
            accepts_hints=True,
            model="compact",
            weights="w.st",
            weights_sha256="ab" * 32,
        ),
        Candidate("plain <b>", Tinted(-5.0)),
    ]
    return evaluate_candidates(
        images,
        candidates,
        EvaluationSettings(resamples=100),
        skipped=[SkippedFile("x<script>.png", "grayscale")],
        data_dir="photos",
    )


def test_report_files_are_complete_and_consistent(result, tmp_path: Path) -> None:
    paths = write_report(result, tmp_path / "report")
    data = json.loads(
        paths.json.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}")
    )
    assert {
        "package",
        "commit",
        "settings",
        "data",
        "prior",
        "baseline",
        "models",
        "images",
    } <= set(data)
    assert data["baseline"]["label"] == "gray"
    assert data["models"][0]["weights_sha256"] == "ab" * 32
    assert data["models"][0]["gain_over_gray"]["rebalanced_auc"]["n"] == 5
    assert len(data["models"][0]["accuracy_curve"]["raw"]) == 151
    assert data["data"]["skipped"] == [{"name": "x<script>.png", "reason": "grayscale"}]
    assert set(data["images"][0]["scores"]) == {"gray", "tinted", "plain <b>"}
    assert len(data["prior"]["values"]) == 262

    with paths.csv.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 5 * 3
    assert (
        rows[1]["model"] == "tinted" and rows[1]["psnr_hints_100"] and not rows[0]["psnr_hints_100"]
    )
    assert float(rows[1]["raw_auc"]) == pytest.approx(result.models[0].scores[0].raw_auc)

    page = paths.html.read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    assert {"plots/accuracy.png", "plots/colorfulness.png", "plots/hint_sweep.png"} <= set(sources)
    assert any(s.startswith("thumbnails/") for s in sources)
    assert all((paths.directory / s).is_file() for s in sources)
    assert "x&lt;script&gt;.png" in page and "<script>" not in page and "plain &lt;b&gt;" in page
    assert "tinted: best</h3>" in page and "tinted: worst</h3>" in page


def test_an_existing_report_is_kept_unless_overwrite(result, tmp_path: Path) -> None:
    write_report(result, tmp_path)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_report(result, tmp_path)
    write_report(result, tmp_path, overwrite=True)


def test_best_and_worst_do_not_overlap(result) -> None:
    best, worst = ranked_examples(result.models[0], 4)
    assert len(best) == 4 and worst == [i for i in worst if i not in best] and len(worst) == 1
    psnr = result.models[0].values("psnr")
    assert psnr[best[0]] == psnr.max() and psnr[worst[0]] == psnr.min()


def test_colour_cast_is_reported_per_image_and_overall(result, tmp_path: Path) -> None:
    paths = write_report(result, tmp_path / "report")
    data = json.loads(paths.json.read_text())
    for evaluation in (data["baseline"], *data["models"]):
        assert {"color_cast", "cast_a", "cast_b"} <= set(evaluation["summary"])
    first = data["images"][0]["scores"]
    assert first["tinted"]["color_cast"] == pytest.approx(result.models[0].scores[0].color_cast)
    assert first["gray"]["color_cast"] == pytest.approx(result.baseline.scores[0].color_cast)
    page = paths.html.read_text()
    assert "Colour cast" in page and "cast " in page
    with paths.csv.open(newline="") as file:
        assert "color_cast" in next(csv.reader(file))
