"""The flicker metric on frames whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masterpiece.video.flicker import measure_flicker

from .clips import astronaut, pan_zoom

SIZE = (96, 64)


def _tinted(gray: np.ndarray, a: float, b: float) -> np.ndarray:
    """The gray frame with chroma (a, b) everywhere (Lab units), as uint8 sRGB."""
    lab = np.dstack(
        [
            gray.astype(np.float32) / 2.55,
            np.full(gray.shape, a, np.float32),
            np.full(gray.shape, b, np.float32),
        ]
    )
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def gray_pan() -> list[np.ndarray]:
    # mid-tones, so that every chroma below stays inside the sRGB gamut
    return [(frame // 3 + 80).astype(np.uint8) for frame in pan_zoom(astronaut(), SIZE, 8)]


def test_stable_colours_do_not_flicker_whatever_the_motion(gray_pan):
    report = measure_flicker([_tinted(frame, 15, 20) for frame in gray_pan])
    assert report.pairs == 7 and report.coverage > 0.6
    assert report.mean < 0.8  # quantization to 8 bits only


def test_alternating_colours_flicker_by_their_distance(gray_pan):
    frames = [_tinted(frame, 15 if index % 2 else -5, 20) for index, frame in enumerate(gray_pan)]
    report = measure_flicker(frames)
    assert report.mean == pytest.approx(20.0, abs=2.0)
    assert report.moving == pytest.approx(20.0, abs=2.0)


def test_pairs_across_given_cuts_are_left_out(gray_pan):
    frames = [_tinted(frame, 15 if index < 4 else -15, 20) for index, frame in enumerate(gray_pan)]
    assert measure_flicker(frames, cuts=[4]).mean < 0.8
    assert measure_flicker(frames, cuts=[4]).pairs == 6
    assert measure_flicker(frames, cuts=[]).mean > 3.0


def test_static_frames_count_as_static():
    frame = _tinted(np.tile(np.linspace(60, 200, 96, dtype=np.uint8), (64, 1)), 10, 10)
    report = measure_flicker([frame, frame, frame])
    assert report.static < 0.5 and np.isnan(report.moving)
