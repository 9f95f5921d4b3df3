"""The classical damage detector (the baseline): morphological top-hat and black-hat, a
threshold against the image's own noise, and removal of small components.

Thin bright scratches and specks stand out of the white top-hat (the image minus its
opening), dark ones out of the black-hat (the closing minus the image): both keep only
structures narrower than the structuring element. A pixel is damaged where either response
exceeds ``max(min_contrast, noise_factor * local)``, ``local`` being the mean response in a
``window`` x ``window`` box around the pixel (what grain and texture such as gravel set); connected
components smaller than ``min_area`` pixels are dropped and the rest grown by ``grow`` pixels
to cover the anti-aliased rims. Torn corners and large missing regions are wider than the
element and are not found: that is what the learned detector adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ._checks import check_lightness

__all__ = ["ClassicalDetector", "ClassicalSettings", "morphological_responses"]


@dataclass(frozen=True)
class ClassicalSettings:
    """The classical detector's parameters.

    Attributes:
        element: side (pixels, odd) of the elliptic structuring element: structures narrower
            than about this are candidates.
        min_contrast: L units a response must exceed at least.
        noise_factor: multiples of the local mean response a response must exceed.
        window: side (pixels) of the box the local mean response is taken over.
        min_area: connected components with fewer pixels are dropped.
        grow: pixels the detection is dilated by.
    """

    element: int = 9
    min_contrast: float = 8.0
    noise_factor: float = 4.0
    window: int = 31
    min_area: int = 4
    grow: int = 1


def morphological_responses(lightness: np.ndarray, element: int) -> tuple[np.ndarray, np.ndarray]:
    """White top-hat and black-hat of L with an elliptic ``element`` x ``element`` element.

    Args:
        lightness: (H, W) float32 L in [0, 100].

    Returns:
        ``(bright, dark)``: two (H, W) uint8 planes in L units x 2.55 (0-255).
    """
    gray = cv2.convertScaleAbs(lightness, alpha=2.55)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (element, element))
    return cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)


def _remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels] if count > 1 else np.zeros_like(mask)


class ClassicalDetector:
    """Top-hat / black-hat damage detector: (H, W) float32 L -> (H, W) bool mask."""

    def __init__(self, settings: ClassicalSettings | None = None) -> None:
        self.settings = ClassicalSettings() if settings is None else settings

    def __call__(self, lightness: np.ndarray) -> np.ndarray:
        """The damage mask of ``lightness`` ((H, W) L in [0, 100]): (H, W) bool."""
        settings = self.settings
        plane = check_lightness(lightness)
        mask = np.zeros(plane.shape, bool)
        for response in morphological_responses(plane, settings.element):
            # the local texture level: the mean response around each pixel (grain, gravel, foliage)
            local = cv2.blur(response, (settings.window, settings.window)).astype(np.float32)
            threshold = np.maximum(np.float32(settings.min_contrast * 2.55), settings.noise_factor * local)
            mask |= response > threshold
        mask = _remove_small(mask, settings.min_area)
        if settings.grow > 0 and mask.any():
            side = 2 * settings.grow + 1
            mask = cv2.dilate(mask.view(np.uint8), np.ones((side, side), np.uint8)).view(bool)
        return mask
