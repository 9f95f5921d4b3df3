"""Packing training photographs small (for a lent GPU): sizes, budget, layout, never overwriting."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from masterpiece.errors import ConfigError, OutputError, OutputExistsError
from masterpiece.training import pack
from masterpiece.training.data import collect_image_paths
from masterpiece.training.pack import QUALITIES, main, pack_photos


def _jpeg_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*.jpg"))


def test_a_pack_holds_the_colour_photographs_small_in_a_folder_of_its_source(mixed_photos, tmp_path):
    mixed_photos = mixed_photos.rename(tmp_path / "train")  # the subfolder takes the source's name
    result = pack_photos([mixed_photos], tmp_path / "pack", short_side=32, budget_mb=10)
    out = tmp_path / "pack"
    files = sorted((out / mixed_photos.name).glob("*.jpg"))
    assert result.photos == len(files) == 7 and result.skipped == 3 and result.dropped == 0  # as training skips
    assert result.quality == QUALITIES[0]  # the budget is ample: the best quality
    for file in files:
        with Image.open(file) as image:
            assert image.format == "JPEG" and min(image.size) == 32
    assert collect_image_paths([out]) == files  # training reads the pack as any folder
    with open(out / "sources.csv", newline="", encoding="utf-8") as listing:
        rows = list(csv.DictReader(listing))
    assert [row["file"] for row in rows] == [f"{mixed_photos.name}/{file.name}" for file in files]
    assert all(Path(row["source"]).parent == mixed_photos for row in rows)
    recorded = json.loads((out / "pack.json").read_text())
    assert recorded["photos"] == 7 and recorded["megabytes"] == pytest.approx(_jpeg_bytes(out) / 1e6, abs=1e-3)
    assert sorted(path.name for path in out.iterdir()) == ["pack.json", "sources.csv", "train"]
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no partial left


def test_a_tight_budget_lowers_the_quality_to_its_floor_then_leaves_photographs_out(tiny_photos, tmp_path):
    full = pack_photos([tiny_photos], tmp_path / "full", short_side=32, budget_mb=10, quality=QUALITIES[-1])
    budget = _jpeg_bytes(tmp_path / "full") * 0.6 / 1e6
    tight = pack_photos([tiny_photos], tmp_path / "tight", short_side=32, budget_mb=budget)
    assert tight.quality == QUALITIES[-1] and tight.dropped >= 1 and tight.photos + tight.dropped == full.photos
    assert sum(path.stat().st_size for path in (tmp_path / "tight").rglob("*") if path.is_file()) <= budget * 1e6
    again = pack_photos([tiny_photos], tmp_path / "again", short_side=32, budget_mb=budget)
    assert sorted(p.name for p in (tmp_path / "again").rglob("*.jpg")) == sorted(
        p.name for p in (tmp_path / "tight").rglob("*.jpg"))  # seeded: the same subset
    assert again.dropped == tight.dropped


def test_an_existing_folder_is_never_written_over(tiny_photos, tmp_path, capsys):
    out = tmp_path / "pack"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match="new folder"):
        pack_photos([tiny_photos], out, short_side=32)
    with pytest.raises(SystemExit) as stopped:
        main([str(tiny_photos), "--out", str(out), "--short-side", "32"])
    assert stopped.value.code == 2 and "exists" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("setting", [{"short_side": 8}, {"budget_mb": 0}, {"quality": 100}])
def test_bad_settings_say_what_is_allowed(tiny_photos, tmp_path, setting):
    with pytest.raises(ConfigError, match="pack settings"):
        pack_photos([tiny_photos], tmp_path / "pack", **setting)


def test_a_failed_write_leaves_neither_the_pack_nor_its_partial_folder(tiny_photos, tmp_path, monkeypatch):
    written = []

    def failing_write(self: Path, data: bytes) -> int:
        if written:
            raise OSError(28, "No space left on device")
        written.append(self)
        return len(data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(OutputError, match="pack"):
        pack_photos([tiny_photos], tmp_path / "pack", short_side=32)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photos"]


def test_the_command_line_reports_what_it_packed(tiny_photos, tmp_path, capsys):
    assert main([str(tiny_photos), "--out", str(tmp_path / "pack"), "--short-side", "32", "--budget-mb", "1"]) == 0
    printed = capsys.readouterr().out
    assert "packed 6 photographs" in printed and f"quality {pack.QUALITIES[0]}" in printed


def test_a_source_named_through_dots_stays_inside_the_pack(tiny_photos, tmp_path):
    """``photos/sub/..`` is the folder ``photos``: its files go to ``pack/photos``, none beside the pack."""
    (tiny_photos / "sub").mkdir()
    before = sorted(path.name for path in tmp_path.iterdir())
    pack_photos([tiny_photos / "sub" / ".."], tmp_path / "pack", short_side=32)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([*before, "pack"])
    assert len(list((tmp_path / "pack" / "photos").glob("*.jpg"))) == 6
    renamed = tiny_photos.rename(tmp_path / "train")
    pack_photos([renamed / "."], tmp_path / "dot", short_side=32)
    assert len(list((tmp_path / "dot" / "train").glob("*.jpg"))) == 6


def test_the_command_line_exits_2_with_the_reason_when_nothing_is_usable(tmp_path, capsys):
    folder = tmp_path / "grays"
    folder.mkdir()
    Image.new("L", (40, 40), 90).save(folder / "gray.png")
    with pytest.raises(SystemExit) as stopped:
        main([str(folder), "--out", str(tmp_path / "pack")])
    assert stopped.value.code == 2 and "training images is usable" in capsys.readouterr().err
    assert not (tmp_path / "pack").exists()
    with pytest.raises(SystemExit) as stopped:
        main([str(folder), "--out", str(tmp_path / "pack"), "--seed", "-1"])
    assert stopped.value.code == 2 and "seed" in capsys.readouterr().err
