"""Test clips made on the fly: pans and zooms across real photographs, moving shapes, a hard
cut, with or without an audio track. Also used by ``benchmarks/video.py``.

Frames are ``(H, W)`` uint8 gray (black-and-white film); :func:`write_clip` encodes them with
PyAV (H.264 in MP4 by default, AAC audio: a 440 Hz tone).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ASTRONAUT = REPO_ROOT / "examples" / "astronaut_bw.jpg"


def astronaut() -> np.ndarray:
    """The repository's grayscale astronaut photograph, ``(512, 512)`` uint8."""
    image = cv2.imread(str(ASTRONAUT), cv2.IMREAD_GRAYSCALE)
    assert image is not None, f"{ASTRONAUT} is missing"
    return image


def second_photo() -> np.ndarray:
    """Another real photograph, unlike the astronaut: scikit-image's camera man when
    installed (a dev dependency), else the astronaut turned upside down and brightened."""
    try:
        from skimage import data

        return data.camera()
    except ImportError:
        return np.clip(astronaut()[::-1, ::-1].astype(np.int32) + 60, 0, 255).astype(np.uint8)


def pan_zoom(
    photo: np.ndarray, size: tuple[int, int], count: int, zoom: float = 0.8
) -> Iterator[np.ndarray]:
    """A camera pan from left to right across ``photo`` while zooming in by ``1 / zoom``.

    ``size`` is ``(width, height)``; the window keeps that aspect ratio.
    """
    width, height = size
    photo_height, photo_width = photo.shape
    for index in range(count):
        t = index / max(count - 1, 1)
        window_w = photo_width * 0.6 * (1.0 - (1.0 - zoom) * t)
        window_h = window_w * height / width
        left = (photo_width - window_w) * (0.1 + 0.6 * t)
        top = (photo_height - window_h) * 0.4
        scale_x, scale_y = width / window_w, height / window_h
        matrix = np.array([[scale_x, 0, -left * scale_x], [0, scale_y, -top * scale_y]], np.float32)
        yield cv2.warpAffine(
            photo, matrix, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
        )


def moving_shapes(size: tuple[int, int], count: int) -> Iterator[np.ndarray]:
    """A textured background with a bright disc moving right and a dark square moving down."""
    width, height = size
    rows, columns = np.mgrid[0:height, 0:width]
    background = 90 + 40 * np.sin(columns / 7.0) * np.cos(rows / 9.0) + rows * 0.3
    for index in range(count):
        frame = background.copy()
        centre_x, centre_y = width * (0.2 + 0.6 * index / max(count - 1, 1)), height * 0.4
        frame[(columns - centre_x) ** 2 + (rows - centre_y) ** 2 < (height * 0.18) ** 2] = 220
        top = int(height * (0.1 + 0.5 * index / max(count - 1, 1)))
        frame[top : top + height // 4, width // 8 : width // 8 + height // 4] = 30
        yield np.clip(frame, 0, 255).astype(np.uint8)


def hard_cut(size: tuple[int, int], count: int, cut_at: int) -> Iterator[np.ndarray]:
    """A slow pan across the astronaut, then from frame ``cut_at`` a pan across another photograph."""
    yield from pan_zoom(astronaut(), size, cut_at, zoom=0.95)
    yield from pan_zoom(second_photo(), size, count - cut_at, zoom=0.95)


def write_clip(
    path: Path,
    frames: Iterator[np.ndarray] | list[np.ndarray],
    fps: int = 24,
    audio: bool = False,
    codec: str = "libx264",
    audio_codec: str = "aac",
    options: dict[str, str] | None = None,
    layout: str = "mono",
    audio_start: float = 0.0,
) -> Path:
    """Encode gray or RGB uint8 frames into ``path`` (container from its extension).

    With ``audio``, adds a 440 Hz tone (``layout`` "mono" or "stereo") in ``audio_codec`` from
    ``audio_start`` seconds to the end of the video.
    """
    import av

    frames = list(frames)
    with av.open(str(path), mode="w", options=options or {}) as container:
        video = container.add_stream(codec, rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"crf": "12", "preset": "veryfast"}
        sound = container.add_stream(audio_codec, rate=16000) if audio else None
        if sound is not None:
            sound.layout = layout
        for index, frame in enumerate(frames):
            rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            picture.pts = index
            container.mux(video.encode(picture))
        container.mux(video.encode(None))
        if sound is not None:
            samples = 16000 * len(frames) // fps
            channels = 2 if layout == "stereo" else 1
            tone = (np.sin(2 * np.pi * 440 * np.arange(samples) / 16000) * 8000).astype(np.int16)
            tone = np.repeat(tone, channels)  # interleaved
            for start in range(round(audio_start * 16000), samples, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start * channels : (start + 1024) * channels],
                    format="s16",
                    layout=layout,
                )
                chunk.sample_rate = 16000
                chunk.pts = start
                chunk.time_base = Fraction(1, 16000)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as ``(H, W, 3)`` uint8 RGB."""
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
