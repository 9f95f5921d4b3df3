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


def _toned(rgb: tuple[int, int, int]) -> np.ndarray:
    """A 48x64 uint8 print of one tone with a vertical ramp of lightness."""
    ramp = np.linspace(-40, 40, 48)[:, None, None] * np.ones((1, 64, 1))
    return np.clip(np.array(rgb) + ramp, 0, 255).astype(np.uint8)


@pytest.fixture
def mixed_photos(tiny_photos: Path) -> Path:
    """``tiny_photos`` (six colour images, an L-mode gray one) plus ``gray_rgb.png`` (RGB, its
    channels equal), ``faint.png`` (a toned print of mean chroma below the default
    ``min_chroma`` of 4) and ``sepia.png`` (toned, above it): seven colour examples."""
    colour = np.asarray(Image.open(tiny_photos / "colour_0.png").convert("L"))
    Image.fromarray(np.repeat(colour[..., None], 3, axis=2)).save(tiny_photos / "gray_rgb.png")
    Image.fromarray(_toned((128, 127, 125))).save(tiny_photos / "faint.png")
    Image.fromarray(_toned((150, 120, 90))).save(tiny_photos / "sepia.png")
    return tiny_photos
