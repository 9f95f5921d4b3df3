"""The compact network's hint-only weights: they move the hinted colours and nothing else."""

from __future__ import annotations

import torch

from masterpiece.models import create_model


def _model_and_inputs():
    torch.manual_seed(0)
    model = create_model("compact", pretrained=False).eval()
    lightness = torch.rand(1, 1, 64, 64) * 100
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:24, 30:34] = 1
    hint_ab = torch.zeros(1, 2, 64, 64)
    hint_ab[:, 0] = 40 * mask[:, 0]
    hint_ab[:, 1] = -25 * mask[:, 0]
    return model, lightness, hint_ab, mask


def _perturb(model, name: str, where: torch.Tensor) -> None:
    parameter = dict(model.named_parameters())[name]
    with torch.no_grad():
        parameter.add_(torch.randn_like(parameter) * where)


def test_hint_only_weights_change_the_hinted_colours_and_not_the_automatic_ones():
    model, lightness, hint_ab, mask = _model_and_inputs()
    masks = model.hint_only_weights()
    assert set(masks) == {"stage1.0.0.weight", "up2.refine.0.0.weight"}
    with torch.no_grad():
        automatic, hinted = model.predict(lightness).ab.clone(), model.predict(lightness, hint_ab, mask).ab.clone()
        for name, entries in masks.items():
            _perturb(model, name, entries.float())
        assert torch.equal(model.predict(lightness).ab, automatic)
        assert (model.predict(lightness, hint_ab, mask).ab - hinted).abs().max() > 1e-3


def test_the_other_entries_of_those_weights_do_change_the_automatic_colours():
    """The masks are not too wide: the L and hint-mask channels of the first convolution and
    the decoder's feature channels are outside them, and they move the automatic colours."""
    model, lightness, _, _ = _model_and_inputs()
    with torch.no_grad():
        automatic = model.predict(lightness).ab.clone()
        for name, entries in model.hint_only_weights().items():
            _perturb(model, name, (~entries).float() * 0.1)
            assert (model.predict(lightness).ab - automatic).abs().max() > 1e-4, name
            automatic = model.predict(lightness).ab.clone()
