"""Cut detection from lightness histograms."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from masterpiece.video.scenes import DEFAULT_CUT_THRESHOLD, histogram_distance, lightness_histogram
from masterpiece.video.temporal import FLOW_SIZE


def _small(frame: np.ndarray) -> np.ndarray:
    """What the pipeline compares: a FLOW_SIZE square copy (gray values stand in for L * 2.55)."""
    return cv2.resize(frame, (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_AREA)


def test_histogram_is_normalized_and_binned():
    image = np.array([[0, 7, 8, 255]], np.uint8)  # bins 0, 0, 1, 31
    histogram = lightness_histogram(image)
    assert histogram.shape == (32,) and histogram.sum() == 1.0
    assert histogram[0] == 0.5 and histogram[1] == 0.25 and histogram[31] == 0.25


def test_distance_is_zero_for_equal_and_one_for_disjoint():
    dark, bright = np.zeros((8, 8), np.uint8), np.full((8, 8), 250, np.uint8)
    assert histogram_distance(lightness_histogram(dark), lightness_histogram(dark)) == 0.0
    assert histogram_distance(lightness_histogram(dark), lightness_histogram(bright)) == 1.0


def test_pan_frames_stay_below_and_the_cut_goes_above_the_threshold(pan_frames, cut_frames):
    histograms = [lightness_histogram(_small(frame)) for frame in cut_frames]
    distances = [histogram_distance(a, b) for a, b in itertools.pairwise(histograms)]
    assert distances[5] > DEFAULT_CUT_THRESHOLD  # between frames 5 and 6
    assert max(distances[:5] + distances[6:]) < 0.5 * DEFAULT_CUT_THRESHOLD
    pan = [lightness_histogram(_small(frame)) for frame in pan_frames]
    assert (
        max(histogram_distance(a, b) for a, b in itertools.pairwise(pan))
        < 0.5 * DEFAULT_CUT_THRESHOLD
    )
