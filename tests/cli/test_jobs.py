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


def test_an_interruption_counts_the_writes_that_finished_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # the jobs running at Ctrl-C finish their atomic writes; the summary said "colorized 1"
    # when three files had been written
    import argparse
    import threading

    import tqdm

    last_written = threading.Event()

    class Worker:
        name, threads = "model fake", 2

        def set_threads(self, threads: int) -> None:
            pass

        def write(self, job: jobs.Job, args: argparse.Namespace, before_write) -> None:
            before_write()
            job.destination.write_bytes(b"colour")
            if job.destination.name == "c.png":
                last_written.set()

    updates = []

    def interrupted_at_the_second(self, n=1):
        updates.append(n)
        if len(updates) == 2:  # Ctrl-C, once every job has written its output
            assert last_written.wait(10)
            raise KeyboardInterrupt

    monkeypatch.setattr(tqdm.tqdm, "update", interrupted_at_the_second)
    monkeypatch.setenv("MASTERPIECE_WORKERS", "2")
    plan = jobs.Plan()
    for name in ("a", "b", "c"):
        plan.add(jobs.Job(tmp_path / f"{name}.jpg", tmp_path / f"{name}.png"))
    with pytest.raises(KeyboardInterrupt):
        jobs.run_plan(plan, argparse.Namespace(overwrite=False), Worker)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]
    assert "colorized 3 image(s) with model fake; interrupted" in capsys.readouterr().err
