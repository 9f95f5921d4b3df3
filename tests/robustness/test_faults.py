"""Issue 7, faults: an output folder that refuses writes, a full disk, Ctrl-C and SIGTERM in
the middle of a folder. Nothing is lost or half-written, the answer is one clear line, and a
re-run resumes. (Weights faults are in tests/models/test_weights.py.)"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from masterpiece import atomic
from masterpiece.cli.main import EXIT_INTERRUPTED, EXIT_OK, EXIT_OUTPUT, EXIT_TERMINATED, main
from masterpiece.pipeline.decoding import read_image

from .corpus import TRACEBACK, fingerprint, gray_pixels, model_options

N_IMAGES = 20

# Runs the CLI with every output write paused half-way, so that a signal sent while a
# temporary file exists lands in the middle of a write.
SLOW_WRITER = """
import sys, time
from masterpiece import atomic

write_all = atomic._write_all

def half_then_pause(descriptor, data):
    write_all(descriptor, data[: len(data) // 2])
    time.sleep(0.3)
    write_all(descriptor, data[len(data) // 2 :])

atomic._write_all = half_then_pause
from masterpiece.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(N_IMAGES):
        Image.fromarray(gray_pixels(seed=index)).save(folder / f"photo {index:02d}.png")
    return folder


def _command(photos: Path, out: Path, weights: Path) -> list[str]:
    return ["colorize", str(photos), "-o", str(out), *model_options(weights)]


def _outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))


def _temporaries(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.name.endswith(".part"))


# --------------------------------------------------------------------------- write failures


def test_a_folder_that_refuses_writes_stops_the_batch(
    photos: Path, tmp_path: Path, compact_weights: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """As root chmod cannot make a folder read-only, so os.open is made to refuse."""
    before = fingerprint(photos)
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".part"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", refuse)
    out = tmp_path / "out"
    assert main(_command(photos, out, compact_weights)) == EXIT_OUTPUT
    err = capsys.readouterr().err
    assert "permission denied; choose a folder you can write to" in err
    assert f"stopping: every later output would fail the same way; {N_IMAGES - 1} image(s)" in err
    assert err.count("permission denied") == 1 and not TRACEBACK.search(err)
    assert _outputs(out) == [] and _temporaries(out) == []
    assert fingerprint(photos) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_for_real(
    photos: Path, tmp_path: Path, compact_weights: Path, capsys
) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o500)
    assert main(_command(photos, out, compact_weights)) == EXIT_OUTPUT
    assert "permission denied" in capsys.readouterr().err


def test_a_full_disk_stops_the_batch_and_leaves_no_partial_file(
    photos: Path, tmp_path: Path, compact_weights: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "out"
    first = out / "photo 00.png"
    real_write = os.write

    def fills_up_after_the_first_output(descriptor: int, data) -> int:
        if first.exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, data)

    monkeypatch.setattr(atomic.os, "write", fills_up_after_the_first_output)
    assert main(_command(photos, out, compact_weights)) == EXIT_OUTPUT
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "'" + str(out / "photo 01.png") + "': the disk is full; free some space" in err
    assert f"{N_IMAGES - 2} image(s) were not processed" in err
    assert "colorized 1 image(s)" in err and "; 1 failed" in err
    assert _outputs(out) == [first] and _temporaries(out) == []
    assert read_image(first).size == (48, 32)


def test_a_one_off_write_failure_does_not_stop_the_batch(
    photos: Path, tmp_path: Path, compact_weights: Path, capsys
) -> None:
    out = tmp_path / "out"
    (out / "photo 03.png").mkdir(parents=True)  # a folder where an output should go
    code = main([*_command(photos, out, compact_weights), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 1 and "it is a folder" in err and f"colorized {N_IMAGES - 1} image(s)" in err


# --------------------------------------------------------------------------- interruptions


def _reset_signals() -> None:
    """In the child: default actions, whatever the test runner ignores."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"the run ended or stalled before the signal:\n{err.decode()}")
        time.sleep(0.02)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(
    ("signum", "code", "message"),
    [(signal.SIGINT, EXIT_INTERRUPTED, "masterpiece: interrupted"),
     (signal.SIGTERM, EXIT_TERMINATED, "masterpiece: terminated (SIGTERM)")],
    ids=["SIGINT", "SIGTERM"],
)  # fmt: skip
def test_a_signal_in_the_middle_of_a_folder_leaves_whole_files_and_resumes(
    photos: Path, tmp_path: Path, compact_weights: Path, capsys, signum: int, code: int,
    message: str,
) -> None:  # fmt: skip
    before = fingerprint(photos)
    out = tmp_path / "out"
    command = [sys.executable, "-c", SLOW_WRITER, *_command(photos, out, compact_weights)]
    process = subprocess.Popen(  # preexec_fn only resets two signal actions: thread-safe enough
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_reset_signals,  # noqa: PLW1509
    )
    _wait_for(lambda: out.is_dir() and _outputs(out) and _temporaries(out), process)
    process.send_signal(signum)  # while an output is half written
    _, stderr = process.communicate(timeout=60)
    err = stderr.decode("utf-8", "backslashreplace")
    assert process.returncode == code, err
    assert message in err and "run the same command again" in err and not TRACEBACK.search(err)
    finished = _outputs(out)
    assert 0 < len(finished) < N_IMAGES and _temporaries(out) == []
    for output in finished:  # whole files only under final names
        assert read_image(output).size == (48, 32)
    assert fingerprint(photos) == before

    assert main(_command(photos, out, compact_weights)) == EXIT_OK
    err = capsys.readouterr().err
    assert f"colorized {N_IMAGES - len(finished)} image(s)" in err
    assert f"skipped {len(finished)} existing output(s)" in err
    assert len(_outputs(out)) == N_IMAGES


def test_the_sigterm_handler_is_restored_after_main(photos: Path, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert main(["colorize", str(photos), "--quality", "0"]) == 2
    assert signal.getsignal(signal.SIGTERM) == before


# --------------------------------------------------------------------------- the last resort


@pytest.mark.parametrize(
    ("raised", "line"),
    [
        (RuntimeError("a bug"), "masterpiece: internal error: RuntimeError: a bug; this is a bug"),
        (MemoryError(), "masterpiece: error: out of memory; try smaller images"),
    ],
    ids=["bug", "out of memory"],
)
def test_an_unexpected_error_is_one_line_not_a_traceback(
    photos: Path,
    tmp_path: Path,
    compact_weights: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    raised: BaseException,
    line: str,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr("masterpiece.pipeline.image.Colorizer.colorize_file", fail)
    assert main(_command(photos, tmp_path / "out", compact_weights)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(line) and not TRACEBACK.search("\n".join(lines))


def test_a_closed_standard_output_is_one_line(photos: Path, compact_weights: Path) -> None:
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", "-"]  # stdin to stdout
    command += model_options(compact_weights)
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # the reader went away (`| head -c 0`)
    _, stderr = process.communicate((photos / "photo 00.png").read_bytes(), timeout=120)
    err = stderr.decode()
    assert process.returncode == EXIT_OUTPUT, err
    assert "standard output was closed" in err and not TRACEBACK.search(err)
