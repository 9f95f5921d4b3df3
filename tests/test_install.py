"""``pip install masterpiece`` without extras: no PyTorch, and the command colorizes a photo.

Creates a fresh virtual environment and installs this checkout into it from the package
registry (about 80 MB of wheels: ONNX Runtime, OpenCV, NumPy, Pillow), so it is marked
``install`` and ``slow``: ``pytest -m install`` runs it alone, ``-m "not install"`` skips it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.install]


def _site_packages_mb(environment: Path) -> float:
    (site,) = environment.glob("lib/python*/site-packages")
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6


@pytest.fixture
def environment(tmp_path: Path):
    """A fresh virtual environment, deleted afterwards (it holds about 300 MB)."""
    path = tmp_path / "venv"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _new_user(tmp_path: Path) -> dict[str, str]:
    """The environment of a new user: empty HOME and weights cache, no torch on the path."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    variables = {key: value for key, value in os.environ.items() if not key.startswith(("MASTERPIECE_", "PYTHON"))}
    return {**variables, "HOME": str(home), "MASTERPIECE_CACHE": str(home / "cache")}


def _masterpiece(environment: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed command as a new user without a terminal (no stdin, own session)."""
    return subprocess.run([str(environment / "bin" / "masterpiece"), *args], capture_output=True, text=True,
                          timeout=300, check=False, cwd=tmp_path, env=_new_user(tmp_path),
                          stdin=subprocess.DEVNULL, start_new_session=True)


def test_a_plain_install_has_no_torch_and_colorizes(
    tmp_path: Path, environment: Path, gray_photo: np.ndarray
) -> None:
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(REPO)],
                             capture_output=True, text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                               text=True, check=True).stdout.lower()
    assert "torch" not in installed and "safetensors" not in installed, installed
    photo = tmp_path / "photo.png"
    Image.fromarray(gray_photo).save(photo)
    out = tmp_path / "colour.jpg"
    done = _masterpiece(environment, tmp_path, "colorize", str(photo), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert done.stderr.strip() == "colorized 1 image(s) with model compact"
    assert Image.open(out).size == (128, 96)
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(gray_photo).save(folder / name)
    batch = _masterpiece(environment, tmp_path, "colorize", str(folder), "-o", str(tmp_path / "colour"))
    assert batch.returncode == 0 and batch.stderr.strip() == "colorized 2 image(s) with model compact", batch.stderr
    needs_torch = _masterpiece(environment, tmp_path, "train", str(tmp_path))
    assert needs_torch.returncode == 2 and "pip install 'masterpiece[torch]'" in needs_torch.stderr
    print(f"site-packages of the plain install: {_site_packages_mb(environment):.0f} MB", file=sys.stderr)
