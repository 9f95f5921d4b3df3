"""Reading and writing video files with PyAV: metadata, audio, atomic output, bad input."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidVideoError, OutputError
from masterpiece.video.io import VIDEO_EXTENSIONS, VideoReader, VideoWriter, output_codec

from .clips import moving_shapes, read_frames, write_clip


def _copy(reader: VideoReader, destination: Path, **options) -> Path:
    """Re-encode every frame unchanged (the writer's plumbing without a model)."""
    with VideoWriter(destination, reader.info, reader.audio_stream, **options) as writer:
        for frame in reader.frames(writer.write_audio):
            writer.write(frame.rgb, frame)
        return writer.finish()


def _audio_summary(path: Path) -> tuple[int, float]:
    """``(audio packets, seconds from the first packet's start to the last one's end)``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        times = [
            (packet.pts * packet.time_base, (packet.pts + packet.duration) * packet.time_base)
            for packet in container.demux(stream)
            if packet.pts is not None
        ]
    return len(times), float(max(end for _, end in times) - min(start for start, _ in times))


def _decoded_audio(path: Path) -> tuple[int, float, float]:
    """``(channels, first sample time, seconds of sound)`` of the first audio stream, decoded."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
        channels = container.streams.audio[0].codec_context.channels
    seconds = sum(frame.samples / frame.sample_rate for frame in frames)
    return channels, float(frames[0].pts * frames[0].time_base), seconds


def _mux_silence(container, stream, frame_size: int) -> None:
    """One second of mono 16 kHz silence through ``stream``, in frames of ``frame_size`` samples."""
    for start in range(0, 16000, frame_size):
        chunk = av.AudioFrame.from_ndarray(
            np.zeros((1, frame_size), np.int16), format="s16", layout="mono"
        )
        chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, Fraction(1, 16000)
        container.mux(stream.encode(chunk))
    container.mux(stream.encode(None))


def _audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        _mux_silence(container, stream, 1024)
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
    # every audio packet, with its timing (the copy is packet for packet; MKV and AVI cannot
    # start before 0, so the AAC priming moves the whole track by 64 ms there)
    packets, seconds = _audio_summary(destination)
    assert (packets, seconds) == (
        _audio_summary(pan_clip_with_audio)[0],
        pytest.approx(0.57, abs=0.015),
    )
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
    channels, start, seconds = _decoded_audio(tmp_path / "out.webm")
    assert channels == 1 and start == pytest.approx(0, abs=0.02)
    assert seconds == pytest.approx(0.5, abs=0.05)  # the whole tone, no more


def test_transcoded_audio_keeps_its_start_time(tmp_path):
    """PCM audio starting 1 s into the film still starts 1 s in once transcoded to Opus."""
    frames = list(moving_shapes((48, 32), 36))  # 1.5 s
    source = write_clip(
        tmp_path / "late.mkv", frames, audio=True, audio_codec="pcm_s16le", audio_start=1.0
    )
    assert _decoded_audio(source)[1] == pytest.approx(1.0, abs=0.01)
    with VideoReader(source) as reader:
        _copy(reader, tmp_path / "late.webm")
    _, start, seconds = _decoded_audio(tmp_path / "late.webm")
    assert start == pytest.approx(1.0, abs=0.03)
    assert seconds == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("container", "video_codec", "audio_codec", "extension", "audio"),
    [
        (".avi", "mpeg4", "pcm_s16le", ".m4v", "transcoded from pcm_s16le to aac"),
        (".avi", "mpeg4", "adpcm_ima_wav", ".mp4", "transcoded from adpcm_ima_wav to aac"),
        (".mkv", "libx264", "pcm_s16le", ".mp4", "copied (pcm_s16le)"),
        (".mkv", "libx264", "pcm_s16le", ".webm", "transcoded from pcm_s16le to opus"),
    ],
)
def test_audio_without_a_channel_order_is_written(
    tmp_path, shape_frames, container, video_codec, audio_codec, extension, audio
):
    """AVI and Matroska PCM/ADPCM report "2 channels" (no order), which the AAC encoder and
    the MP4 muxer refuse: it is written as stereo."""
    source = write_clip(
        tmp_path / f"source{container}",
        shape_frames,
        codec=video_codec,
        audio=True,
        audio_codec=audio_codec,
        layout="stereo",
    )
    with VideoReader(source) as reader:
        assert reader.audio_stream.codec_context.layout.name == "2 channels"
        destination = tmp_path / f"out{extension}"
        with VideoWriter(destination, reader.info, reader.audio_stream) as writer:
            for frame in reader.frames(writer.write_audio):
                writer.write(frame.rgb, frame)
            writer.finish()
    assert writer.audio.startswith(audio)
    channels, start, seconds = _decoded_audio(destination)
    assert channels == 2 and start == pytest.approx(0, abs=0.02)
    assert seconds == pytest.approx(0.5, abs=0.05)
    assert len(read_frames(destination)) == 12
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"out{extension}",
        f"source{container}",
    ]


