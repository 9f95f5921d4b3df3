"""ECCV16: the published checkpoint layout, the logits contract and the decoding at T = 1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from masterpiece.models import AB_SCALE, get_model_info
from masterpiece.models.eccv16 import ECCV16Colorizer


@pytest.fixture(scope="module")
def model() -> ECCV16Colorizer:
    torch.manual_seed(0)
    return ECCV16Colorizer().eval()


def test_state_dict_matches_the_published_checkpoint_layout(layout_matches_published) -> None:
    assert layout_matches_published("eccv16", ECCV16Colorizer)


def test_predict_returns_313_logits_at_a_quarter_of_the_input(model: ECCV16Colorizer) -> None:
    lightness = torch.rand(2, 1, 64, 64) * 100
    with torch.no_grad():
        prediction = model.predict(lightness)
    assert prediction.logits.shape == (2, 313, 16, 16)
    assert prediction.ab is None


def test_hints_are_ignored(model: ECCV16Colorizer) -> None:
    lightness = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        plain = model.predict(lightness).logits
        hinted = model.predict(
            lightness, torch.full((1, 2, 32, 32), 50.0), torch.ones(1, 1, 32, 32)
        ).logits
    torch.testing.assert_close(plain, hinted)


def test_bin_centres_are_the_model_out_columns_times_110(model: ECCV16Colorizer) -> None:
    centers = model.bin_centers
    assert centers.shape == (313, 2)
    torch.testing.assert_close(centers[5], model.model_out.weight[:, 5, 0, 0] * AB_SCALE)


def test_decode_at_temperature_1_equals_the_published_output(model: ECCV16Colorizer) -> None:
    """The published model: ab = upsample4(model_out(softmax(logits))) * 110."""
    lightness = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        prediction = model.predict(lightness)
        published = model.model_out(torch.softmax(prediction.logits, dim=1)) * AB_SCALE
        decoded = model.decode(prediction, temperature=1.0)
    torch.testing.assert_close(decoded, published, rtol=1e-4, atol=1e-4)
    upsampled = F.interpolate(decoded, scale_factor=4, mode="bilinear")
    assert upsampled.shape[-2:] == lightness.shape[-2:]


def test_lower_temperature_gives_more_saturated_ab(model: ECCV16Colorizer) -> None:
    with torch.no_grad():
        prediction = model.predict(torch.rand(1, 1, 32, 32) * 100)
        mean = model.decode(prediction, temperature=1.0)
        annealed = model.decode(prediction, temperature=0.38)
    assert annealed.norm(dim=1).mean() > mean.norm(dim=1).mean()


def test_registration() -> None:
    info = get_model_info("eccv16")
    assert not info.accepts_hints and info.input_size == 256
    assert info.weights.sha256.startswith("9b330a0b") and info.weights.url.endswith("9b330a0b.pth")
    assert info.weights.license == "BSD-2-Clause"
