"""Decoding and encoding video with PyAV (the FFmpeg libraries inside the ``av`` wheel).

:class:`VideoReader` opens a file, checks it has a decodable video stream and yields its
frames one at a time as ``(H, W, 3)`` uint8 sRGB with their timestamps; audio packets are
handed to a callback as they are demuxed, so nothing accumulates (memory is flat whatever
the length). :class:`VideoWriter` encodes frames into a hidden temporary file beside the
output (``.NAME.part.EXT``) and renames it into place only when everything was written: an
error or an interruption removes it, so no half-written video ever has the final name.
Every PyAV and OS error is translated here into :class:`~masterpiece.errors.InvalidVideoError`
(the input) or :class:`~masterpiece.errors.OutputError` (the output), and nowhere else.

Decisions:

- Output codec from the output name: ``.mp4 .m4v .mov .mkv`` -> H.264 (libx264, CRF 18,
  ``yuv420p``, or ``yuv444p`` when a side is odd, which 4:2:0 cannot hold), ``.webm`` -> VP9,
  ``.avi`` -> MPEG-4 Part 2. Resolution, frame timestamps (so variable frame rates too), the
  average frame rate, the pixels' aspect ratio (anamorphic video) and the display rotation of
  phone videos are the source's.
- Audio: the first audio stream is copied packet by packet (no re-encoding) when the output
  container accepts its codec (FFmpeg's own ``avformat_query_codec`` answer, confirmed by
  writing the header at once: a muxer that still refuses it, such as Opus in MOV, gets the
  audio transcoded); otherwise it is transcoded to AAC (Opus for WebM), keeping its start
  time, and :attr:`VideoWriter.audio` says so. A channel layout without a defined order
  (AVI/MKV PCM and ADPCM: "2 channels") is written as the usual layout of that many channels.
  Other audio streams, subtitles, data streams and attached pictures (cover art, which is
  not a video) are not carried.
- Damaged input: a decoding error, or decoded frames that end well before the duration the
  container declares (by more than 2 frames and 5 %), is an :class:`InvalidVideoError` (a
  truncated file); nothing is concealed. Timestamps, not frame counts, are compared: edit
  lists and dropped-frame entries make declared counts exceed what decodes in valid files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import output_error, remove_temporary, replace_durably, temporary_sibling
from ..errors import ConfigError, InvalidVideoError, OutputError

__all__ = ["VIDEO_EXTENSIONS", "VideoInfo", "VideoReader", "VideoWriter", "output_codec"]

logger = logging.getLogger(__name__)

#: output extension -> (video encoder, audio encoder used when the audio cannot be copied)
_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".avi": ("mpeg4", "aac"),
}
VIDEO_EXTENSIONS = tuple(_CODECS)
"""Output extensions :class:`VideoWriter` can write."""

_OPEN_ADVICE = "pass an ordinary video file (MP4, MOV, MKV, WebM, AVI)"
#: Decoded frames may end this many frame durations, or this fraction of the declared duration
#: (whichever is more), before the declared duration without the file being called truncated.
_SHORT_FRAMES_TOLERATED = 2
_SHORT_FRACTION_TOLERATED = 0.05


def _av() -> Any:
    """The ``av`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import av
    except ImportError as error:
        raise ConfigError(
            "video needs PyAV (the FFmpeg libraries for Python); install it with "
            "pip install 'masterpiece[video]'"
        ) from error
    return av


def output_codec(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(video encoder, fallback audio encoder)`` for an output name.

    Raises:
        ConfigError: the extension is not one of :data:`VIDEO_EXTENSIONS`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _CODECS:
        raise ConfigError(
            f"cannot write a video named '{path}'; use one of {', '.join(VIDEO_EXTENSIONS)}"
        )
    return _CODECS[suffix]


@dataclass(frozen=True)
class VideoInfo:
    """What :class:`VideoReader` learnt from the container before decoding.

    Attributes:
        width, height: frame size in pixels (before any display rotation).
        frame_rate: the average frame rate (frames per second), or ``None`` if unknown.
        frame_count: the number of frames the container declares, or ``None`` if it does not.
        codec: the video codec's name (``h264``...).
        audio_codec: the first audio stream's codec, or ``None`` without audio.
        sample_aspect_ratio: the pixels' shape (``32/27`` for anamorphic DVD video), or
            ``None`` when unknown (square).
    """

    width: int
    height: int
    frame_rate: Fraction | None
    frame_count: int | None
    codec: str
    audio_codec: str | None
    sample_aspect_ratio: Fraction | None = None


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: ``rgb`` ``(H, W, 3)`` uint8 sRGB and its timing."""

    rgb: np.ndarray
    pts: int | None
    time_base: Fraction | None
    rotation: int


class VideoReader:
    """A video file opened for decoding (a context manager).

    Raises:
        InvalidVideoError: the file is missing, not a video, has no video stream, or its codec
            cannot be decoded.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        av = _av()
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path), mode="r")
        except FileNotFoundError as error:
            raise InvalidVideoError(f"'{self.path}': no such file") from error
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as error:
            raise InvalidVideoError(
                f"'{self.path}' is not a readable video ({_reason(error)}); {_OPEN_ADVICE}"
            ) from error
        try:
            self._video, self._audio = self._streams()
            self.info = self._describe()
        except BaseException:
            self._container.close()
            raise

    def _streams(self) -> tuple[Any, Any]:
        av = _av()
        streams = self._container.streams
        attached = av.stream.Disposition.attached_pic
        videos = [stream for stream in streams.video if not stream.disposition & attached]
        if not videos:  # an attached picture is cover art of an audio file, not a video
            raise InvalidVideoError(
                f"'{self.path}' has no video stream (audio only, or not a video); {_OPEN_ADVICE}"
            )
        video = videos[0]
        if video.codec_context is None or not video.codec_context.codec.is_decoder:
            raise InvalidVideoError(
                f"'{self.path}': its video codec is not supported by the FFmpeg libraries in PyAV; "
                "convert it to H.264 (MP4) with another tool first"
            )
        video.thread_type = "AUTO"
        audio = streams.audio[0] if streams.audio else None
        return video, audio

    def _describe(self) -> VideoInfo:
        context = self._video.codec_context
        if not context.width or not context.height:
            raise InvalidVideoError(
                f"'{self.path}': the video stream has no frame size; the file is damaged"
            )
        rate = self._video.average_rate or self._video.guessed_rate
        sar = self._video.sample_aspect_ratio or context.sample_aspect_ratio
        return VideoInfo(
            width=int(context.width),
            height=int(context.height),
            frame_rate=Fraction(rate) if rate else None,
            frame_count=int(self._video.frames) or None,
            codec=context.name,
            audio_codec=self._audio.codec_context.name if self._audio is not None else None,
            sample_aspect_ratio=Fraction(sar) if sar else None,
        )

    @property
    def expected_frames(self) -> int | None:
        """The declared frame count, else an estimate from the duration and frame rate, else ``None``."""
        if self.info.frame_count:
            return self.info.frame_count
        duration = self._container.duration  # microseconds
        if duration and self.info.frame_rate:
            return max(1, round(duration / 1_000_000 * self.info.frame_rate))
        return None

    @property
    def audio_stream(self) -> Any:
        """The first audio stream (a PyAV stream) or ``None``."""
        return self._audio

    def frames(self, on_audio: Callable[[Any], None] | None = None) -> Iterator[DecodedFrame]:
        """Decode the video stream in presentation order; hand audio packets to ``on_audio``.

        Raises:
            InvalidVideoError: a packet cannot be decoded or the frames end well before the
                duration the file declares (a truncated or damaged file); no frame decodes.

        Audio packets are demuxed (and their timing checked) even without ``on_audio``.
        """
        av = _av()
        wanted = [self._video] + ([self._audio] if self._audio is not None else [])
        count = 0
        video_end = audio_end = None  # seconds: the latest end of a frame / an audio packet
        try:
            for packet in self._container.demux(wanted):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        audio_end = _latest(audio_end, _end(packet, None))
                        if on_audio is not None:
                            on_audio(packet)
                    continue
                for frame in packet.decode():
                    count += 1
                    video_end = _latest(video_end, _end(frame, self.info.frame_rate))
                    yield DecodedFrame(
                        frame.to_ndarray(format="rgb24"),
                        frame.pts,
                        Fraction(frame.time_base) if frame.time_base else None,
                        int(frame.rotation or 0),
                    )
        except (av.error.FFmpegError, EOFError) as error:
            raise InvalidVideoError(
                f"'{self.path}' could not be decoded after {count} frame(s) ({_reason(error)}); "
                "the file is truncated or damaged"
            ) from error
        self._check_complete(count, video_end, audio_end)

    def _check_complete(self, count: int, video_end: float | None, audio_end: float | None) -> None:
        """Raise if nothing decoded, or the frames end well before the declared duration.

        The video stream's own duration is preferred (MP4, AVI, MPEG-TS; Matroska's
        ``DURATION`` tag); the container's (the longest stream's) is compared with the end of
        the video or the audio, whichever is later.
        """
        if count == 0:
            raise InvalidVideoError(
                f"'{self.path}': no video frame could be decoded; the file is empty or damaged"
            )
        if video_end is None:
            return
        declared = self._declared_video_end()
        reached = video_end
        if declared is None:
            declared = self._declared_container_end()
            reached = max(video_end, audio_end or video_end)
        if declared is None:
            return
        start = self._start_seconds()
        frame = 1 / self.info.frame_rate if self.info.frame_rate else 0.0
        tolerance = max(
            _SHORT_FRAMES_TOLERATED * float(frame), _SHORT_FRACTION_TOLERATED * (declared - start)
        )
        if reached + tolerance < declared:
            raise InvalidVideoError(
                f"'{self.path}' ends at {reached - start:.2f} s of the {declared - start:.2f} s it "
                f"declares ({count} frame(s) decoded); the file is truncated or damaged"
            )

    def _start_seconds(self) -> float:
        video = self._video
        if video.start_time is not None and video.time_base:
            return float(video.start_time * video.time_base)
        return 0.0

    def _declared_video_end(self) -> float | None:
        """The video stream's end in seconds from its declared duration, or ``None``."""
        video = self._video
        if video.duration and video.time_base:
            return self._start_seconds() + float(video.duration * video.time_base)
        tag = (video.metadata or {}).get("DURATION")  # Matroska / WebM: "HH:MM:SS.nnnnnnnnn"
        if tag:
            try:
                hours, minutes, seconds = tag.split(":")
                return (
                    self._start_seconds() + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
                )
            except ValueError:
                return None
        return None

    def _declared_container_end(self) -> float | None:
        container = self._container
        if not container.duration:
            return None
        return (container.start_time or 0) / 1_000_000 + container.duration / 1_000_000

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:  # noqa: PYI034  (Self needs Python 3.11)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class VideoWriter:
    """Encodes frames into ``destination`` atomically (a context manager).

    Frames are written to ``.NAME.part.EXT`` beside ``destination``; :meth:`finish` flushes
    the encoders, closes the file and renames it to ``destination`` (replacing it: callers
    decide about overwriting). Leaving the ``with`` block without :meth:`finish` (an error,
    Ctrl-C) removes the temporary file. The container is opened at the first frame, which
    carries the display rotation; audio packets arriving before are kept until then.

    Args:
        destination: the output file; its extension picks the codecs (:func:`output_codec`).
        info: the source's :class:`VideoInfo` (size and frame rate).
        audio_stream: the source's audio stream to carry, or ``None``.
        crf: H.264/VP9 constant rate factor (0 lossless .. 51; 18 is visually lossless).
    """

    def __init__(
        self,
        destination: str | os.PathLike[str],
        info: VideoInfo,
        audio_stream: Any = None,
        crf: int = 18,
    ) -> None:
        self.destination = Path(destination)
        self.video_codec, self._audio_fallback = output_codec(self.destination)
        if not 0 <= crf <= 51:
            raise ConfigError(f"crf must be 0..51, got {crf}")
        self.info, self.crf = info, crf
        self.temporary = temporary_sibling(self.destination, keep_extension=True)
        self._source_audio = audio_stream
        self._pending_audio: list[Any] = []
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._transcode = False
        self._last_pts: int | None = None
        self._time_base: Fraction | None = None  # the encoder's; timestamps are converted to it
        self._finished = False
        #: what happened to the audio: "none", "copied (aac)" or "transcoded from pcm_s16le to aac"
        self.audio = "none"

    def _start(self, first: DecodedFrame) -> None:
        """Open the temporary file, add the streams and write the header at once, so that a
        muxer refusing the copied audio codec (which it claimed to accept) is found now and
        the audio transcoded instead."""
        av = _av()
        try:
            self.destination.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise output_error(self.destination, error) from error
        try:
            self._open(first, copy_audio=True)
        except (av.error.FFmpegError, ValueError) as error:
            if self._source_audio is None or self._transcode:
                raise self._output_error(error) from error
            logger.info(
                "audio: %s refused copying %s (%s); transcoding it",
                self.destination.suffix,
                self._source_audio.codec_context.name,
                _reason(error),
            )
            self._abandon()
            try:
                self._open(first, copy_audio=False)
            except (av.error.FFmpegError, ValueError) as second:
                raise self._output_error(second) from second

    def _open(self, first: DecodedFrame, copy_audio: bool) -> None:
        av = _av()
        try:
            self._container = av.open(str(self.temporary), mode="w")
        except OSError as error:
            raise output_error(self.destination, error) from error
        self._video = self._add_video_stream(first)
        if self._source_audio is not None:
            self._audio = self._add_audio_stream(copy_audio)
        self._container.start_encoding()  # the header: opens the encoders, asks the muxer

    def _abandon(self) -> None:
        """Close the container quietly and remove the temporary file."""
        container, self._container = self._container, None
        self._video = self._audio = None
        self._transcode = False
        if container is not None:
            try:
                container.close()
            except Exception as error:  # noqa: BLE001  (already failing; the temporary goes anyway)
                logger.debug("closing the abandoned output failed: %s", error)
        remove_temporary(self.temporary)

    def _output_error(self, error: BaseException) -> OutputError:
        """An :class:`OutputError` for a PyAV or OS error while writing."""
        if isinstance(error, OutputError):
            return error
        if isinstance(error, OSError) and error.errno:
            return output_error(self.destination, error)
        return OutputError(f"cannot write '{self.destination}': {_reason(error)}")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Translate the PyAV and OS errors of an encode, mux or close into :class:`OutputError`."""
        av = _av()
        try:
            yield
        except OutputError:
            raise
        except (OSError, av.error.FFmpegError) as error:  # av.error.OSError: a full disk
            raise self._output_error(error) from error

    def _add_video_stream(self, first: DecodedFrame) -> Any:
        info = self.info
        rate = info.frame_rate or Fraction(25)
        stream = self._container.add_stream(self.video_codec, rate=rate)
        stream.width, stream.height = info.width, info.height
        odd = info.width % 2 or info.height % 2
        stream.pix_fmt = "yuv444p" if odd and self.video_codec == "libx264" else "yuv420p"
        if self.video_codec == "mpeg4":
            stream.options = {"qscale": "3"}
        else:
            stream.options = {
                "crf": str(self.crf),
                **({"b": "0"} if self.video_codec == "libvpx-vp9" else {}),
            }
        if first.time_base is not None and first.pts is not None and self.video_codec != "mpeg4":
            self._time_base = first.time_base  # keeps variable frame rates exact
        else:  # MPEG-4 Part 2 needs a time base of at most 65535 ticks a second: 1 / frame rate
            self._time_base = 1 / Fraction(rate).limit_denominator(65535)
        stream.codec_context.time_base = self._time_base
        if info.sample_aspect_ratio and info.sample_aspect_ratio != 1:  # anamorphic pixels
            stream.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        if first.rotation:
            stream.set_display_rotation(first.rotation)
        return stream

    def _add_audio_stream(self, copy: bool) -> Any:
        source = self._source_audio
        name = source.codec_context.name
        layout = _ordered_layout(source.codec_context.layout)
        if copy and name in self._container.supported_codecs:
            self.audio = f"copied ({name})"
            stream = self._container.add_stream_from_template(source)
            if layout is not None:
                stream.codec_context.layout = layout
            return stream
        self._transcode = True
        target = self._audio_fallback
        self.audio = f"transcoded from {name} to {target.removeprefix('lib')} ({name} cannot go into {self.destination.suffix})"
        logger.info("audio: %s", self.audio)
        rate = (
            48000 if target == "libopus" else source.codec_context.sample_rate or 48000
        )  # Opus: 48 kHz
        stream = self._container.add_stream(target, rate=rate)
        if layout is not None:
            stream.layout = layout
        return stream

    def write_audio(self, packet: Any) -> None:
        """Mux (or transcode) one demuxed audio packet of the source's audio stream."""
        if self._container is None:
            self._pending_audio.append(packet)
            return
        self._mux_audio(packet)

    def _mux_audio(self, packet: Any) -> None:
        if self._audio is None:
            return
        if not self._transcode:
            packet.stream = self._audio
            self._mux([packet])
            return
        for frame in packet.decode():  # a damaged packet: an input error, raised as it is
            with self._writing():  # timestamps kept: the audio starts when the source's does
                packets = self._audio.encode(frame)
            self._mux(packets)

    def write(self, rgb: np.ndarray, frame: DecodedFrame) -> None:
        """Encode one ``(H, W, 3)`` uint8 sRGB frame with the timing of the source ``frame``."""
        av = _av()
        if self._container is None:
            self._start(frame)
            pending, self._pending_audio = self._pending_audio, []
            for packet in pending:
                self._mux_audio(packet)
        output = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        output.pts = self._next_pts(frame)
        output.time_base = self._time_base
        with self._writing():
            packets = self._video.encode(output)
        self._mux(packets)

    def _next_pts(self, frame: DecodedFrame) -> int:
        """The source's timestamp in the encoder's time base, made strictly increasing (encoders
        refuse repeats); frames without one follow the previous frame."""
        pts = None
        if frame.pts is not None and frame.time_base is not None:
            pts = round(frame.pts * frame.time_base / self._time_base)
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + 1
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def _mux(self, packets: Any) -> None:
        with self._writing():
            self._container.mux(packets)

    def finish(self) -> Path:
        """Flush the encoders, close the file and rename it to the destination; returns it.

        Raises:
            OutputError: encoding, writing the trailer or renaming failed (the temporary file
                is removed when the ``with`` block is left).
        """
        if self._container is None:
            raise InvalidVideoError("no frame was written")
        with self._writing():
            packets = self._video.encode(None)
        self._mux(packets)
        if self._transcode:
            with self._writing():
                packets = self._audio.encode(None)
            self._mux(packets)
        container, self._container = self._container, None
        with self._writing():
            container.close()  # writes the trailer; closes the file even when that fails
            replace_durably(self.temporary, self.destination)
        self._finished = True
        return self.destination

    def __enter__(self) -> VideoWriter:  # noqa: PYI034
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._finished:
            self._abandon()


def _ordered_layout(layout: Any) -> Any:
    """``layout``, or for one without a channel order ("2 channels", as AVI and Matroska PCM
    and ADPCM report) the usual layout of that many channels: encoders and the MP4 muxer
    refuse an unordered one. ``None`` without a layout."""
    if layout is None:
        return None
    if layout.name.endswith("channels"):
        return _av().AudioLayout(f"{layout.nb_channels}c")
    return layout


def _end(item: Any, rate: Fraction | None) -> float | None:
    """When a frame or packet ends, in seconds (its duration, else one frame at ``rate``)."""
    if item.pts is None or not item.time_base:
        return None
    duration = item.duration * item.time_base if item.duration else (1 / rate if rate else 0)
    return float(item.pts * item.time_base + duration)


def _latest(current: float | None, new: float | None) -> float | None:
    if new is None:
        return current
    return new if current is None else max(current, new)


def _reason(error: BaseException) -> str:
    """A short reason from a PyAV error (its strerror without the errno noise)."""
    return str(getattr(error, "strerror", None) or error)
