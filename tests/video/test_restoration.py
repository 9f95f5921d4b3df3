"""FrameColorizer(restore=...): each frame is repaired before the network; the shots and the
stabilisation are those of the unrepaired film (random compact weights, classical detector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masterpiece.color.lab_np import rgb_to_lab
from masterpiece.pipeline.image import Colorizer
from masterpiece.restoration import Restorer
from masterpiece.video import FrameColorizer

SCRATCH = (slice(30, 33), slice(8, 120))


@pytest.fixture(scope="module")
def colorizer(compact_weights: Path) -> Colorizer:
    return Colorizer("compact", weights=compact_weights)


def scratched(frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for frame in frames:
        frame = frame.copy()
        frame[SCRATCH] = 250
        out.append(frame)
    return out


def scratch_lightness(frames: list[np.ndarray]) -> float:
    return float(np.mean([rgb_to_lab(np.moveaxis(f.astype(np.float32) / 255, -1, 0))[0][SCRATCH].mean()
                          for f in frames]))


def test_frames_are_repaired_and_the_cuts_are_unchanged(colorizer, cut_frames) -> None:
    frames = scratched(cut_frames)
    plain_runner = FrameColorizer(colorizer)
    plain = list(plain_runner.colorize(frames))
    runner = FrameColorizer(colorizer, restore=Restorer("classical"))
    mended = list(runner.colorize(frames))
    assert len(mended) == len(frames) and mended[0].shape == (*frames[0].shape, 3)
    assert mended[0].dtype == np.uint8
    assert runner.cuts == plain_runner.cuts == [6]
    assert scratch_lightness(plain) > 90 and scratch_lightness(mended) < scratch_lightness(plain) - 15
