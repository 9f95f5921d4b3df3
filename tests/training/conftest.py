from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def tiny_photos(tmp_path: Path) -> Path:
    """Six small colour images (and one gray one that training must skip)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(6):
        base = rng.integers(0, 256, 3)
        rows, cols = np.mgrid[0:48, 0:64]
        image = np.stack([(base[c] + rows * (c + 1) + cols) % 256 for c in range(3)], -1).astype(np.uint8)
        Image.fromarray(image).save(folder / f"colour_{index}.png")
    Image.fromarray(np.full((48, 64), 128, np.uint8)).save(folder / "gray.png")
    return folder
