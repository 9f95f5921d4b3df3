"""``masterpiece models``: list, pull and import-caffe through the real entry point."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from masterpiece.cli.main import main
from masterpiece.models import _registry
from masterpiece.models import caffe as caffe_module


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MASTERPIECE_CACHE", str(directory))
    monkeypatch.delenv("MASTERPIECE_OFFLINE", raising=False)
    return directory


@pytest.fixture
def local_eccv16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point eccv16's registered weights at a small local file (pull only downloads and verifies)."""
    source = tmp_path / "served" / "colorization_release_v2-9b330a0b.pth"
    source.parent.mkdir()
    torch.save({"model_out.weight": torch.zeros(2, 313, 1, 1)}, source)
    info = _registry.get_model_info("eccv16")
    spec = dataclasses.replace(
        info.weights, url=source.as_uri(), sha256=hashlib.sha256(source.read_bytes()).hexdigest()
    )
    monkeypatch.setitem(_registry._REGISTRY, "eccv16", dataclasses.replace(info, weights=spec))
    return source


def test_list_shows_every_model(capsys: pytest.CaptureFixture[str], isolated_cache: Path) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["name", "hints", "weights", "size"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert rows["eccv16"][1:3] == ["no", "missing"]
    assert rows["siggraph17"][1:4] == ["yes", "missing", "137"]
    assert "BSD-2-Clause" in out and str(isolated_cache) in out


def test_pull_downloads_verifies_and_prints_the_path(
    local_eccv16: Path, isolated_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "eccv16"]) == 0
    target = isolated_cache / local_eccv16.name
    assert capsys.readouterr().out.strip() == f"eccv16: {target}"
    assert target.read_bytes() == local_eccv16.read_bytes()
    assert main(["models", "list"]) == 0
    assert "eccv16      no     present" in capsys.readouterr().out


def test_pull_offline_fails_in_one_line_with_advice(
    local_eccv16: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MASTERPIECE_OFFLINE", "1")
    assert main(["models", "pull", "eccv16"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("masterpiece: error: ")
    assert "MASTERPIECE_OFFLINE" in err and "--weights FILE" in err
    # several names, all failing: nothing was pulled, so the same code (it was 1, "some failed")
    assert main(["models", "pull", "eccv16", "siggraph17"]) == 3
    assert capsys.readouterr().err.count("masterpiece: error: ") == 2


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["models", "pull"], 2, "NAME"),
        (["models", "pull", "eccv16", "--all"], 2, "NAME"),
        (["models", "pull", "nope"], 3, "unknown model 'nope'"),
        (
            [
                "models",
                "import-caffe",
                "--prototxt",
                "a",
                "--caffemodel",
                "b",
                "--pts-in-hull",
                "c",
            ],
            2,
            "does not exist",
        ),
    ],
)
def test_usage_and_model_errors(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    assert message in capsys.readouterr().err


def test_import_caffe_never_overwrites_without_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The conversion itself is tested in tests/models/test_caffe.py; here only the verb's wiring."""
    state = {"model_out.weight": torch.ones(2, 313, 1, 1)}
    monkeypatch.setattr(caffe_module, "import_caffe_eccv16", lambda *paths: state)
    output = tmp_path / "out.safetensors"
    argv = [
        "models",
        "import-caffe",
        "--prototxt",
        "p",
        "--caffemodel",
        "c",
        "--pts-in-hull",
        "n",
        "-o",
        str(output),
    ]
    assert main(argv) == 0
    assert str(output) in capsys.readouterr().out
    torch.testing.assert_close(load_file(output)["model_out.weight"], state["model_out.weight"])
    output.write_bytes(b"user's file")
    assert main(argv) == 4
    assert "--overwrite" in capsys.readouterr().err
    assert output.read_bytes() == b"user's file"
    assert main([*argv, "--overwrite"]) == 0
    assert not list(tmp_path.glob("*.part"))  # the write went through a temporary file


def test_installed_command_lists_models(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("masterpiece")
    if not command.exists():
        pytest.skip(f"{command} is not installed")
    env = {**os.environ, "MASTERPIECE_CACHE": str(tmp_path)}
    result = subprocess.run(
        [str(command), "models", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "eccv16" in result.stdout and "siggraph17" in result.stdout
