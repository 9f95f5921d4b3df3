"""Cached exports of PyTorch models in hand (``models/torch_backend``): the cache key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from masterpiece.models import create_model
from masterpiece.models.torch_backend import int8_model, state_fingerprint


def _compact() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("compact", pretrained=False).eval()


def test_the_fingerprint_follows_the_weights_and_the_decoding() -> None:
    model, other = _compact(), _compact()
    assert state_fingerprint(model) == state_fingerprint(other)
    other.regression_tint = model.regression_tint + 0.2
    assert state_fingerprint(model) != state_fingerprint(other)
    other.regression_tint, other.annealed_weight = model.regression_tint, 0.5
    assert state_fingerprint(model) != state_fingerprint(other)
    with torch.no_grad():
        other.annealed_weight = model.annealed_weight
        next(other.parameters()).add_(1.0)
    assert state_fingerprint(model) != state_fingerprint(other)


def test_the_plain_annealed_mean_keeps_the_fingerprint_of_the_weights_alone() -> None:
    """A model that decodes by the annealed mean alone (ECCV16) keeps its cached exports."""
    torch.manual_seed(0)
    model = create_model("eccv16", pretrained=False)
    import hashlib

    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    assert state_fingerprint(model) == digest.hexdigest()[:16]


def test_an_int8_export_decodes_as_the_model_in_hand(tmp_path: Path) -> None:
    """Two models with the same weights and another tint get their own export (not a stale one)."""
    plain, tinted = _compact(), _compact()
    plain.annealed_weight, plain.regression_tint = 1.0, 0.0
    tinted.annealed_weight, tinted.regression_tint = 1.0, 1.0
    lightness = np.random.default_rng(1).uniform(0, 100, (1, 1, 64, 64)).astype(np.float32)
    outputs = {}
    for label, model in (("plain", plain), ("tinted", tinted)):
        runtime = int8_model(model, "Compact", tmp_path, size=64, count=2)
        assert (runtime.annealed_weight, runtime.regression_tint) == (model.annealed_weight, model.regression_tint)
        outputs[label] = runtime.backend.network_ab(lightness, None, 0.38)
    assert len(list(tmp_path.glob("*.onnx"))) == 2
    regressed = runtime.backend.run(lightness)["ab"].mean(axis=(2, 3))
    np.testing.assert_allclose(outputs["tinted"].mean(axis=(2, 3)), regressed, atol=1e-3)
    assert np.abs(outputs["plain"].mean(axis=(2, 3)) - regressed).max() > 1e-2
