"""Inference without PyTorch: the bundled model colorizes photos, folders, standard input,
videos and service requests with NumPy, OpenCV and ONNX Runtime alone, and what needs PyTorch
says so in one line.

Each test runs the command in a fresh interpreter. ``BLOCK_TORCH`` puts an import hook in front
that refuses ``torch`` as a missing package would (``ModuleNotFoundError``), so the tests pass
with PyTorch installed; the child reports on stderr which heavy modules it imported.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.models.bundled_onnx import bundled_onnx_path

#: imported by nothing on the way of a colorization
HEAVY = ("torch", "scipy", "matplotlib", "onnx", "safetensors", "skimage")

CHILD = """
import json, sys
if {block}:
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, NoTorch())
code = 1
try:
    {body}
finally:
    print("HEAVY " + json.dumps([m for m in {heavy!r} if m in sys.modules]), file=sys.stderr)
sys.exit(code)
"""
CLI = "from masterpiece.cli.main import main; code = main(sys.argv[1:])"

pytestmark = pytest.mark.skipif(
    bundled_onnx_path("compact", "fp32") is None, reason="this installation ships no ONNX file of the bundled model"
)


def run_child(
    args: list[str], *, block: bool = True, body: str = CLI, stdin: bytes | None = None, precision: str = "auto",
    cwd: Path | None = None, environment: dict[str, str] | None = None,
) -> tuple[int, bytes, list[str], list[str]]:
    """``(exit code, stdout, stderr lines without the report, heavy modules imported)``."""
    environment = {**os.environ, "MASTERPIECE_PRECISION": precision, **(environment or {})}
    script = CHILD.format(block=block, body=body, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", script, *args], input=stdin, capture_output=True, env=environment, cwd=cwd,
        timeout=300, check=False,
    )
    lines = done.stderr.decode(errors="replace").splitlines()
    report = [line for line in lines if line.startswith("HEAVY ")]
    assert report, done.stderr.decode(errors="replace")[-2000:]
    return done.returncode, done.stdout, [line for line in lines if not line.startswith("HEAVY ")], json.loads(report[-1][6:])


@pytest.fixture
def photo(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    path = tmp_path / "old photo.png"
    Image.fromarray(gray_photo).save(path)
    return path


@pytest.mark.parametrize("precision", ["auto", "fp32", "int8"])
def test_a_photo_is_colorized_without_torch(photo: Path, tmp_path: Path, precision: str) -> None:
    out = tmp_path / f"colour-{precision}.png"
    code, stdout, stderr, heavy = run_child(["colorize", str(photo), "-o", str(out)], precision=precision)
    assert code == 0, stderr
    # nothing but the result and the summary: no export, no calibration, no ONNX Runtime notes
    assert stdout.decode().strip() == str(out)
    assert stderr == ["colorized 1 image(s) with model compact"]
    assert heavy == []
    colour = np.asarray(Image.open(out).convert("RGB"), np.int32)
    assert colour.shape == (96, 128, 3) and np.abs(colour[..., 0] - colour[..., 2]).max() > 2  # not gray


def test_standard_input_and_a_folder_are_colorized_without_torch(photo: Path, tmp_path: Path) -> None:
    code, stdout, stderr, heavy = run_child(["colorize", "-"], stdin=photo.read_bytes())
    assert code == 0 and heavy == [], stderr
    assert Image.open(io.BytesIO(stdout)).size == (128, 96)
    folder = tmp_path / "album"
    (folder / "inner").mkdir(parents=True)
    for name in ("a.png", "inner/b.jpg"):
        Image.open(photo).save(folder / name)
    code, _, stderr, heavy = run_child(["colorize", str(folder), "-o", str(tmp_path / "coloured")])
    assert code == 0 and heavy == [], stderr
    assert sorted(p.relative_to(tmp_path / "coloured").as_posix() for p in (tmp_path / "coloured").rglob("*.*")) == [
        "a.png", "inner/b.jpg"]


def test_colorizing_imports_no_torch_even_where_it_is_installed(photo: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "colour.png"
    code, _, stderr, heavy = run_child(["colorize", str(photo), "-o", str(out)], block=False)
    assert code == 0, stderr
    assert heavy == []  # torch is there, but nothing on this path imports it
    body = ("import masterpiece; masterpiece.colorize(sys.argv[1], output=sys.argv[2]); "
            "masterpiece.list_models(); code = 0")
    code, _, stderr, heavy = run_child([str(photo), str(tmp_path / "api.png")], block=False, body=body)
    assert code == 0 and heavy == [], stderr


def test_models_list_works_without_torch() -> None:
    code, stdout, stderr, _ = run_child(["models", "list"])
    assert code == 0, stderr
    assert {"compact", "eccv16", "siggraph17"} <= {line.split()[0] for line in stdout.decode().splitlines() if line}


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["train", "{photos}", "--out", "{tmp}/run"], "training needs PyTorch"),
        (["models", "export", "compact", "-o", "{tmp}/c.onnx"], "`masterpiece models export` needs torch"),
        (["colorize", "{photo}", "-o", "{tmp}/a.png", "--precision", "bf16"], "--precision bf16 needs PyTorch"),
        (["colorize", "{photo}", "-o", "{tmp}/b.png", "--model", "eccv16"], "'eccv16' model"),
        (["colorize", "{photo}", "-o", "{tmp}/c.png", "--model", "compact", "--weights", "{tmp}/mine.pth"],
         "--weights"),
        (["evaluate", "--model", "compact", "--data", "{photos}", "--out", "{tmp}/report"], "needs torch"),
    ],
)
def test_what_needs_torch_says_so_in_one_line(photo: Path, tmp_path: Path, args: list[str], what: str) -> None:
    (tmp_path / "mine.pth").write_bytes(b"not really a checkpoint")
    filled = [arg.format(photo=photo, photos=photo.parent, tmp=tmp_path) for arg in args]
    code, _, stderr, _ = run_child(filled)
    assert code == 2, stderr
    assert len(stderr) == 1 and stderr[0].startswith("masterpiece: error: "), stderr
    assert what in stderr[0] and "pip install 'masterpiece[torch]'" in stderr[0]
    assert not list(tmp_path.glob("?.png"))


def test_an_export_of_other_weights_does_not_stand_in_for_torch(photo: Path, tmp_path: Path) -> None:
    """A cached export of the same model from other weights (an older file) does not count: the
    user is told that PyTorch is needed, before any download is tried."""
    cache = tmp_path / "cache"
    (cache / "onnx").mkdir(parents=True)
    (cache / "onnx" / "eccv16-0123456789abcdef-fp32.onnx").write_bytes(b"an export of other weights")
    environment = {"MASTERPIECE_CACHE": str(cache)}
    code, _, stderr, _ = run_child(["colorize", str(photo), "-o", str(tmp_path / "e.png"), "--model", "eccv16"],
                                   environment=environment)
    assert code == 2, stderr
    assert len(stderr) == 1 and "'eccv16' model" in stderr[0] and "pip install 'masterpiece[torch]'" in stderr[0], stderr
    assert not any(path.suffix == ".pth" for path in cache.rglob("*"))


def test_a_video_is_colorized_without_torch(tmp_path: Path) -> None:
    pytest.importorskip("av")
    import importlib.util

    spec = importlib.util.spec_from_file_location("clips", Path(__file__).parents[1] / "video" / "clips.py")
    clips = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clips)
    source = clips.write_clip(tmp_path / "film.mp4", clips.moving_shapes((64, 48), 6))
    code, _, stderr, heavy = run_child(["video", str(source), str(tmp_path / "colour.mp4")])
    assert code == 0 and heavy == [], stderr
    assert (tmp_path / "colour.mp4").stat().st_size > 0


def test_the_service_colorizes_without_torch(photo: Path) -> None:
    pytest.importorskip("fastapi")
    body = (
        "from fastapi.testclient import TestClient\n"
        "    from masterpiece.service import ServiceSettings, create_app\n"
        "    with TestClient(create_app(ServiceSettings())) as client:\n"
        "        response = client.post('/v1/colorize', files={'file': ('p.png', open(sys.argv[1], 'rb').read(), "
        "'image/png')})\n"
        "    print(response.status_code, response.headers['content-type'], len(response.content))\n"
        "    code = 0 if response.status_code == 200 else 1"
    )
    code, stdout, stderr, heavy = run_child([str(photo)], body=body)
    assert code == 0, (stdout, stderr)
    assert stdout.decode().split()[:2] == ["200", "image/png"] and heavy == []


def _detector_available(detector: str) -> bool:
    from masterpiece.errors import WeightsError
    from masterpiece.restoration import Restorer

    try:
        Restorer(detector)
    except WeightsError:
        return False
    return True


@pytest.mark.parametrize("detector", ["classical", "learned"])
def test_restoring_needs_no_torch(photo: Path, tmp_path: Path, detector: str) -> None:
    if not _detector_available(detector):
        pytest.skip(f"the {detector} detector is not bundled in this checkout")
    out = tmp_path / "mended.png"
    code, _, stderr, heavy = run_child(["restore", str(photo), "-o", str(out), "--save-mask", "--detector", detector])
    assert code == 0 and heavy == [], stderr
    assert out.exists() and (tmp_path / "mended_mask.png").exists()
    code, _, stderr, heavy = run_child(
        ["colorize", str(photo), "-o", str(tmp_path / "colour.png"), "--restore", "--detector", detector])
    assert code == 0 and heavy == [], stderr
