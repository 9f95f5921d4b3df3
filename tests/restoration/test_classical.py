"""The classical baseline: finds high-contrast thin damage on a smooth photograph, leaves the
clean photograph and wide structures alone."""

from __future__ import annotations

import cv2
import numpy as np

from masterpiece.restoration.classical import (
    ClassicalDetector,
    ClassicalSettings,
    morphological_responses,
)
from masterpiece.restoration.damage import DamageConfig, draw_damage


def _f1(predicted: np.ndarray, target: np.ndarray) -> float:
    return float(2 * (predicted & target).sum() / max(1, predicted.sum() + target.sum()))


def test_finds_contrasted_scratches_and_dust(photo: np.ndarray) -> None:
    config = DamageConfig(kinds=("scratch", "dust"), scratches=10, dust=80, scratch_contrast=(0.8, 1.0),
                          dust_contrast=(0.8, 1.0), grain_sigma=(0.5, 0.5))
    damaged, mask = draw_damage(photo, seed=2, config=config)
    found = ClassicalDetector()(damaged)
    assert found.dtype == bool and found.shape == photo.shape
    assert (found & mask).sum() / mask.sum() > 0.7
    assert _f1(found, mask) > 0.5


def test_the_clean_photograph_is_left_alone(photo: np.ndarray) -> None:
    assert ClassicalDetector()(photo).mean() < 0.005


def test_wider_than_the_element_is_not_seen(photo: np.ndarray) -> None:
    wide = photo.copy()
    cv2.rectangle(wide, (100, 100), (160, 160), 99.0, -1)  # 60 px: not a scratch
    assert not ClassicalDetector()(wide)[110:150, 110:150].any()


def test_responses_are_top_hat_and_black_hat() -> None:
    plane = np.full((32, 32), 50.0, np.float32)
    plane[10, 5:25], plane[20, 5:25] = 90.0, 10.0
    bright, dark = morphological_responses(plane, 9)
    assert bright[10, 15] == round(40 * 2.55) and dark[10, 15] == 0
    assert dark[20, 15] == round(40 * 2.55) and bright[20, 15] == 0


def test_small_components_are_dropped() -> None:
    plane = np.full((40, 40), 50.0, np.float32)
    plane[10, 10] = 95.0  # one pixel
    plane[30, 5:30] = 95.0  # a line
    found = ClassicalDetector(ClassicalSettings(min_area=4, grow=0))(plane)
    assert not found[10, 10] and found[30, 5:30].all()
