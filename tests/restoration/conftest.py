"""Small synthetic photographs for the restoration tests (no shared data needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def photo_lightness(height: int = 256, width: int = 320, seed: int = 0) -> np.ndarray:
    """A smooth photograph-like (H, W) float32 L plane in [5, 95]: gradients, soft discs, mild texture."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    plane = 30 + 40 * columns / width + 15 * np.sin(rows / 23.0)
    for _ in range(6):
        centre = rng.uniform([0, 0], [width, height])
        radius = rng.uniform(15, 60)
        disc = np.exp(-(((columns - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * radius**2)))
        plane += rng.uniform(-20, 20) * disc
    texture = cv2.GaussianBlur(rng.normal(0, 2.0, (height, width)).astype(np.float32), (0, 0), 2.0)
    return np.clip(plane + texture, 5, 95).astype(np.float32)


@pytest.fixture
def photo() -> np.ndarray:
    return photo_lightness()
