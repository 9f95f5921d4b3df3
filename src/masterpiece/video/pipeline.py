"""Colorizing video: :class:`FrameColorizer` for frames in memory, :func:`colorize_video` for files.

With a restorer (``restore=``), each frame's scratches, dust and tears are repaired first
(:func:`~masterpiece.pipeline.repair.repair_for_colorizing`): the network, the motion
tracking and the output all see the repaired ``L``; the stabilisation is unchanged.

The work is streamed: frames are decoded one by one, gathered in batches of ``batch_size``
for the network, stabilised in order and encoded at once, so memory holds one batch whatever
the length of the film. For each batch:

1. Each frame is resized to the network's square input and its ``L`` taken exactly as
   :class:`~masterpiece.pipeline.image.Colorizer` does (antialiased bicubic, as the official demo).
2. In order, each frame is linked to the previous one (:mod:`.scenes` and :mod:`.temporal`):
   a cut, or the optical flow and its confidence. User hints are placed or moved along the flow.
3. The whole batch goes through :meth:`Colorizer.network_ab` at once (with per-frame hint
   maps for models that take hints); the saturation is applied to the small ``ab``.
4. :class:`~.temporal.ChromaStabiliser` blends each prediction with the previous stabilised
   ``ab`` moved along the motion (never across a cut).
5. ``ab`` is upsampled to the full size and joined with the frame's own full-resolution ``L``
   by :meth:`Colorizer.render <masterpiece.pipeline.image.Colorizer.render>` (Lab -> sRGB with
   OpenCV and the gamut table whatever ``precision``: within 1 delta E of the exact path,
   well under what the video codec discards).

Colour hints and reference frames (models that take hints: ``compact``, ``siggraph17``) are
given per frame index; they take effect at that frame (which starts a new stabilised run, so
they apply at once), follow the content along the motion, and end at the next cut. Hints
given later in the same shot add to the earlier ones (and replace them where they overlap). A
reference frame is a colour image of that frame (any size; for example one frame colorized
by hand or in the app); it becomes an 8 x 8 grid of hints of its mean colours.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..color.hint_maps import HintMaps
from ..color.lab_np import rgb_to_lab_array
from ..errors import ConfigError, InvalidHintError, InvalidInputError, OutputExistsError
from ..pipeline.bands import network_lightness
from ..pipeline.image import ColorHint, Colorizer, hint_maps
from ..pipeline.repair import repair_for_colorizing, resolve_restorer
from .io import VideoReader, VideoWriter, output_codec
from .temporal import (
    FLOW_SIZE,
    ChromaStabiliser,
    MotionLink,
    TemporalSettings,
    is_cut,
    link_frames,
    track_hints,
)

__all__ = ["FrameColorizer", "VideoResult", "colorize_video", "reference_hint_maps"]

#: frames per network call on the CPU (batch 1 and 4 cost the same per frame there; 8 was slower
#: on the 2-core reference machine) and on a GPU, where batching pays
DEFAULT_BATCH_CPU = 4
DEFAULT_BATCH_GPU = 16
#: a reference frame becomes a REFERENCE_GRID x REFERENCE_GRID grid of hints, each the mean
#: colour of a REFERENCE_PATCH-pixel square of the network's input
REFERENCE_GRID = 8
REFERENCE_PATCH = 5

#: one frame's hint maps: ``(2, S, S)`` ab in Lab units, ``(1, S, S)`` mask in {0, 1} (a batch of
#: them is stacked into a :class:`~masterpiece.color.hint_maps.HintMaps`)
FrameHints = tuple[np.ndarray, np.ndarray]


def reference_hint_maps(reference: np.ndarray, size: int, grid: int = REFERENCE_GRID) -> FrameHints:
    """Hint maps at the network's ``size`` from a colour image of a frame.

    Args:
        reference: ``(H, W, 3)`` sRGB, uint8 or float32 in [0, 1], any size (it is resized to
            the network's square input, as the frame is).
        size: the network input's side.
        grid: hints per side; each is the mean ab of a :data:`REFERENCE_PATCH` square.

    Returns:
        ``(hint_ab (2, size, size), hint_mask (1, size, size))`` float32.
    """
    if reference.ndim != 3 or reference.shape[-1] != 3:
        raise InvalidHintError(
            f"a reference frame must be an (H, W, 3) colour image, got shape {reference.shape}"
        )
    rgb = (
        reference.astype(np.float32) / 255.0
        if reference.dtype == np.uint8
        else reference.astype(np.float32)
    )
    ab = rgb_to_lab_array(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))[..., 1:]
    ab = cv2.blur(ab, (REFERENCE_PATCH, REFERENCE_PATCH))
    hint_ab = np.zeros((2, size, size), np.float32)
    mask = np.zeros((1, size, size), np.float32)
    half = REFERENCE_PATCH // 2
    for centre_y in ((np.arange(grid) + 0.5) * size / grid).astype(int):
        for centre_x in ((np.arange(grid) + 0.5) * size / grid).astype(int):
            rows, columns = (
                slice(centre_y - half, centre_y + half + 1),
                slice(centre_x - half, centre_x + half + 1),
            )
            hint_ab[:, rows, columns] = ab[centre_y, centre_x].reshape(2, 1, 1)
            mask[:, rows, columns] = 1.0
    return hint_ab, mask


@dataclass
class _Frame:
    """One frame on its way through the pipeline."""

    index: int
    pixels: np.ndarray  # (H, W) or (H, W, 3) uint8, as decoded; (H, W) float32 gray when repaired
    network_l: np.ndarray  # (1, S, S) float32 L
    small: np.ndarray  # (FLOW_SIZE, FLOW_SIZE) uint8 L * 2.55
    link: MotionLink | None = None
    hints: FrameHints | None = None


class FrameColorizer:
    """Colorizes a sequence of frames in order, with temporal stabilisation (see the module docstring).

    Args:
        colorizer: the loaded model and its settings.
        stabilise: blend chroma along the motion within shots; ``False`` colorizes every frame
            on its own (the per-frame baseline).
        temporal: the stabilisation and cut settings.
        batch_size: frames per network call (default: 4 on the CPU, 16 on a GPU).
        hints: frame index -> colour hints (pixel positions in that frame).
        references: frame index -> a colour image of that frame (see :func:`reference_hint_maps`).
        restore: repair each frame before colorizing it: ``True`` or a
            :class:`~masterpiece.restoration.Restorer` (None: no repair).

    Raises:
        InvalidHintError: hints or references for a model that does not take hints.
        ConfigError: ``batch_size`` below 1.

    Attributes:
        cuts: the indices of the frames found to start a new shot (after frame 0), in order.
    """

    def __init__(
        self,
        colorizer: Colorizer,
        *,
        stabilise: bool = True,
        temporal: TemporalSettings | None = None,
        batch_size: int | None = None,
        hints: Mapping[int, Sequence[ColorHint]] | None = None,
        references: Mapping[int, np.ndarray] | None = None,
        restore: object = None,
    ) -> None:
        self.colorizer = colorizer
        self.restorer = resolve_restorer(restore)
        self.stabilise = stabilise
        self.settings = temporal or TemporalSettings()
        default_batch = DEFAULT_BATCH_GPU if colorizer.device.startswith("cuda") else DEFAULT_BATCH_CPU
        self.batch_size = default_batch if batch_size is None else int(batch_size)
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self._hints = dict(hints or {})
        self._references = {
            index: _reference_maps(image, colorizer.size)
            for index, image in (references or {}).items()
        }
        if (self._hints or self._references) and not colorizer.accepts_hints:
            raise InvalidHintError(
                f"model {colorizer.model_name!r} does not accept colour hints or reference frames; "
                "use compact or siggraph17"
            )
        self.cuts: list[int] = []
        self._stabiliser = ChromaStabiliser(self.settings)
        self._previous: np.ndarray | None = None
        self._active_hints: FrameHints | None = None
        self._count = 0

    def colorize(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Colorize ``frames`` (``(H, W)`` gray or ``(H, W, 3)`` sRGB, uint8) in order.

        Yields ``(H, W, 3)`` uint8 sRGB frames, each as soon as its batch is done. Only the
        lightness of the input is used. Calls continue the same sequence (a new instance
        starts a new one).
        """
        batch: list[_Frame] = []
        for frame in frames:
            batch.append(self._prepare(frame))
            if len(batch) == self.batch_size:
                yield from self._finish(batch)
                batch = []
        if batch:
            yield from self._finish(batch)

    def _prepare(self, frame: np.ndarray) -> _Frame:
        if (
            not isinstance(frame, np.ndarray)
            or frame.dtype != np.uint8
            or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[-1] == 3))
        ):
            raise InvalidInputError("video frames must be (H, W) or (H, W, 3) uint8 arrays")
        if self.restorer is not None:
            frame = repair_for_colorizing(frame, False, self.restorer).pixels
        network_l = network_lightness(frame, self.colorizer.size)[0]
        small = cv2.resize(
            network_l[0], (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_AREA
        )
        small = np.clip(small * 2.55 + 0.5, 0, 255).astype(np.uint8)
        item = _Frame(self._count, frame, network_l, small)
        self._count += 1
        return item

    def _link(self, frame: _Frame) -> None:
        """Find ``frame.link`` (``None`` at a cut) and its hint maps, in order."""
        previous, self._previous = self._previous, frame.small
        new_hints = self._hints_for(frame)
        tracking = self.stabilise or self._active_hints is not None
        if previous is not None and not is_cut(previous, frame.small, self.settings):
            link = link_frames(previous, frame.small, self.settings) if tracking else None
            if link is not None and link.coverage < self.settings.min_coverage:
                self.cuts.append(frame.index)
            else:
                frame.link = link
        elif previous is not None:
            self.cuts.append(frame.index)
        if frame.link is None:
            self._active_hints = None  # a cut (or no motion tracked): hints end with their shot
        elif self._active_hints is not None:
            self._active_hints = track_hints(*self._active_hints, frame.link)
        if new_hints is not None:  # added to the earlier hints of the shot, and over them
            self._active_hints = _combine_hints(self._active_hints, new_hints)
        frame.hints = self._active_hints
        if new_hints is not None:
            frame.link = None  # new hints start a new stabilised run, so they apply at once

    def _hints_for(self, frame: _Frame) -> FrameHints | None:
        reference = self._references.get(frame.index)
        hints = self._hints.get(frame.index)
        if reference is None and not hints:
            return None
        size = self.colorizer.size
        hint_ab, mask = reference if reference is not None else _empty_hints(size)
        if hints:
            height, width = frame.pixels.shape[:2]
            point_ab, point_mask = (maps[0] for maps in hint_maps(hints, (width, height), (size, size)))
            hint_ab = np.where(point_mask > 0, point_ab, hint_ab)
            mask = np.maximum(mask, point_mask)
        return hint_ab, mask

    def _predict(self, batch: list[_Frame]) -> np.ndarray:
        """``(B, 2, h, w)`` float32 ab for the batch, saturation applied."""
        network_l = np.stack([frame.network_l for frame in batch])
        hints = None
        if any(frame.hints is not None for frame in batch):
            maps = [frame.hints or _empty_hints(self.colorizer.size) for frame in batch]
            hints = HintMaps(np.stack([ab for ab, _ in maps]), np.stack([mask for _, mask in maps]))
        ab = self.colorizer.network_ab(network_l, hints)
        return ab * np.float32(self.colorizer.saturation)

    def _finish(self, batch: list[_Frame]) -> Iterator[np.ndarray]:
        for frame in batch:
            self._link(frame)
        predicted = self._predict(batch)
        for frame, ab in zip(batch, predicted):
            if self.stabilise:
                ab = self._stabiliser.step(ab, frame.link)
            yield self.colorizer.render(
                frame.pixels,
                np.ascontiguousarray(ab)[None],
                dtype=np.uint8,
                saturation=1.0,
                fast=True,
            )


def _combine_hints(earlier: FrameHints | None, newer: FrameHints) -> FrameHints:
    """``newer`` hint maps over ``earlier`` ones: both apply, ``newer`` where they overlap."""
    if earlier is None:
        return newer
    (earlier_ab, earlier_mask), (newer_ab, newer_mask) = earlier, newer
    return (
        np.where(newer_mask > 0, newer_ab, earlier_ab).astype(np.float32),
        np.maximum(earlier_mask, newer_mask),
    )


def _empty_hints(size: int) -> FrameHints:
    return np.zeros((2, size, size), np.float32), np.zeros((1, size, size), np.float32)


def _reference_maps(image: Any, size: int) -> FrameHints:
    if not isinstance(image, np.ndarray):
        from ..pipeline.decoding import read_image

        image = read_image(image).rgb
    return reference_hint_maps(image, size)


@dataclass(frozen=True)
class VideoResult:
    """What :func:`colorize_video` did.

    Attributes:
        path: the output file.
        frames: frames written.
        cuts: indices of the frames that started a new shot (after frame 0).
        seconds: wall time of decoding, colorizing and encoding.
        audio: ``"none"``, ``"copied (aac)"`` or how it was transcoded.
        model: the model's name.
    """

    path: Path
    frames: int
    cuts: tuple[int, ...]
    seconds: float
    audio: str
    model: str
    shots: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shots", len(self.cuts) + (1 if self.frames else 0))

    @property
    def fps(self) -> float:
        """Frames per second over the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def colorize_video(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    model: str | Colorizer | None = None,
    *,
    stabilise: bool = True,
    temporal: TemporalSettings | None = None,
    batch_size: int | None = None,
    hints: Mapping[int, Sequence[ColorHint]] | None = None,
    references: Mapping[int, Any] | None = None,
    overwrite: bool = False,
    crf: int = 18,
    on_frame: Callable[[int, int | None], None] | None = None,
    restore: object = None,
    **colorizer_options: Any,
) -> VideoResult:
    """Colorize a video file into ``destination`` (written atomically), keeping its audio.

    Args:
        source: any video file FFmpeg (PyAV) reads.
        destination: the output; its extension picks the codec (``.mp4 .m4v .mov .mkv``
            H.264, ``.webm`` VP9, ``.avi`` MPEG-4), see :mod:`.io`.
        model: a model name, a :class:`Colorizer`, or ``None`` for the best available model.
        stabilise, temporal, batch_size, hints, references: see :class:`FrameColorizer`;
            ``references`` may also hold image paths.
        overwrite: replace an existing ``destination``.
        crf: quality of H.264/VP9 (lower is better and bigger; 18 is visually lossless).
        on_frame: called after each frame is encoded with ``(frames done, total)``; the total
            is the container's frame count, or an estimate from its duration, or ``None``.
        restore: repair every frame first (``True`` or a :class:`~masterpiece.restoration.Restorer`).
        colorizer_options: :class:`Colorizer` settings when ``model`` is a name (``weights``,
            ``temperature``, ``saturation``, ``size``, ``device``, ``precision``).

    Returns:
        A :class:`VideoResult`.

    Raises:
        InvalidVideoError: the source is not a readable video, has no video stream, uses a
            codec that cannot be decoded, or is truncated or damaged (nothing is left under
            ``destination``).
        OutputExistsError: ``destination`` is the source, or exists and not ``overwrite``.
        OutputError: the output cannot be written.
        ConfigError: an unknown output extension or an invalid setting.
    """
    source, destination = Path(source), Path(destination)
    output_codec(destination)
    _check_destination(source, destination, overwrite)
    colorizer = model if isinstance(model, Colorizer) else Colorizer(model, **colorizer_options)
    frames = FrameColorizer(
        colorizer,
        stabilise=stabilise,
        temporal=temporal,
        batch_size=batch_size,
        hints=hints,
        references=references,
        restore=restore,
    )
    started = time.perf_counter()
    with (
        VideoReader(source) as reader,
        VideoWriter(destination, reader.info, reader.audio_stream, crf) as writer,
    ):
        total = reader.expected_frames
        timing: deque = deque()

        def decoded() -> Iterator[np.ndarray]:
            for frame in reader.frames(writer.write_audio):
                timing.append(frame)
                yield frame.rgb

        done = 0
        for rgb in frames.colorize(decoded()):
            writer.write(rgb, timing.popleft())
            done += 1
            if on_frame is not None:
                on_frame(done, total)
        writer.finish()
    return VideoResult(
        destination,
        done,
        tuple(frames.cuts),
        time.perf_counter() - started,
        writer.audio,
        colorizer.model_name,
    )


def _check_destination(source: Path, destination: Path, overwrite: bool) -> None:
    # realpath, not Path.resolve: it does not raise on a symbolic-link loop
    if os.path.lexists(destination) and os.path.realpath(destination) == os.path.realpath(source):
        raise OutputExistsError(
            f"refusing to overwrite the input {source}; choose another output name"
        )
    if os.path.lexists(destination) and not overwrite:
        raise OutputExistsError(
            f"{destination} exists; pass --overwrite (overwrite=True) to replace it"
        )
