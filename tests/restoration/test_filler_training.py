"""Training helpers of the learned filler: the network starts as the inpainting and never
changes a pixel outside the mask, the training masks look like a detector's, a short run
learns and bundles to files the filler loads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from masterpiece.models.bundled_onnx import read_manifest
from masterpiece.restoration.damage import DamageConfig
from masterpiece.restoration.filler_training import (
    FillNet,
    _save,
    detector_like_mask,
    export_bundled_filler,
    filler_loss,
    filler_sample,
    load_bundled_weights,
    load_checkpoint,
)
from masterpiece.restoration.learned_fill import (
    FILLER_NAME,
    FILLER_WEIGHTS,
    LearnedFiller,
    filler_planes,
)

from .conftest import photo_lightness


def _planes(seed: int = 0) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    damaged = photo_lightness(64, 96, seed)
    mask = rng.random(damaged.shape) < 0.1
    inpainted = np.clip(damaged + rng.normal(0, 5, damaged.shape), 0, 100).astype(np.float32)
    return torch.from_numpy(filler_planes(damaged, inpainted, mask))[None], damaged, inpainted, mask


def test_an_untrained_filler_is_the_inpainting_inside_and_the_input_outside():
    planes, damaged, inpainted, mask = _planes()
    with torch.no_grad():
        out = FillNet()(planes)[0, 0].numpy()
    np.testing.assert_allclose(out[mask], inpainted[mask], atol=1e-4)
    np.testing.assert_allclose(out[~mask], damaged[~mask], atol=1e-4)


def test_a_trained_like_filler_changes_nothing_outside_the_mask():
    planes, damaged, _, mask = _planes(1)
    model = FillNet(8, (1, 2))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        out = model(planes)[0, 0].numpy()
    assert np.abs(out[mask] - damaged[mask]).max() > 1  # it does something inside
    np.testing.assert_allclose(out[~mask], damaged[~mask], atol=1e-4)
    assert out.min() >= 0 and out.max() <= 100


def test_training_masks_look_like_a_detectors():
    drawn = np.zeros((128, 128), bool)
    for index in range(12):
        cv2.circle(drawn.view(np.uint8), (10 + 10 * index, 20 + 8 * index), 3, 1, -1)
    rim = cv2.dilate(drawn.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool) & ~drawn
    far = ~cv2.dilate(drawn.view(np.uint8), np.ones((11, 11), np.uint8)).view(bool)
    grown = dropped = false_marks = 0
    for seed in range(40):
        mask = detector_like_mask(drawn, np.random.default_rng(seed))
        grown += int((mask & rim).sum() > 0.3 * rim.sum())
        dropped += int((drawn & ~mask).any())
        false_marks += int((mask & far).any())
    assert grown > 10 and dropped > 10 and false_marks > 5


def test_a_sample_and_its_loss():
    crop = (np.clip(photo_lightness(176, 176), 0, 100) * 2.55).astype(np.uint8)
    planes, clean, mask = filler_sample(crop, np.random.default_rng(3))
    assert planes.shape == (3, 128, 128) and clean.shape == mask.shape == (128, 128)
    assert 0 < mask.mean() < 0.5 and np.array_equal(planes[2], mask)
    filled = torch.from_numpy(clean)[None, None]
    assert float(filler_loss(filled, torch.from_numpy(clean)[None], torch.from_numpy(mask)[None])) == 0
    assert float(filler_loss(filled + 10, torch.from_numpy(clean)[None], torch.from_numpy(mask)[None])) == pytest.approx(1)


def test_a_few_steps_learn_and_bundle_to_a_loadable_filler(tmp_path: Path):
    """Twenty steps on one batch lower the loss; the checkpoint exports to an ONNX file that
    LearnedFiller loads and that computes what the network does."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    crops = [(np.clip(photo_lightness(176, 176, seed), 0, 100) * 2.55).astype(np.uint8) for seed in range(4)]
    config = DamageConfig(kinds=("stain", "scratch"), stains=6, scratches=6)
    batch = [torch.from_numpy(np.stack(part)) for part in zip(*(filler_sample(crop, rng, config) for crop in crops))]
    model = FillNet(8, (1, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = filler_loss(model(batch[0]), batch[1], batch[2])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.9 * losses[0]
    _save(tmp_path / "last.pt", model, 20, config)
    restored = load_checkpoint(tmp_path / "last.pt")
    assert (restored.width, restored.dilations) == (8, (1, 2))
    pytest.importorskip("onnx")
    from masterpiece.restoration._export import save_weights

    folder = tmp_path / "bundled"
    folder.mkdir()
    save_weights(restored, folder / FILLER_WEIGHTS[0], {"width": "8", "dilations": json.dumps([1, 2]),
                                                      "damage": json.dumps(config.as_dict())})
    entry = export_bundled_filler(folder)["fp32"]
    assert read_manifest(folder)[FILLER_NAME]["fp32"] == entry
    filler = LearnedFiller(folder / entry.filename)
    assert filler.context_rows == 12
    planes, damaged, inpainted, mask = _planes(2)
    with torch.no_grad():
        expected = load_bundled_weights(folder / FILLER_WEIGHTS[0])[0](planes)[0, 0].numpy()
    assert np.abs(filler(damaged, inpainted, mask) - expected).max() < 1e-3
