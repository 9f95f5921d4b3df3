"""The default model: the best one whose weights are here and that can run here."""

from __future__ import annotations

from pathlib import Path

import pytest

from masterpiece.models import get_model_info, selection, weights_path_for


@pytest.fixture
def eccv16_cached(isolated_cache: Path) -> Path:
    path = weights_path_for(get_model_info("eccv16").weights)
    path.write_bytes(b"present; not loaded by the selection")
    return path


def test_the_bundled_model_is_the_default_when_nothing_was_pulled() -> None:
    assert selection.default_model_name() == "compact"


def test_a_pulled_model_that_ranks_higher_is_the_default(eccv16_cached: Path) -> None:
    assert selection.available_models() == ["eccv16", "compact"]
    assert selection.default_model_name() == "eccv16"


def test_without_torch_a_pulled_pytorch_checkpoint_is_not_the_default(
    eccv16_cached: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it could not run: the default would fail with "needs PyTorch" on every photo
    monkeypatch.setattr(selection, "torch_available", lambda: False)
    assert selection.available_models() == ["compact"]
    assert selection.default_model_name() == "compact"


def test_a_cached_file_that_cannot_be_the_published_one_is_not_the_default(isolated_cache: Path) -> None:
    # an empty eccv16 (or a siggraph17 of the wrong size) made every plain `colorize` fail its
    # sha256 check instead of running the bundled model
    eccv16 = weights_path_for(get_model_info("eccv16").weights)
    eccv16.write_bytes(b"")
    siggraph17 = get_model_info("siggraph17").weights
    assert siggraph17.size_bytes is not None
    weights_path_for(siggraph17).write_bytes(b"cut short")
    assert selection.available_models() == ["compact"]
    assert selection.default_model_name() == "compact"
