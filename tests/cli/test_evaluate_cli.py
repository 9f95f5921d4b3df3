"""``masterpiece evaluate`` through the real entry point, on small synthetic photographs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from masterpiece.cli.main import EXIT_MODEL, EXIT_OK, EXIT_OUTPUT, main
from masterpiece.models import create_model, save_safetensors

VAL_DIR = Path(__file__).parents[2] / ".." / "shared" / "data" / "val"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random compact weights saved as a local file, as a user would pass with --weights."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "compact-random.safetensors"
    return save_safetensors(create_model("compact", pretrained=False).state_dict(), path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small colour photographs (smooth gradients) and one grayscale file."""
    folder = tmp_path_factory.mktemp("photos")
    y, x = np.mgrid[0:40, 0:60]
    for k in range(2):
        rgb = np.stack(
            ((x * 4 + 40 * k) % 256, (y * 6) % 256, np.full_like(x, 90 + 60 * k)), axis=-1
        )
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"photo_{k}.png")
    Image.fromarray(np.full((20, 20), 99, dtype=np.uint8), "L").save(folder / "gray.png")
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluate(data: Path, out: Path, *options: object) -> int:
    """``masterpiece evaluate --data DATA --out OUT OPTIONS...`` through the real entry point."""
    return main(["evaluate", "--data", str(data), "--out", str(out), *map(str, options)])


def test_evaluate_writes_the_report_and_prints_a_summary(photos, weights_file, tmp_path, capsys):
    out = tmp_path / "report"
    options = (
        "--model",
        "compact",
        "--weights",
        weights_file,
        "--eval-size",
        48,
        "--no-hint-sweep",
    )
    assert evaluate(photos, out, *options) == EXIT_OK
    printed = capsys.readouterr().out
    assert "gray" in printed and "compact (compact-random.safetensors)" in printed
    assert f"report: {out / 'report.html'}" in printed and "1 files skipped" in printed
    data = json.loads((out / "metrics.json").read_text())
    model = data["models"][0]
    assert model["weights_sha256"] == sha256(weights_file) and model["hint_sweep"] is None
    assert data["data"]["evaluated"] == 2 and data["data"]["skipped"][0]["name"] == "gray.png"
    assert data["settings"]["eval_size"] == 48 and data["package"]["version"]
    assert "commit" in data
    assert (out / "metrics.csv").is_file() and (out / "plots" / "accuracy.png").is_file()


def test_two_models_side_by_side_are_deterministic(photos, weights_file, tmp_path) -> None:
    state = create_model("compact", pretrained=False).state_dict()
    other = save_safetensors(state, tmp_path / "other.safetensors")
    models = (
        "--model",
        "compact",
        "--weights",
        weights_file,
        "--model",
        "compact",
        "--weights",
        other,
    )
    runs = []
    for name in ("one", "two"):
        assert (
            evaluate(photos, tmp_path / name, *models, "--eval-size", 32, "--limit", 1, "--seed", 3)
            == EXIT_OK
        )
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0] == runs[1]
    labels = [m["label"] for m in runs[0]["models"]]
    assert labels == ["compact (compact-random.safetensors)", "compact (other.safetensors)"]
    sweep = runs[0]["models"][1]["hint_sweep"]
    assert [row["hints"] for row in sweep] == [0, 1, 2, 5, 10, 20, 50, 100]
    assert runs[0]["data"]["evaluated"] == 1


def test_an_empty_folder_is_a_clear_error(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert evaluate(tmp_path / "empty", tmp_path / "r", "--model", "compact") != EXIT_OK
    assert "holds no files" in capsys.readouterr().err


def test_an_existing_report_is_not_overwritten(photos, tmp_path, capsys) -> None:
    (tmp_path / "metrics.json").write_text("{}")
    assert evaluate(photos, tmp_path, "--model", "compact") == EXIT_OUTPUT
    assert "--overwrite" in capsys.readouterr().err


def test_unknown_model_and_missing_weights_file(photos, tmp_path, capsys) -> None:
    assert evaluate(photos, tmp_path / "a", "--model", "nope") == EXIT_MODEL
    assert "unknown model 'nope'" in capsys.readouterr().err
    missing = tmp_path / "absent.safetensors"
    assert (
        evaluate(photos, tmp_path / "b", "--model", "compact", "--weights", missing) == EXIT_MODEL
    )


def test_weights_must_follow_a_model(photos, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        evaluate(photos, tmp_path, "--weights", "w.safetensors", "--model", "compact")
    assert exit_info.value.code == 2
    assert "must follow the --model" in capsys.readouterr().err


@pytest.mark.data
@pytest.mark.skipif(
    not VAL_DIR.is_dir(), reason=f"the shared validation images are not at {VAL_DIR}"
)
def test_runs_on_the_shared_validation_images(weights_file, tmp_path) -> None:
    out = tmp_path / "val-report"
    assert (
        evaluate(VAL_DIR, out, "--model", "compact", "--weights", weights_file, "--limit", 3)
        == EXIT_OK
    )
    data = json.loads((out / "metrics.json").read_text())
    assert data["data"]["evaluated"] == 3
    assert data["images"][0]["original_size"] in ([768, 512], [512, 768])
    assert data["images"][0]["eval_size"] in ([256, 171], [171, 256])
    assert (out / "plots" / "hint_sweep.png").is_file()


def test_without_model_evaluates_the_default_model(photos, tmp_path, capsys) -> None:
    """The model ``colorize`` would use (here the bundled one: the test cache is empty)."""
    from masterpiece.models import get_model_info
    from masterpiece.models.selection import default_model_name

    out = tmp_path / "report"
    assert evaluate(photos, out, "--eval-size", 32, "--limit", 1, "--no-hint-sweep") == EXIT_OK
    name = default_model_name()
    assert name == "compact"
    assert f"evaluating model {name} (the default" in capsys.readouterr().out
    [model] = json.loads((out / "metrics.json").read_text())["models"]
    registered = get_model_info(name).weights  # its registered weights, not a file given
    assert model["model"] == name and model["weights_sha256"] == registered.sha256


def test_without_model_and_without_any_weights(photos, tmp_path, capsys, monkeypatch) -> None:
    from masterpiece.models import selection

    monkeypatch.setattr(selection, "available_models", list)
    assert evaluate(photos, tmp_path / "report", "--no-hint-sweep") == EXIT_MODEL
    assert "no model weights are available" in capsys.readouterr().err
