"""masterpiece.cli.jobs: how many jobs run at once, and ``$MASTERPIECE_WORKERS`` through the verbs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.cli import jobs
from masterpiece.cli.main import EXIT_OK, EXIT_USAGE, main


def test_worker_count_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASTERPIECE_WORKERS", raising=False)
    monkeypatch.setattr(jobs.os, "cpu_count", lambda: 8)
    assert jobs.worker_count(10) == 2 and jobs.worker_count(1) == 1
    monkeypatch.setattr(jobs.os, "cpu_count", lambda: 1)
    assert jobs.worker_count(10) == 1
    monkeypatch.setenv("MASTERPIECE_WORKERS", "3")
    assert jobs.worker_count(10) == 3 and jobs.worker_count(2) == 2 and jobs.worker_count(0) == 1


@pytest.mark.parametrize("value", ["abc", "-3", "0"])
def test_an_invalid_workers_variable_stops_the_verb_before_any_file(
    tmp_path: Path, gray_photo: np.ndarray, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, value: str
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(gray_photo).save(folder / name)
    monkeypatch.setenv("MASTERPIECE_WORKERS", value)
    out = tmp_path / "out"
    assert main(["restore", str(folder), "-o", str(out), "--detector", "classical"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"MASTERPIECE_WORKERS='{value}' is not a whole number of files at once, 1 or more" in err
    assert not out.exists()
    monkeypatch.setenv("MASTERPIECE_WORKERS", "1")
    assert main(["restore", str(folder), "-o", str(out), "--detector", "classical"]) == EXIT_OK
    assert sorted(path.name for path in out.iterdir()) == ["a.png", "b.png"]
