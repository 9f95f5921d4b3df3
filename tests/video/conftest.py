"""Clips for the video tests, generated once per session in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .clips import astronaut, hard_cut, moving_shapes, pan_zoom, write_clip

SIZE = (96, 64)  # width, height of the plumbing clips
FRAMES = 12


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def pan_frames() -> list[np.ndarray]:
    return list(pan_zoom(astronaut(), SIZE, FRAMES))


@pytest.fixture(scope="session")
def pan_clip(clip_folder: Path, pan_frames: list[np.ndarray]) -> Path:
    """12 frames, 96x64, 24 fps, H.264 in MP4, no audio."""
    return write_clip(clip_folder / "pan.mp4", pan_frames)


@pytest.fixture(scope="session")
def pan_clip_with_audio(clip_folder: Path, pan_frames: list[np.ndarray]) -> Path:
    """The pan with an AAC tone as long as the video."""
    return write_clip(clip_folder / "pan_audio.mp4", pan_frames, audio=True)


@pytest.fixture(scope="session")
def cut_frames() -> list[np.ndarray]:
    """12 frames: a pan over the astronaut, then from frame 6 a pan over another photograph."""
    return list(hard_cut(SIZE, FRAMES, 6))


@pytest.fixture(scope="session")
def shape_frames() -> list[np.ndarray]:
    return list(moving_shapes(SIZE, FRAMES))
