"""Training helpers of the damage detector: widening keeps what the network computes, the
receptive radius is what the bands need, the training damage is recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from masterpiece.restoration.damage import DamageConfig
from masterpiece.restoration.features import detector_features
from masterpiece.restoration.training import (
    DamageNet,
    _save,
    checkpoint_damage,
    load_checkpoint,
    load_initial,
    scheduled_learning_rate,
    widen,
)

from .conftest import photo_lightness


def _trained_like(seed: int = 0) -> DamageNet:
    """A small network with non-trivial weights everywhere (biases included)."""
    torch.manual_seed(seed)
    model = DamageNet(8, (1, 2))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model.eval()


def test_widen_computes_exactly_what_the_smaller_network_does():
    model = _trained_like()
    wider = widen(model, 12, (1, 2, 4)).eval()
    assert (wider.width, wider.dilations) == (12, (1, 2, 4))
    assert sum(p.numel() for p in wider.parameters()) > sum(p.numel() for p in model.parameters())
    features = torch.from_numpy(detector_features(photo_lightness(64, 96)))[None]
    with torch.no_grad():
        expected, got = model(features), wider(features)
    assert float(expected.abs().max()) > 0.1  # a network that says something
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_widened_channels_can_learn():
    """The new channels start silent but not dead: a training step changes what they send on."""
    wider = widen(_trained_like(), 12, (1, 2, 4)).train()
    features = torch.from_numpy(detector_features(photo_lightness(64, 96)))[None]
    wider(features).mean().backward()
    out_conv = [layer for layer in wider.body if isinstance(layer, torch.nn.Conv2d)][-1]
    assert float(out_conv.weight.grad[:, 8:].abs().sum()) > 0


def test_widen_refuses_to_shrink_or_reorder():
    model = _trained_like()
    with pytest.raises(ValueError):
        widen(model, 6, (1, 2))
    with pytest.raises(ValueError):
        widen(model, 12, (2, 1, 4))


def test_receptive_radius_bounds_what_a_logit_depends_on():
    """One column changed (bright or dark, at each place within a block): no logit more than
    the radius away moves, and some logit within a block of the radius does (the bound is tight)."""
    torch.manual_seed(2)
    model = DamageNet(8, (1, 2, 4))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    model.eval()
    radius = model.receptive_radius
    assert radius == 4 * 7 + 3 + 2 + 8
    plane = photo_lightness(48, 256)
    with torch.no_grad():
        before = model(torch.from_numpy(detector_features(plane))[None])[0, 0]
    farthest = 0
    for column in range(128, 132):
        for value in (5.0, 95.0):
            changed = plane.copy()
            changed[:, column] = value
            with torch.no_grad():
                after = model(torch.from_numpy(detector_features(changed))[None])[0, 0]
            moved = np.flatnonzero((before != after).any(dim=0).numpy())
            farthest = max(farthest, int(np.abs(moved - column).max()))
    assert radius - 4 <= farthest <= radius


def test_band_context_is_what_block_aligned_bands_need():
    assert DamageNet(24, (1, 2, 4, 8)).band_context == 72  # the first detector's
    assert DamageNet(8, (1, 2, 4, 8, 16)).band_context == 136


def test_checkpoint_records_its_damage_and_loads_either_format(tmp_path):
    from safetensors.torch import save_file

    model = _trained_like()
    damage = DamageConfig(cracks=3.0)
    _save(tmp_path / "last.pt", model, 7, damage)
    assert json.loads(checkpoint_damage(tmp_path / "last.pt"))["cracks"] == 3.0
    loaded = load_checkpoint(tmp_path / "last.pt")
    settings = {"width": "8", "dilations": "[1, 2]", "head": "8"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "d.safetensors"), metadata=settings)
    from_safetensors = load_initial(tmp_path / "d.safetensors")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
        assert torch.equal(from_safetensors.state_dict()[key], value)


def test_a_deeper_detector_runs_in_bands_with_its_own_context(tmp_path):
    """The export records the context its receptive field needs, and the detector's bands use
    it: banded logits equal the whole image's (with the first detector's 72 rows they would not)."""
    pytest.importorskip("onnx")
    from safetensors.torch import save_file

    from masterpiece.restoration.learned import DETECTOR_WEIGHTS, LearnedDetector
    from masterpiece.restoration.training import export_bundled_detector

    torch.manual_seed(1)
    model = DamageNet(8, (1, 2, 4, 8, 16))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    settings = {"width": "8", "dilations": "[1, 2, 4, 8, 16]", "head": "8", "threshold": "0.5"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / DETECTOR_WEIGHTS[0]),
              metadata=settings)
    entry = export_bundled_detector(tmp_path)["fp32"]
    plane = photo_lightness(400, 96)
    logits = LearnedDetector(tmp_path / entry.filename).logits(plane)
    threshold = float(1 / (1 + np.exp(-np.quantile(logits, 0.7))))  # one that marks a fair share
    whole = LearnedDetector(tmp_path / entry.filename, threshold=threshold)
    banded = LearnedDetector(tmp_path / entry.filename, threshold=threshold, band_rows=61)  # rounded to 60
    assert whole.context_rows == 136  # 4 * 31 of the body, a block for the head, 8 of the top-hat
    assert 0.2 < whole(plane).mean() < 0.4
    np.testing.assert_array_equal(banded(plane), whole(plane))


def test_learning_rate_warms_up_then_follows_the_cosine():
    assert scheduled_learning_rate(1e-3, 0.0, 1) == pytest.approx(1e-3)  # no warm-up: the peak at once
    assert scheduled_learning_rate(1e-3, 0.0, 10, warmup_steps=100) == pytest.approx(1e-4)
    assert scheduled_learning_rate(1e-3, 0.0, 100, warmup_steps=100) == pytest.approx(1e-3)
    assert scheduled_learning_rate(1e-3, 0.5, 500, warmup_steps=100) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert scheduled_learning_rate(1e-3, 1.0, 500) == pytest.approx(5e-5)


def test_training_runs_with_several_damage_workers_on_the_named_device(tmp_path, caplog):
    """``workers`` processes draw the damage and ``device`` holds the network (``cpu`` here; a
    lent GPU passes ``cuda``); the checkpoint loads on the CPU. A pack's layout (``train/``,
    ``train_people/`` of JPEG files) is what it reads."""
    from PIL import Image

    from masterpiece.errors import ConfigError
    from masterpiece.restoration.training import train

    root = tmp_path / "pack"
    (root / "train").mkdir(parents=True)
    (root / "train_people").mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (180, 200, 3), dtype=np.uint8)).save(root / "train_people" / f"{index}.jpg")
    import logging

    with caplog.at_level(logging.INFO, logger="masterpiece.restoration.training"):
        last = train(tmp_path / "run", root, minutes=0.05, batch=2, photos=3, workers=2, device="cpu", threads=1)
    assert "damage drawn by 2 worker process(es), the network on cpu" in caplog.text
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert load_checkpoint(last).width == 24 and torch.load(last, weights_only=True)["step"] >= 1
    assert all(record["loss"] > 0 for record in records)
    with pytest.raises(ConfigError, match="workers"):
        train(tmp_path / "run2", root, minutes=0.01, workers=0)
