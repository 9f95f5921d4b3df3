"""Colorizing video without flicker: streamed decoding and encoding with PyAV, scene cuts,
chroma stabilised along the optical flow within each shot, and a flicker metric.

::

    from masterpiece.video import colorize_video

    result = colorize_video("film.mp4", "film_colour.mp4", "compact",
                            on_frame=lambda done, total: print(done, total))
    result.fps, result.cuts, result.audio

Needs PyAV (``pip install 'masterpiece[video]'``); the modules import it only when a file is
opened, so :class:`FrameColorizer` and :func:`measure_flicker` work on arrays without it.
"""

from __future__ import annotations

from .flicker import FlickerReport, measure_flicker
from .io import VIDEO_EXTENSIONS, VideoInfo, VideoReader, VideoWriter
from .pipeline import FrameColorizer, VideoResult, colorize_video, reference_hint_maps
from .temporal import ChromaStabiliser, TemporalSettings

__all__ = [
    "VIDEO_EXTENSIONS",
    "ChromaStabiliser",
    "FlickerReport",
    "FrameColorizer",
    "TemporalSettings",
    "VideoInfo",
    "VideoReader",
    "VideoResult",
    "VideoWriter",
    "colorize_video",
    "measure_flicker",
    "reference_hint_maps",
]
