"""Shared fixtures of the model tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

#: ``../shared/reference`` next to the repository: key -> shape of the published checkpoints
REFERENCE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


@pytest.fixture
def layout_matches_published() -> Callable[[str, type[nn.Module]], bool]:
    """Compare a module's state-dict keys and shapes with ``REFERENCE_DIR/<name>_state_dict.json``.

    Skips the test when the reference file is absent.
    """

    def compare(name: str, architecture: type[nn.Module]) -> bool:
        path = REFERENCE_DIR / f"{name}_state_dict.json"
        if not path.is_file():
            pytest.skip(f"reference layout {path} is absent")
        expected = json.loads(path.read_text())["state_dict"]
        with torch.device("meta"):  # shapes only, no memory
            state_dict = architecture().state_dict()
        return {key: list(value.shape) for key, value in state_dict.items()} == expected

    return compare
