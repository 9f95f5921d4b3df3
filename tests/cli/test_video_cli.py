"""``masterpiece video`` through the real entry point."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from masterpiece.cli.main import EXIT_OK, EXIT_USAGE, build_parser, main

_spec = importlib.util.spec_from_file_location(
    "video_clips", Path(__file__).parents[1] / "video" / "clips.py"
)
clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clips)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96x64, 10-frame pan with an AAC track."""
    folder = tmp_path_factory.mktemp("film")
    return clips.write_clip(
        folder / "film.mp4", clips.pan_zoom(clips.astronaut(), (96, 64), 10), audio=True
    )


def _model(weights: Path) -> list[str]:
    return ["--model", "compact", "--weights", str(weights)]


def test_colorizes_a_film_keeping_its_audio(film, compact_weights, tmp_path, capsys):
    out = tmp_path / "colour.mkv"
    assert main(["video", str(film), str(out), *_model(compact_weights)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "colorized 10 frames (1 shot(s))" in captured.err and "model compact" in captured.err
    assert "audio: copied (aac)" in captured.err
    # the progress bar itself (tqdm's rate, "frame/s" or "s/frame"; the summary says "frames/s")
    assert re.search(r"10/10 \[[^\]]*(frame/s|s/frame)\]", captured.err), captured.err
    assert len(clips.read_frames(out)) == 10
    assert sorted(path.name for path in tmp_path.iterdir()) == ["colour.mkv"]


def test_default_output_and_skipping_an_existing_one(film, compact_weights, tmp_path, capsys):
    source = tmp_path / "old film.mp4"
    source.write_bytes(film.read_bytes())
    assert (
        main(
            ["video", str(source), *_model(compact_weights), "--no-stabilise", "--batch-size", "3"]
        )
        == EXIT_OK
    )
    out = tmp_path / "old film_colorized.mp4"
    assert out.exists()
    before = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["video", str(source), *_model(compact_weights)]) == EXIT_OK
    assert "exists (use --overwrite" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == before
    assert (
        main(["video", str(source), *_model(compact_weights), "--overwrite", "--carry", "0.5"])
        == EXIT_OK
    )


def test_not_a_video_is_one_line_and_exit_2(compact_weights, tmp_path, capsys):
    source = tmp_path / "notes.mp4"
    source.write_text("shopping list")
    assert (
        main(["video", str(source), str(tmp_path / "out.mp4"), *_model(compact_weights)])
        == EXIT_USAGE
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable video" in err[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.mp4"]


def test_a_muxer_error_is_one_line_and_exit_4(film, compact_weights, tmp_path, capsys, monkeypatch):
    """FFmpeg refusing to write the trailer: one line, the output exit code, no file left."""
    import av

    from masterpiece.cli.main import EXIT_OUTPUT
    from masterpiece.video.io import VideoWriter

    class FailingClose:
        def __init__(self, container) -> None:
            self._container = container

        def __getattr__(self, name: str):
            return getattr(self._container, name)

        def close(self) -> None:
            self._container.close()
            raise av.error.ArgumentError(22, "Invalid argument")

    real_open = VideoWriter._open

    def failing_open(writer, *args, **kwargs) -> None:
        real_open(writer, *args, **kwargs)
        writer._container = FailingClose(writer._container)

    monkeypatch.setattr(VideoWriter, "_open", failing_open)
    out = tmp_path / "out" / "colour.mp4"
    assert main(["video", str(film), str(out), *_model(compact_weights)]) == EXIT_OUTPUT
    lines = capsys.readouterr().err.splitlines()
    err = [line for line in lines if line.strip() and "frame" not in line]  # not the bar
    assert len(err) == 1 and "cannot write" in err[0] and "Invalid argument" in err[0], err
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--reference", "frame.png"], "FRAME:IMAGE"),
        (["--hints", "HINTS"], "must be an object with frame"),
        (["--carry", "1.5"], "--carry"),
        (["--crf", "80"], "crf"),
    ],
)
def test_bad_options_exit_2(film, compact_weights, tmp_path, capsys, options, message):
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps([{"frame": 0, "x": 3}]))
    options = [str(hints) if option == "HINTS" else option for option in options]
    assert (
        main(["video", str(film), str(tmp_path / "out.mp4"), *_model(compact_weights), *options])
        == EXIT_USAGE
    )
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_hints_file_and_reference_frame(film, tmp_path, capsys):
    hints = tmp_path / "hints.json"
    hints.write_text(
        json.dumps(
            [
                {"frame": 0, "x": 40, "y": 30, "color": "#d02020"},
                {"frame": 4, "x": 10, "y": 10, "color": [30, 60, 200], "size": 5},
            ]
        )
    )
    reference = tmp_path / "reference.png"
    from PIL import Image

    Image.new("RGB", (96, 64), (40, 90, 200)).save(reference)
    out, plain = tmp_path / "out.mp4", tmp_path / "plain.mp4"
    code = main(
        [
            "video",
            str(film),
            str(out),
            "--model",
            "compact",
            "--hints",
            str(hints),
            "--reference",
            f"2:{reference}",
        ]
    )
    assert code == EXIT_OK, capsys.readouterr().err
    assert main(["video", str(film), str(plain), "--model", "compact"]) == EXIT_OK
    hinted, unhinted = (
        [frame.astype(int) for frame in clips.read_frames(path)] for path in (out, plain)
    )
    assert len(hinted) == 10
    # frame 0: redder around the red hint at (40, 30)
    red = (hinted[0] - unhinted[0])[22:39, 32:49]
    assert red[..., 0].mean() - red[..., 2].mean() > 3, red.mean(axis=(0, 1))
    # frame 2: the blue reference frame makes the whole picture bluer
    assert (hinted[2][..., 2] - unhinted[2][..., 2]).mean() > 3


def test_extensions_match_the_library_and_help_lists_the_verb():
    from masterpiece.cli.video import VIDEO_EXTENSIONS
    from masterpiece.video.io import VIDEO_EXTENSIONS as LIBRARY_EXTENSIONS

    assert VIDEO_EXTENSIONS == LIBRARY_EXTENSIONS
    assert "video" in build_parser().format_help()


def test_an_unwritable_name_is_refused_even_when_it_exists(film, compact_weights, tmp_path, capsys):
    # it was reported 'skipped: exists' (exit 0), and refused only with --overwrite
    existing = tmp_path / "film.gif"
    existing.write_bytes(b"the user's")
    for extra in ([], ["--overwrite"]):
        assert main(["video", str(film), str(existing), *_model(compact_weights), *extra]) == EXIT_USAGE
        assert "cannot write a video named" in capsys.readouterr().err
    assert existing.read_bytes() == b"the user's"


def test_an_existing_folder_gets_the_default_name(film, compact_weights, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["video", str(film), str(folder), *_model(compact_weights), "--no-stabilise"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == str(folder / "film_colorized.mp4")
    assert len(clips.read_frames(folder / "film_colorized.mp4")) == 10
    assert main(["video", str(film), str(folder), *_model(compact_weights)]) == EXIT_OK  # a rerun skips it
    assert "skipped" in capsys.readouterr().err
