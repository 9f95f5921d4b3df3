"""The input planes of the learned damage detector, computed the same way in training and
inference (NumPy and OpenCV, no torch).

Three planes at full resolution: the lightness centred and scaled, ``(L - 50) / 50``, and the
white top-hat and black-hat of L (:func:`.classical.morphological_responses`, the classical
detector's cues) in units of 25 L. The network packs each 4x4 block into channels
(space-to-depth), so its cost is per 16 pixels while a 1-pixel line still reaches it intact.
"""

from __future__ import annotations

import numpy as np

from .classical import morphological_responses

__all__ = ["BLOCK", "FEATURE_CHANNELS", "FEATURE_ELEMENT", "detector_features"]

#: planes :func:`detector_features` returns
FEATURE_CHANNELS = 3
#: structuring element of the top-hat planes (pixels)
FEATURE_ELEMENT = 9
#: the network's space-to-depth block: inputs are padded to multiples of it
BLOCK = 4


def detector_features(lightness: np.ndarray) -> np.ndarray:
    """(H, W) float32 L in [0, 100] -> (3, H, W) float32 network input, about [-1, 1] / [0, 4]."""
    bright, dark = morphological_responses(lightness, FEATURE_ELEMENT)
    planes = np.empty((FEATURE_CHANNELS, *lightness.shape), np.float32)
    np.multiply(lightness, np.float32(1 / 50), out=planes[0])
    planes[0] -= 1
    scale = np.float32(1 / (2.55 * 25))
    np.multiply(bright, scale, out=planes[1], casting="unsafe")
    np.multiply(dark, scale, out=planes[2], casting="unsafe")
    return planes
