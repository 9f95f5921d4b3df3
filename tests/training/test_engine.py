"""End-to-end training on tiny images: config, checkpoints, resume, validation, torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from masterpiece.cli.main import main
from masterpiece.errors import ConfigError
from masterpiece.models import create_model
from masterpiece.training.config import TrainConfig
from masterpiece.training.engine import train


def _config(photos: Path, out: Path, **overrides) -> TrainConfig:
    settings = dict(
        train_data=[str(photos)], out_dir=str(out), val_data=str(photos), epochs=2, batch_size=3,
        crop_size=32, warmup_steps=1, val_limit=2, val_size=64, checkpoint_every=1, precision="fp32",
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_train_writes_config_checkpoints_and_history(tiny_photos, tmp_path):
    result = train(_config(tiny_photos, tmp_path / "run"))
    run = tmp_path / "run"
    assert result.epochs_completed == 2 and result.steps == 4  # 6 colour images, batch 3
    assert json.loads((run / "config.json").read_text())["crop_size"] == 32
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in history] == [1, 2]
    assert {"loss", "images_per_second", "validation"} <= set(history[0])
    assert history[0]["validation"]["images"] == 2
    for name in ("last.pt", "final.safetensors", "best.safetensors", "epoch_0001.safetensors"):
        assert (run / name).exists(), name
    model = create_model("compact", weights=run / "final.safetensors")
    assert model.accepts_hints


def test_resume_continues_where_it_stopped(tiny_photos, tmp_path):
    train(_config(tiny_photos, tmp_path / "run", epochs=1))
    result = train(_config(tiny_photos, tmp_path / "run", epochs=2))
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert result.steps == 4 and len(history) == 2


def test_resume_refuses_another_architecture(tiny_photos, tmp_path):
    train(_config(tiny_photos, tmp_path / "run", epochs=1))
    with pytest.raises(ConfigError, match="compact"):
        train(_config(tiny_photos, tmp_path / "run", model="eccv16"))


def test_gray_images_are_skipped_and_empty_data_is_an_error(tiny_photos, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    from masterpiece.errors import DataError

    with pytest.raises(DataError, match="no images"):
        train(_config(empty, tmp_path / "run"))


@pytest.mark.parametrize("setting", [{"crop_size": 33}, {"precision": "fp8"}, {"hint_probability": 2.0}])
def test_invalid_settings_are_rejected(tiny_photos, tmp_path, setting):
    with pytest.raises(ConfigError):
        _config(tiny_photos, tmp_path, **setting).validate()


def test_cli_train_and_config_file(tiny_photos, tmp_path, capsys):
    out = tmp_path / "cli-run"
    code = main(["train", str(tiny_photos), "--out", str(out), "--epochs", "1", "--batch-size", "3",
                 "--crop-size", "32", "--precision", "fp32"])
    assert code == 0 and "trained 1 epochs" in capsys.readouterr().out
    config = TrainConfig.load(out / "config.json")
    assert config.batch_size == 3 and config.train_data == [str(tiny_photos)]
    (tmp_path / "bad.json").write_text(json.dumps({"batch_sise": 3}))
    assert main(["train", str(tiny_photos), "--config", str(tmp_path / "bad.json")]) != 0
    assert "batch_sise" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes_with_gloo(tiny_photos, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    out = tmp_path / "ddp"
    command = [
        torchrun, "--standalone", "--nproc-per-node", "2", "-m", "masterpiece.cli", "train", str(tiny_photos),
        "--out", str(out), "--epochs", "2", "--batch-size", "2", "--crop-size", "32", "--precision", "fp32",
        "--device", "cpu",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2  # written once, by rank 0 only
    # 6 images over 2 processes: 3 each, batch 2 without the incomplete last one: 1 step per epoch
    assert history[-1]["step"] == 2
    assert (out / "final.safetensors").exists()
