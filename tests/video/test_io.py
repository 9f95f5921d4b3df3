"""Reading and writing video files with PyAV: metadata, audio, atomic output, bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidVideoError
from masterpiece.video.io import VIDEO_EXTENSIONS, VideoReader, VideoWriter, output_codec

from .clips import moving_shapes, read_frames, write_clip


def _copy(reader: VideoReader, destination: Path, **options) -> Path:
    """Re-encode every frame unchanged (the writer's plumbing without a model)."""
    with VideoWriter(destination, reader.info, reader.audio_stream, **options) as writer:
        for frame in reader.frames(writer.write_audio):
            writer.write(frame.rgb, frame)
        return writer.finish()


def _audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for start in range(0, 16000, 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.int16), format="s16", layout="mono"
            )
            chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    return path


def test_reader_describes_the_clip(pan_clip_with_audio):
    with VideoReader(pan_clip_with_audio) as reader:
        info = reader.info
        assert (info.width, info.height, info.frame_rate, info.frame_count) == (96, 64, 24, 12)
        assert info.codec == "h264" and info.audio_codec == "aac"
        kinds = []  # packets must not outlive their container: keep what they are
        frames = list(reader.frames(lambda packet: kinds.append(packet.stream.type)))
    assert (
        len(frames) == 12 and frames[0].rgb.shape == (64, 96, 3) and frames[0].rgb.dtype == np.uint8
    )
    assert [frame.pts for frame in frames] == sorted(frame.pts for frame in frames)
    assert kinds and set(kinds) == {"audio"}


@pytest.mark.parametrize("extension", [".mp4", ".mkv", ".mov", ".avi"])
def test_writer_keeps_size_rate_frames_and_copies_audio(pan_clip_with_audio, tmp_path, extension):
    with VideoReader(pan_clip_with_audio) as reader:
        destination = tmp_path / f"copy{extension}"
        assert _copy(reader, destination) == destination
    with av.open(str(destination)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height, video.average_rate) == (96, 64, 24)
        assert video.codec_context.name == output_codec(destination)[0].replace("lib", "").replace(
            "x264", "h264"
        )
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration / 1e6 == pytest.approx(0.5, abs=0.1)
    assert len(read_frames(destination)) == 12
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        destination.name
    ]  # no temporary left


def test_audio_that_cannot_be_copied_is_transcoded(pan_frames, tmp_path):
    source = write_clip(tmp_path / "pcm.mkv", pan_frames, audio=True, audio_codec="pcm_s16le")
    with (
        VideoReader(source) as reader,
        VideoWriter(tmp_path / "out.webm", reader.info, reader.audio_stream) as writer,
    ):
        for frame in reader.frames(writer.write_audio):
            writer.write(frame.rgb, frame)
        writer.finish()
    assert writer.audio.startswith("transcoded from pcm_s16le to opus")
    with av.open(str(tmp_path / "out.webm")) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
        assert container.streams.audio[0].codec_context.name == "opus"


def test_odd_sizes_and_display_rotation_are_kept(tmp_path):
    frames = list(moving_shapes((95, 63), 4))
    source = tmp_path / "odd.mkv"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height = 95, 63
        stream.set_display_rotation(90)
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(
                np.repeat(frame[..., None], 3, axis=2), format="rgb24"
            )
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    with VideoReader(source) as reader:
        _copy(reader, tmp_path / "odd.mp4")
    with av.open(str(tmp_path / "odd.mp4")) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (95, 63)
        first = next(container.decode(video=0))
        assert first.rotation == 90


def test_an_error_while_writing_leaves_nothing(pan_clip, tmp_path):
    destination = tmp_path / "out.avi"  # MPEG-4 writes packets at once (x264 would still buffer)
    with (
        VideoReader(pan_clip) as reader,
        pytest.raises(RuntimeError),
        VideoWriter(destination, reader.info) as writer,
    ):
        for index, frame in enumerate(reader.frames()):
            writer.write(frame.rgb, frame)
            if index == 5:
                assert writer.temporary.exists() and writer.temporary.name.startswith(".out.")
                raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_output_codec_follows_the_name():
    assert output_codec("a.MP4") == ("libx264", "aac")
    assert output_codec("a.webm") == ("libvpx-vp9", "libopus")
    assert set(VIDEO_EXTENSIONS) == {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
    with pytest.raises(ConfigError, match=r"\.mp4"):
        output_codec("a.gif")


def _truncated(source: Path, destination: Path) -> Path:
    data = source.read_bytes()
    destination.write_bytes(data[: len(data) // 2])
    return destination


def _unknown_codec(tmp_path: Path) -> Path:
    """An AVI whose codec tag FFmpeg does not know (the MPEG-4 tag replaced)."""
    source = write_clip(tmp_path / "mpeg4.avi", moving_shapes((96, 64), 4), codec="mpeg4")
    path = tmp_path / "unknown.avi"
    path.write_bytes(source.read_bytes().replace(b"FMP4", b"ZZZZ"))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, clip, frames: tmp / "missing.mp4", "no such file"),
        (
            lambda tmp, clip, frames: (
                (tmp / "notes.mp4").write_bytes(b"not a video at all") and tmp / "notes.mp4"
            ),
            "not a readable video",
        ),
        (
            lambda tmp, clip, frames: (tmp / "empty.mp4").write_bytes(b"") or tmp / "empty.mp4",
            "not a readable video",
        ),
        (lambda tmp, clip, frames: _audio_only(tmp / "sound.m4a"), "no video stream"),
        (lambda tmp, clip, frames: _unknown_codec(tmp), "codec is not supported"),
        (lambda tmp, clip, frames: _truncated(clip, tmp / "cut.mp4"), "not a readable video"),
        (
            lambda tmp, clip, frames: _truncated(
                write_clip(tmp / "fast.mp4", frames, options={"movflags": "faststart"}),
                tmp / "cut_fast.mp4",
            ),
            "truncated or damaged",
        ),
    ],
    ids=[
        "missing",
        "text",
        "empty",
        "audio-only",
        "unknown-codec",
        "truncated",
        "truncated-faststart",
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, pan_clip, shape_frames, make, message):
    path = make(tmp_path, pan_clip, shape_frames)
    with pytest.raises(InvalidVideoError, match=message), VideoReader(path) as reader:
        for _ in reader.frames():
            pass