def test_a_codec_the_muxer_refuses_after_all_is_transcoded(tmp_path, shape_frames):
    """Opus is in the MOV muxer's codec list, but the muxer refuses it at the header."""
    source = write_clip(tmp_path / "opus.mkv", shape_frames, audio=True, audio_codec="libopus")
    destination = tmp_path / "out.mov"
    with av.open(io.BytesIO(), mode="w", format="mov") as probe:
        assert "opus" in probe.supported_codecs  # what the writer is told
    with VideoReader(source) as reader:
        assert reader.info.audio_codec == "opus"
        with VideoWriter(destination, reader.info, reader.audio_stream) as writer:
            for frame in reader.frames(writer.write_audio):
                writer.write(frame.rgb, frame)
            writer.finish()
    assert writer.audio.startswith("transcoded from opus to aac")
    with av.open(str(destination)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    assert _decoded_audio(destination)[2] == pytest.approx(0.5, abs=0.08)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["opus.mkv", "out.mov"]


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


class _Failing:
    """Stands in for a PyAV stream or container: ``method`` raises an FFmpeg error after
    doing its work (``close`` still closes the file), everything else is the real one's."""

    def __init__(self, real, method: str) -> None:
        self._real, self._method = real, method

    def __getattr__(self, name: str):
        value = getattr(self._real, name)
        if name != self._method:
            return value

        def failing(*args, **kwargs):
            value(*args, **kwargs)
            raise av.error.ArgumentError(22, "Invalid argument")

        return failing


@pytest.mark.parametrize(
    ("target", "method", "when"),
    [
        ("_video", "encode", "write"),
        ("_audio", "encode", "write"),  # inside the reader's demuxing: still an output error
        ("_video", "encode", "finish"),
        ("_container", "close", "finish"),  # the trailer
    ],
)
def test_encoder_and_muxer_errors_are_output_errors(tmp_path, shape_frames, target, method, when):
    source = write_clip(tmp_path / "pcm.mkv", shape_frames, audio=True, audio_codec="pcm_s16le")
    destination = tmp_path / "out" / "film.webm"  # the PCM is transcoded to Opus
    with (
        pytest.raises(OutputError, match=r"cannot write .*film\.webm.*Invalid argument"),
        VideoReader(source) as reader,
        VideoWriter(destination, reader.info, reader.audio_stream) as writer,
    ):
        for frame in reader.frames(writer.write_audio):
            writer.write(frame.rgb, frame)
            if when == "write" and not isinstance(getattr(writer, target), _Failing):
                setattr(writer, target, _Failing(getattr(writer, target), method))
        setattr(writer, target, _Failing(getattr(writer, target), method))
        writer.finish()
    assert list((tmp_path / "out").iterdir()) == []  # the temporary file is gone


def _trimmed_with_an_edit_list(tmp_path: Path) -> Path:
    """An MP4 cut as ``ffmpeg -ss 0.5 -c copy`` does: every packet kept (the first frames are
    needed to decode the rest), timestamps shifted, and an edit list hiding the first 0.5 s;
    the header declares 24 frames, 12 are shown."""
    source = write_clip(
        tmp_path / "whole.mp4", moving_shapes((48, 32), 24), options={"movflags": "+faststart"}
    )
    path = tmp_path / "trimmed.mp4"
    with av.open(str(source)) as original, av.open(str(path), mode="w") as trimmed:
        stream = trimmed.add_stream_from_template(original.streams.video[0])
        shift = None
        for packet in original.demux(original.streams.video[0]):
            if packet.dts is None:
                continue
            shift = shift if shift is not None else round(0.5 / packet.time_base)
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = stream
            trimmed.mux(packet)
    return path


def _avi_with_dropped_frames(tmp_path: Path) -> Path:
    """An AVI as capture software writes it: an empty chunk for each dropped frame (one in 4),
    counted in the header's frame count but decoding to nothing."""
    source = write_clip(tmp_path / "plain.avi", moving_shapes((48, 32), 12), codec="mpeg4")
    path = tmp_path / "dropped.avi"
    with av.open(str(source)) as original, av.open(str(path), mode="w") as dropped:
        stream = dropped.add_stream_from_template(original.streams.video[0])
        tick = 0
        for packet in original.demux(original.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream, packet.pts, packet.dts = stream, tick, tick
            packet.time_base = Fraction(1, 24)
            dropped.mux(packet)
            tick += 1
            if tick % 4 == 2:
                empty = av.Packet(0)
                empty.stream, empty.pts, empty.dts = stream, tick, tick
                empty.time_base = Fraction(1, 24)
                dropped.mux(empty)
                tick += 1
    return path


@pytest.mark.parametrize(
    ("make", "decoded"),
    [(_trimmed_with_an_edit_list, 12), (_avi_with_dropped_frames, 12)],
    ids=["mp4-edit-list", "avi-dropped-frames"],
)
def test_valid_files_declaring_more_frames_than_they_show_are_read(tmp_path, make, decoded):
    path = make(tmp_path)
    with av.open(str(path)) as container:
        declared = container.streams.video[0].frames
    with VideoReader(path) as reader:
        assert len(list(reader.frames())) == decoded < declared


@pytest.mark.parametrize(("extension", "codec"), [(".mkv", "libx264"), (".webm", "libvpx-vp9")])
def test_truncated_matroska_is_refused(tmp_path, extension, codec):
    """Matroska and WebM declare no frame count, but a duration (2 s here)."""
    whole = write_clip(tmp_path / f"whole{extension}", moving_shapes((48, 32), 48), codec=codec)
    with VideoReader(whole) as reader:
        assert len(list(reader.frames())) == 48
    path = _truncated(whole, tmp_path / f"cut{extension}")
    with (
        pytest.raises(InvalidVideoError, match=r"ends at .* of the 2\.00 s .*truncated"),
        VideoReader(path) as reader,
    ):
        for _ in reader.frames():
            pass


def _cover_art(path: Path) -> Path:
    """An MP3 with a cover picture (a PNG stream with the attached_pic disposition)."""
    picture = av.CodecContext.create("png", "w")
    picture.width, picture.height, picture.pix_fmt = 16, 16, "rgb24"
    image = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 200, np.uint8), format="rgb24")
    packets = picture.encode(image) + picture.encode(None)
    with av.open(str(path), mode="w") as container:
        sound = container.add_stream("libmp3lame", rate=16000)
        sound.layout = "mono"
        cover = container.add_stream("png")
        cover.width, cover.height, cover.pix_fmt = 16, 16, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        for packet in packets:
            packet.stream, packet.pts, packet.dts = cover, 0, 0
            packet.time_base = Fraction(1, 1000)
            container.mux(packet)
        _mux_silence(container, sound, 1152)
    return path


def test_cover_art_is_not_a_video(tmp_path):
    path = _cover_art(tmp_path / "song.mp3")
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1  # the picture
    with pytest.raises(InvalidVideoError, match="no video stream"):
        VideoReader(path)


def test_anamorphic_pixels_keep_their_shape(tmp_path):
    """A 32:27 sample aspect ratio (DVD) is carried, or the picture would be squeezed."""
    source = tmp_path / "anamorphic.mkv"
    with av.open(str(source), mode="w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(32, 27)
        for index, frame in enumerate(moving_shapes((48, 32), 3)):
            picture = av.VideoFrame.from_ndarray(
                np.repeat(frame[..., None], 3, axis=2), format="rgb24"
            )
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    with VideoReader(source) as reader:
        assert reader.info.sample_aspect_ratio == Fraction(32, 27)
        _copy(reader, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(32, 27)
