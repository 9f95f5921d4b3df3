"""The restoration measurement on a tiny folder of generated photographs: fixed seeds, the
oracle mask, a detector that finds nothing, and the baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.errors import DataError
from masterpiece.restoration.classical import ClassicalDetector
from masterpiece.restoration.damage import DAMAGE_KINDS, DamageConfig
from masterpiece.restoration.evaluation import (
    evaluate,
    kinds_table,
    markdown_table,
    small_regions,
    validation_set,
)

from .conftest import photo_lightness


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for index in range(2):
        gray = (photo_lightness(160, 200, seed=index) * 2.55).astype(np.uint8)
        Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / f"photo{index}.png")
    return tmp_path


def test_the_set_is_fixed_and_seeded(folder: Path) -> None:
    first = [(name, damaged) for name, _, damaged, _, _ in validation_set(folder)]
    again = [(name, damaged) for name, _, damaged, _, _ in validation_set(folder)]
    assert [name for name, _ in first] == ["photo0.png", "photo1.png"]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again))


def test_rows_oracle_nothing_and_baseline(folder: Path) -> None:
    results = evaluate({"nothing": lambda plane: np.zeros(plane.shape, bool), "classical": ClassicalDetector()},
                       folder, fills=("telea",))
    rows = results["rows"]
    assert results["photos"] == 2 and set(rows) == {"oracle/telea", "nothing/telea", "classical/telea"}
    assert rows["oracle/telea"]["f1"] == 1.0 and rows["oracle/telea"]["psnr_gain_db"] > 3
    nothing = rows["nothing/telea"]
    assert nothing["recall"] == 0 and nothing["f1"] == 0 and nothing["clean_untouched"] == 1.0
    assert nothing["psnr_restored_db"] == pytest.approx(nothing["psnr_damaged_db"])
    assert 0 < rows["classical/telea"]["f1"] < 1 and 0 < rows["classical/telea"]["clean_untouched"] <= 1
    assert "| classical/telea |" in markdown_table(results)


def test_figures_by_damage_kind(folder: Path) -> None:
    """Each kind's share of the damage and its PSNR, pooled like the overall figures."""
    nothing = lambda plane: np.zeros(plane.shape, bool)
    rows = evaluate({"nothing": nothing}, folder, fills=("telea",))["rows"]
    drawn, missed = rows["oracle/telea"], rows["nothing/telea"]
    assert set(drawn["by_kind"]) <= set(DAMAGE_KINDS) and len(drawn["by_kind"]) >= 2
    for kind, figures in drawn["by_kind"].items():
        assert figures["recall"] == 1.0 and missed["by_kind"][kind]["recall"] == 0.0
        assert 0 < figures["pixel_share"] <= 1 and 0 < figures["damaged_error_share"] <= 1
        # nothing found: every kind keeps the damaged input's error
        assert missed["by_kind"][kind]["psnr_restored_db"] == pytest.approx(figures["psnr_damaged_db"])
        assert missed["by_kind"][kind]["restored_error_share"] == pytest.approx(figures["damaged_error_share"])
    # kinds overlap at most a little: their shares add up to about the whole
    assert 0.95 <= sum(f["pixel_share"] for f in drawn["by_kind"].values()) <= 1.3
    assert 0.95 <= sum(f["damaged_error_share"] for f in drawn["by_kind"].values()) <= 1.3
    gains = [f["psnr_restored_db"] - f["psnr_damaged_db"] for f in drawn["by_kind"].values()]
    assert max(gains) > 3  # the drawn mask's filling helps some kind a lot
    table = kinds_table(drawn)
    assert all(f"| {kind} |" in table for kind in drawn["by_kind"])


def test_the_cracked_set_adds_crack_networks_and_reports_them(folder: Path) -> None:
    """``config=DamageConfig(cracks=N)`` (``--cracks N``) measures another set, with crazing."""
    plain = evaluate({}, folder, fills=("telea",))
    cracked = evaluate({}, folder, fills=("telea",), config=DamageConfig(cracks=40))
    assert "crack" not in plain["rows"]["oracle/telea"]["by_kind"] and plain["damage"]["cracks"] == 0
    assert cracked["rows"]["oracle/telea"]["by_kind"]["crack"]["pixel_share"] > 0.05
    assert cracked["damage"]["cracks"] == 40


def test_small_regions() -> None:
    mask = np.zeros((40, 40), bool)
    mask[2:4, 2:4] = True  # 4 px
    mask[10:30, 10:30] = True  # 400 px
    small = small_regions(mask)
    assert small[2:4, 2:4].all() and not small[10:30, 10:30].any()


def test_an_empty_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no photographs"):
        next(validation_set(tmp_path))


def test_the_command_scores_the_learned_detector_with_or_without_its_torn_corners(
        folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``--no-torn-corners`` scores the detector's own marks (MODEL_CARD's "detector alone" row)."""
    from masterpiece import restoration
    from masterpiece.restoration import evaluation

    made: list[tuple[str, dict]] = []

    class Recording:
        def __init__(self, name: str, **options: object) -> None:
            made.append((name, options))

        def detect(self, plane: np.ndarray) -> np.ndarray:
            return np.zeros(plane.shape, bool)

    monkeypatch.setattr(restoration, "Restorer", Recording)
    for flags, expected in (([], None), (["--no-torn-corners"], False)):
        made.clear()
        assert evaluation.main(["--data", str(folder), "--detector", "learned", *flags]) == 0
        assert made == [("learned", {"torn_corners": expected})]
        assert "| learned/learned |" in capsys.readouterr().out
