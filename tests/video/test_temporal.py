"""Optical flow links, the chroma stabiliser and hint tracking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from masterpiece.errors import ConfigError
from masterpiece.video.temporal import (
    ChromaStabiliser,
    MotionLink,
    TemporalSettings,
    link_frames,
    track_hints,
    warp,
)

SHIFT = 3  # pixels the texture moves right between the two frames


def _texture(size: int = 128, offset: int = 0) -> np.ndarray:
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32)
    columns -= offset
    image = (
        128 + 50 * np.sin(columns / 5.0) * np.cos(rows / 7.0) + 30 * np.sin((columns + rows) / 11.0)
    )
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def shifted_link() -> MotionLink:
    # tighter tolerances than the defaults, so that the checks below are clear-cut
    return link_frames(
        _texture(),
        _texture(offset=SHIFT),
        TemporalSettings(flow_tolerance=1.0, lightness_tolerance=8.0),
    )


def test_flow_points_back_to_where_content_was(shifted_link):
    inner = shifted_link.flow[16:-16, 16:-16]
    assert np.median(inner[..., 0]) == pytest.approx(-SHIFT, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.3)


def test_confidence_is_high_inside_and_low_where_content_enters(shifted_link):
    assert np.median(shifted_link.confidence[16:-16, 16:-16]) > 0.8
    assert shifted_link.confidence[:, :SHIFT].mean() < 0.3  # came from outside the previous frame
    assert shifted_link.coverage > 0.7


def test_unrelated_frames_have_low_coverage():
    noise = np.random.default_rng(0).integers(0, 256, (128, 128), dtype=np.uint8)
    assert (
        link_frames(_texture(), noise, TemporalSettings()).coverage
        < TemporalSettings().min_coverage
    )


def test_warp_moves_an_image_on_another_grid(shifted_link):
    previous = np.zeros((1, 64, 64), np.float32)
    previous[0, :, 20] = 1.0  # a column on a grid half the flow's size: moves 1.5 pixels
    warped, confidence = warp(previous, shifted_link)
    assert warped.shape == (1, 64, 64) and confidence.shape == (64, 64)
    centre = (warped[0, 32] * np.arange(64)).sum() / warped[0, 32].sum()
    assert centre == pytest.approx(20 + SHIFT / 2, abs=0.3)


def test_stabiliser_returns_the_prediction_at_a_cut():
    stabiliser = ChromaStabiliser()
    first = np.full((2, 8, 8), 10.0, np.float32)
    assert stabiliser.step(first, None) is first
    second = np.full((2, 8, 8), -30.0, np.float32)
    assert stabiliser.step(second, None) is second  # a cut: nothing of ``first`` remains


def test_stabiliser_averages_noise_along_reliable_motion():
    settings = TemporalSettings(carry=0.85)
    still = MotionLink(np.zeros((16, 16, 2), np.float32), np.ones((16, 16), np.float32))
    stabiliser = ChromaStabiliser(settings)
    rng = np.random.default_rng(1)
    predictions = [20.0 + rng.normal(0, 5, (2, 16, 16)).astype(np.float32) for _ in range(60)]
    outputs = [
        stabiliser.step(ab, None if index == 0 else still) for index, ab in enumerate(predictions)
    ]
    raw_change = np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(predictions[10:])])
    stable_change = np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(outputs[10:])])
    # theory for white noise: (1 - carry) / sqrt(1 + carry) = 0.11 of the per-frame change
    assert stable_change < 0.2 * raw_change
    assert np.mean(outputs[10:]) == pytest.approx(20.0, abs=1.0)  # no bias: colours are kept


def test_stabiliser_takes_the_prediction_where_confidence_is_zero():
    stabiliser = ChromaStabiliser()
    stabiliser.step(np.zeros((2, 4, 4), np.float32), None)
    unreliable = MotionLink(np.zeros((4, 4, 2), np.float32), np.zeros((4, 4), np.float32))
    prediction = np.full((2, 4, 4), 7.0, np.float32)
    np.testing.assert_array_equal(stabiliser.step(prediction, unreliable), prediction)


def test_hints_follow_the_motion(shifted_link):
    hint_ab = np.zeros((2, 256, 256), np.float32)
    mask = np.zeros((1, 256, 256), np.float32)
    hint_ab[:, 100:105, 100:105] = np.array([40.0, -20.0]).reshape(2, 1, 1)
    mask[:, 100:105, 100:105] = 1.0
    moved_ab, moved_mask = track_hints(hint_ab, mask, shifted_link)
    columns = np.nonzero(moved_mask[0, 102])[0]
    assert (
        columns.min() == 100 + 2 * SHIFT and columns.max() == 104 + 2 * SHIFT
    )  # 256 grid: twice the shift
    assert (
        moved_ab[0, 102, columns].tolist() == [40.0] * 5
        and moved_ab[1, 102, columns].tolist() == [-20.0] * 5
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"carry": 1.0},
        {"carry": -0.1},
        {"flow_tolerance": 0},
        {"min_coverage": 2},
        {"cut_threshold": 0},
    ],
)
def test_settings_out_of_range_are_refused(settings):
    with pytest.raises(ConfigError):
        TemporalSettings(**settings)
