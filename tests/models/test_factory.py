"""Tests for masterpiece.models.factory: what a registration says and what its architecture does agree."""

from __future__ import annotations

import pytest

from masterpiece.models import _registry, create_model, get_model_info, list_models
from masterpiece.models.catalogue import BUILTIN_MODELS
from masterpiece.models.compact import CompactColorizer


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish with it."""
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))


def test_builtin_architectures_state_hints_as_their_catalogue_entry() -> None:
    for info in BUILTIN_MODELS:
        model = create_model(info.name, pretrained=False)
        assert model.accepts_hints is info.accepts_hints is get_model_info(info.name).accepts_hints


def test_a_registration_that_contradicts_its_architecture_is_refused(scratch_registry: None) -> None:
    @_registry.register_model(description="a test model registered as automatic", accepts_hints=False)
    def hinted_but_registered_automatic() -> CompactColorizer:
        return CompactColorizer(width=8)  # takes hints

    assert "hinted_but_registered_automatic" in list_models()
    with pytest.raises(RuntimeError, match="accepts_hints=False but its architecture CompactColorizer says True"):
        create_model("hinted_but_registered_automatic", pretrained=False)


def test_a_consistent_new_registration_builds(scratch_registry: None) -> None:
    @_registry.register_model(description="a small hint-aware test model", accepts_hints=True)
    def small_compact() -> CompactColorizer:
        return CompactColorizer(width=8)

    model = create_model("small_compact", pretrained=False)
    assert isinstance(model, CompactColorizer) and not model.training
