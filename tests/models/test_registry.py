"""Every registered model, on random weights: builds, runs on a small input, gives finite ab."""

from __future__ import annotations

import re

import pytest
import torch

from masterpiece.errors import UnknownModelError
from masterpiece.models import ColorizationModel, create_model, get_model_info, list_models

SIDE = 64


@pytest.fixture(scope="module", params=list_models())
def model(request: pytest.FixtureRequest) -> ColorizationModel:
    torch.manual_seed(0)
    return create_model(request.param, pretrained=False)


def _lightness(batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(1)) * 100


def test_forward_gives_finite_ab_at_an_integer_fraction_of_the_input(
    model: ColorizationModel,
) -> None:
    with torch.no_grad():
        ab = model(_lightness(batch=2))
    assert ab.shape[:2] == (2, 2)
    assert SIDE % ab.shape[-1] == 0 and ab.shape[-1] == ab.shape[-2]
    assert torch.isfinite(ab).all()
    assert ab.abs().max() <= 110 * 2**0.5  # inside the ab grid's square


def test_hints_are_used_only_by_models_that_accept_them(model: ColorizationModel) -> None:
    hint_ab = torch.zeros(1, 2, SIDE, SIDE)
    hint_mask = torch.zeros(1, 1, SIDE, SIDE)
    hint_ab[0, :, 8:16, 8:16] = torch.tensor([60.0, -40.0])[:, None, None]
    hint_mask[0, 0, 8:16, 8:16] = 1
    with torch.no_grad():
        automatic = model(_lightness())
        guided = model(_lightness(), hint_ab, hint_mask)
    assert torch.isfinite(guided).all()
    assert torch.equal(automatic, guided) != model.accepts_hints


def test_classification_models_expose_their_bin_centres(model: ColorizationModel) -> None:
    centers = model.bin_centers
    if model.decoder == "classification":
        assert centers is not None
    if centers is not None:
        assert centers.ndim == 2 and centers.shape[1] == 2


def test_registry_records_are_consistent() -> None:
    names = list_models()
    assert {"eccv16", "siggraph17"} <= set(names)
    assert names == sorted(names)
    for name in names:
        info = get_model_info(name)
        assert info.name == name
        if info.weights is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", info.weights.sha256)
            assert info.weights.bundled or info.weights.url


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="eccv16.*siggraph17"):
        create_model("eccv17", pretrained=False)


def test_the_catalogue_is_what_the_architectures_register() -> None:
    # the catalogue is read without torch; importing an architecture attaches its factory
    import importlib

    from masterpiece.models.catalogue import BUILTIN_MODELS

    for entry in BUILTIN_MODELS:
        module = importlib.import_module(entry.module)
        registered = get_model_info(entry.name)
        assert registered.factory is getattr(module, entry.name)
        assert registered.metadata() == entry.metadata()


def test_metadata_that_drifts_from_the_catalogue_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from masterpiece.models import _registry

    monkeypatch.setitem(_registry._REGISTRY, "compact", dataclasses.replace(get_model_info("compact"), factory=None))

    def compact() -> None:
        """Stands for an architecture module registering other weights than the catalogue's."""

    with pytest.raises(RuntimeError, match="catalogue"):
        _registry.register_model(description="compact, retrained", weights=None)(compact)
    _registry.register_model()(compact)  # no metadata: the catalogue's is used
    assert get_model_info("compact").factory is compact
