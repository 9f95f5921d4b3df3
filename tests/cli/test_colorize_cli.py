"""``masterpiece colorize`` through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.cli.main import EXIT_PARTIAL_FAILURE, EXIT_USAGE, main


@pytest.fixture
def photo_tree(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    root = tmp_path / "scans"
    (root / "album 1").mkdir(parents=True)
    Image.fromarray(gray_photo).save(root / "a.png")
    Image.fromarray(gray_photo).save(root / "album 1" / "b é.jpg")
    return root


def _args(weights: Path) -> list[str]:
    return ["--model", "compact", "--weights", str(weights)]


def test_single_file_default_output(photo_tree, compact_weights, capsys):
    code = main(["colorize", str(photo_tree / "a.png"), *_args(compact_weights)])
    assert code == 0
    output = photo_tree / "a_colorized.png"
    assert output.exists() and Image.open(output).mode == "RGB"
    captured = capsys.readouterr()
    assert str(output) in captured.out and "model compact" in captured.err


def test_folder_mirrors_tree_and_skips_existing(photo_tree, compact_weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["colorize", str(photo_tree), "-o", str(out), *_args(compact_weights)]) == 0
    assert (out / "a.png").exists() and (out / "album 1" / "b é.jpg").exists()
    before = (out / "a.png").stat().st_mtime_ns
    assert main(["colorize", str(photo_tree), "-o", str(out), *_args(compact_weights)]) == 0
    assert "skipped 2 existing" in capsys.readouterr().err
    assert (out / "a.png").stat().st_mtime_ns == before
    assert main(["colorize", str(photo_tree), "-o", str(out), "--overwrite", *_args(compact_weights)]) == 0


def test_folder_without_a_terminal_prints_only_the_summary(photo_tree, compact_weights, tmp_path, capsys):
    assert main(["colorize", str(photo_tree), "-o", str(tmp_path / "out"), *_args(compact_weights)]) == 0
    # stderr is not a terminal here: no progress bar (its carriage returns fill logs)
    assert capsys.readouterr().err.strip() == "colorized 2 image(s) with model compact"


def test_failure_is_reported_and_others_continue(photo_tree, compact_weights, tmp_path, capsys):
    (photo_tree / "broken.jpg").write_bytes(b"this is not a jpeg")
    out = tmp_path / "out"
    code = main(["colorize", str(photo_tree), "-o", str(out), *_args(compact_weights)])
    assert code == EXIT_PARTIAL_FAILURE
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "1 failed" in err
    assert (out / "a.png").exists() and not (out / "broken.jpg").exists()


def test_never_overwrites_an_input(photo_tree, compact_weights, capsys):
    source = photo_tree / "a.png"
    before = source.read_bytes()
    code = main(["colorize", str(source), "-o", str(source), "--overwrite", *_args(compact_weights)])
    assert code == EXIT_PARTIAL_FAILURE
    assert source.read_bytes() == before
    assert "overwrite an input" in capsys.readouterr().err


def test_missing_input_and_bad_option(compact_weights, tmp_path, capsys):
    assert main(["colorize", str(tmp_path / "nope.jpg"), *_args(compact_weights)]) == EXIT_PARTIAL_FAILURE
    assert "no such file" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path), "--temperature", "0", *_args(compact_weights)]) == EXIT_USAGE
    assert "temperature" in capsys.readouterr().err


def test_unknown_model_is_one_line_error(photo_tree, capsys):
    code = main(["colorize", str(photo_tree / "a.png"), "--model", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "unknown model 'nope'" in err[0]


def test_stdin_to_stdout_through_the_installed_command(photo_tree, compact_weights):
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", "-", "--format", "png", *_args(compact_weights)]
    result = subprocess.run(command, input=(photo_tree / "a.png").read_bytes(), capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"\x89PNG")


def test_version_does_not_import_torch():
    code = "import sys; from masterpiece.cli.main import main\ntry:\n main(['--version'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "masterpiece 0.1.0" in result.stdout and result.stdout.strip().endswith("False")


def test_a_pixel_limit_of_0_in_the_environment_means_no_limit(photo_tree, compact_weights, tmp_path, monkeypatch, capsys):
    source = str(photo_tree / "a.png")
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "0")  # as --max-pixels 0 and MASTERPIECE_SERVE_MAX_PIXELS=0
    assert main(["colorize", source, "-o", str(tmp_path / "free.png"), *_args(compact_weights)]) == 0
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "100")
    assert main(["colorize", source, "-o", str(tmp_path / "small.png"), *_args(compact_weights)]) == EXIT_PARTIAL_FAILURE
    assert "more than the limit of 100" in capsys.readouterr().err
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "-1")
    assert main(["colorize", source, "-o", str(tmp_path / "bad.png"), *_args(compact_weights)]) == EXIT_USAGE
    assert "MASTERPIECE_MAX_PIXELS='-1' is not a whole number of pixels" in capsys.readouterr().err
