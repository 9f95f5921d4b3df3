"""SIGGRAPH17: the published checkpoint layout, input normalization, both heads."""

from __future__ import annotations

import pytest
import torch

from masterpiece.errors import InvalidInputError
from masterpiece.models import get_model_info
from masterpiece.models.siggraph17 import SIGGRAPH17Colorizer


@pytest.fixture(scope="module")
def model() -> SIGGRAPH17Colorizer:
    torch.manual_seed(0)
    return SIGGRAPH17Colorizer().eval()


def test_state_dict_matches_the_published_checkpoint_layout(layout_matches_published) -> None:
    assert layout_matches_published("siggraph17", SIGGRAPH17Colorizer)


def test_heads_regress_full_resolution_ab_and_classify_at_a_quarter(
    model: SIGGRAPH17Colorizer,
) -> None:
    with torch.no_grad():
        prediction = model.predict(torch.rand(2, 1, 64, 64) * 100)
    assert prediction.ab.shape == (2, 2, 64, 64)
    assert prediction.logits.shape == (2, 529, 16, 16)
    assert prediction.ab.abs().max() <= 110
    torch.testing.assert_close(model.decode(prediction, temperature=0.1), prediction.ab)


def test_network_input_is_normalized_l_ab_over_110_and_mask_minus_half(
    model: SIGGRAPH17Colorizer,
) -> None:
    seen: list[torch.Tensor] = []
    handle = model.model1[0].register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0])
    )
    lightness = torch.full((1, 1, 16, 16), 75.0)
    hint_ab = torch.zeros(1, 2, 16, 16)
    hint_mask = torch.zeros(1, 1, 16, 16)
    hint_ab[0, :, 3, 4] = torch.tensor([55.0, -22.0])
    hint_mask[0, 0, 3, 4] = 1
    try:
        with torch.no_grad():
            model.predict(lightness, hint_ab, hint_mask)
    finally:
        handle.remove()
    x = seen[0]
    assert x.shape == (1, 4, 16, 16)
    torch.testing.assert_close(x[0, 0], torch.full((16, 16), 0.25))
    torch.testing.assert_close(x[0, 1:3, 3, 4], torch.tensor([0.5, -0.2]))
    assert x[0, 3, 3, 4] == 0.5 and x[0, 3, 0, 0] == -0.5


def test_hints_change_the_prediction(model: SIGGRAPH17Colorizer) -> None:
    lightness = torch.rand(1, 1, 32, 32) * 100
    hint_ab = torch.zeros(1, 2, 32, 32)
    hint_mask = torch.zeros(1, 1, 32, 32)
    hint_ab[0, :, 8:12, 8:12] = 80.0
    hint_mask[0, 0, 8:12, 8:12] = 1
    with torch.no_grad():
        automatic = model.predict(lightness).ab
        guided = model.predict(lightness, hint_ab, hint_mask).ab
    assert not torch.allclose(automatic, guided)


def test_bin_centres_are_the_23x23_grid(model: SIGGRAPH17Colorizer) -> None:
    centers = model.bin_centers
    assert centers.shape == (529, 2)
    assert centers[0].tolist() == [-110.0, -110.0] and centers[-1].tolist() == [110.0, 110.0]
    assert centers[23 * 12 + 11].tolist() == [10.0, 0.0]  # index = 23 * a_index + b_index


def test_sides_must_be_multiples_of_8(model: SIGGRAPH17Colorizer) -> None:
    with pytest.raises(InvalidInputError, match="multiples of 8"):
        model.predict(torch.rand(1, 1, 60, 64) * 100)


def test_registration() -> None:
    info = get_model_info("siggraph17")
    assert info.accepts_hints and info.weights.size_bytes == 136787426
    assert info.weights.sha256.startswith("df00044c")
