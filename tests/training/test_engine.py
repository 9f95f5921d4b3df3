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


def test_gray_images_are_skipped_and_training_runs(mixed_photos, tmp_path, caplog):
    """Seven colour examples among ten files: one step per image at batch size 1, not ten."""
    import logging

    with caplog.at_level(logging.INFO, logger="masterpiece"):
        config = _config(mixed_photos, tmp_path / "run", epochs=1, batch_size=1, val_data=None)
        result = train(config)
    assert "training on 7 images (3 skipped)" in caplog.text
    assert result.steps == 7 and result.final_weights.exists()


def test_empty_data_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    from masterpiece.errors import DataError

    with pytest.raises(DataError, match="no images"):
        train(_config(empty, tmp_path / "run"))


def test_best_weights_are_the_best_validation_epoch_not_the_last(
    tiny_photos, tmp_path, monkeypatch
):
    """Three epochs validated for real, a known offset added to each score so that the second
    epoch is the best: best.safetensors holds that epoch's weights, not the last epoch's."""
    import dataclasses

    import torch
    from safetensors.torch import load_file

    from masterpiece.training import engine

    real_validate, offsets = engine.validate, iter([0.0, 100.0, 0.0])

    def validate_with_offset(*args, **kwargs):
        result = real_validate(*args, **kwargs)
        return dataclasses.replace(result, auc_raw=result.auc_raw + next(offsets))

    monkeypatch.setattr(engine, "validate", validate_with_offset)
    settings = {"epochs": 3, "batch_size": 6, "val_limit": 1, "learning_rate": 3e-3}
    config = _config(tiny_photos, tmp_path / "run", **settings)
    result = train(config)
    run = tmp_path / "run"
    history = (run / "history.jsonl").read_text().splitlines()
    scores = [json.loads(line)["validation"]["score"] for line in history]
    best_epoch = 1 + max(range(len(scores)), key=scores.__getitem__)
    assert len(scores) == 3 and best_epoch == 2 and result.best_score == pytest.approx(max(scores))

    def weights(name: str) -> dict:
        return load_file(run / name)

    best, chosen = weights("best.safetensors"), weights("epoch_0002.safetensors")
    last = weights("final.safetensors")
    assert best.keys() == chosen.keys()
    assert all(torch.equal(best[key], chosen[key]) for key in best)
    assert not all(torch.equal(best[key], last[key]) for key in best)  # training moved on after it
    assert all(torch.equal(last[key], weights("epoch_0003.safetensors")[key]) for key in last)


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


def _stop_at(step_to_stop: int):
    def callback(trainer, step):
        if step == step_to_stop:
            trainer.request_stop()

    return callback


def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tiny_photos, tmp_path):
    """Model, optimizer, schedule, data order, crops and hints continue exactly after a stop mid-epoch."""
    import torch
    from safetensors.torch import load_file

    from masterpiece.training.engine import Trainer, load_training_state

    settings = dict(epochs=3, batch_size=2, max_steps=7, val_data=None, checkpoint_every_steps=0)
    whole = train(_config(tiny_photos, tmp_path / "whole", **settings))
    interrupted = Trainer(_config(tiny_photos, tmp_path / "resumed", **settings), step_callback=_stop_at(4))
    first = interrupted.run()
    assert interrupted.stopped_early and first.stopped_early and first.steps == 4
    assert not (tmp_path / "resumed" / "final.safetensors").exists()
    state = load_training_state(tmp_path / "resumed" / "last.pt")
    assert state["epoch"] == 1 and state["epoch_progress"]["items"] == 2  # stopped inside epoch 2
    resumed = train(_config(tiny_photos, tmp_path / "resumed", **settings))
    assert resumed.steps == whole.steps == 7
    a = load_file(tmp_path / "whole" / "final.safetensors")
    b = load_file(tmp_path / "resumed" / "final.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    opt_a = load_training_state(tmp_path / "whole" / "last.pt")["optimizer"]["state"]
    opt_b = load_training_state(tmp_path / "resumed" / "last.pt")["optimizer"]["state"]
    for key in opt_a:
        assert torch.equal(opt_a[key]["exp_avg"], opt_b[key]["exp_avg"])
    lines_a = [json.loads(x) for x in (tmp_path / "whole" / "history.jsonl").read_text().splitlines()]
    lines_b = [json.loads(x) for x in (tmp_path / "resumed" / "history.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in lines_a] == pytest.approx([r["loss"] for r in lines_b])


def test_periodic_checkpoints_inside_an_epoch_resume_from_their_step(tiny_photos, tmp_path):
    from masterpiece.training.engine import Trainer, load_training_state

    settings = dict(epochs=1, batch_size=1, val_data=None, checkpoint_every_steps=2)
    trainer = Trainer(_config(tiny_photos, tmp_path / "run", **settings), step_callback=_stop_at(3))
    trainer.run()
    state = load_training_state(tmp_path / "run" / "last.pt")
    assert state["step"] == 3 and state["epoch_progress"]["items"] == 3


def test_fine_tuning_starts_from_the_given_weights(tiny_photos, tmp_path):
    import torch
    from safetensors.torch import load_file

    train(_config(tiny_photos, tmp_path / "base", epochs=1))
    base = tmp_path / "base" / "final.safetensors"
    tuned = train(_config(tiny_photos, tmp_path / "tuned", epochs=1, init_weights=str(base), learning_rate=1e-12))
    a, b = load_file(base), load_file(tuned.final_weights)
    assert torch.allclose(a["class_head.weight"].float(), b["class_head.weight"].float(), atol=1e-3)
    fresh = load_file(train(_config(tiny_photos, tmp_path / "fresh", epochs=1, learning_rate=1e-12)).final_weights)
    assert not torch.allclose(a["class_head.weight"].float(), fresh["class_head.weight"].float(), atol=1e-3)
