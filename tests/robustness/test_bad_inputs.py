"""Issue 7, bad input: the generated corpus through the CLI (in process and as a real
process) and through the Python API. Nothing crashes, every bad file is named with a reason,
the others are colorized, and no input is touched."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.cli.main import EXIT_OK, EXIT_PARTIAL_FAILURE, main
from masterpiece.errors import ImageTooLargeError, InvalidImageError
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.folders import iter_image_files
from masterpiece.pipeline.image import Colorizer

from .corpus import (
    CASES,
    HEIGHT,
    SKIPPED_BY_FOLDER_RUNS,
    TRACEBACK,
    WIDTH,
    Case,
    build_corpus,
    encoded,
    failing,
    fingerprint,
    gray_pixels,
    model_options,
    succeeding,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus") / "old drive"
    build_corpus(folder)
    return folder


@pytest.fixture(scope="module")
def colorizer(compact_weights: Path) -> Colorizer:
    return Colorizer("compact", weights=compact_weights, size=64)


def _check_folder_run(corpus: Path, out: Path, stderr: str) -> None:
    """What a folder run of the corpus must have done, judged from its stderr and outputs."""
    assert not TRACEBACK.search(stderr), stderr
    lines = stderr.splitlines()
    for case in failing():
        path = str(corpus / case.name)
        reported = [line for line in lines if path in line]
        assert reported, f"{case.name} is not reported:\n{stderr}"
        assert any(re.search(case.reason, line) for line in reported), reported
    for case in succeeding():
        output = out / case.output
        assert output.is_file() and not output.is_symlink(), f"no output for {case.name}"
        assert Image.open(output).size == (WIDTH, HEIGHT)
    for name in SKIPPED_BY_FOLDER_RUNS:
        assert str(corpus / name) not in stderr
    assert f"; {len(failing())} failed" in stderr
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporaries


def test_the_corpus_covers_the_issue() -> None:
    kinds = " ".join(case.what for case in CASES).lower()
    for kind in ("zero-byte", "truncated jpeg", "truncated png", "text file", "bomb", "cmyk",
                 "16-bit", "1-bit", "palette", "animated gif", "animated webp", "icc", "exif",
                 "unicode", "spaces", "folder named like an image", "symbolic link"):  # fmt: skip
        assert kind in kinds, kind


def test_folder_run_in_process(corpus: Path, compact_weights: Path, tmp_path: Path, capsys) -> None:
    before = fingerprint(corpus)
    out = tmp_path / "out"
    code = main(["colorize", str(corpus), "-o", str(out), *model_options(compact_weights)])
    captured = capsys.readouterr()
    assert code == EXIT_PARTIAL_FAILURE
    _check_folder_run(corpus, out, captured.err)
    assert fingerprint(corpus) == before
    # the outputs of the odd formats
    assert read_image(out / "gray16.png").bit_depth == 16
    assert read_image(out / "palette-transparent.png").alpha is not None
    assert len(read_image(out / "huge-exif.png").exif or b"") > 2_000_000
    assert read_image(out / "huge-exif.jpg").exif is not None


def test_folder_run_as_a_real_process(corpus: Path, compact_weights: Path, tmp_path: Path) -> None:
    before = fingerprint(corpus)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", str(corpus), "-o", str(out)]
    done = subprocess.run(
        command + model_options(compact_weights), capture_output=True, timeout=300, check=False
    )
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert done.returncode == EXIT_PARTIAL_FAILURE, stderr
    _check_folder_run(corpus, out, stderr)
    assert fingerprint(corpus) == before
    # a second run skips every finished output and still reports the bad files
    again = subprocess.run(
        command + model_options(compact_weights), capture_output=True, timeout=300, check=False
    )
    stderr = again.stderr.decode("utf-8", "backslashreplace")
    assert again.returncode == EXIT_PARTIAL_FAILURE
    assert "colorized 0 image(s)" in stderr and f"skipped {len(succeeding())} existing" in stderr


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_case_through_the_python_api(
    case: Case, corpus: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    source = corpus / case.name
    before = fingerprint(corpus)
    output = tmp_path / "colorized.png"
    if case.error is None:
        assert read_image(source).size == (WIDTH, HEIGHT)
        assert colorizer.colorize(source, output=output) == output
        assert Image.open(output).size == (WIDTH, HEIGHT)
    else:
        with pytest.raises(case.error, match=case.reason):
            read_image(source)
        with pytest.raises(case.error, match=case.reason):
            colorizer.colorize(source, output=output)
        assert not output.exists()
    assert fingerprint(corpus) == before
    assert [p.name for p in tmp_path.iterdir()] == ([output.name] if case.error is None else [])


@pytest.mark.parametrize("name", ["animated.gif", "animated.webp"])
def test_animated_images_give_their_first_frame(corpus: Path, name: str) -> None:
    loaded = read_image(corpus / name)
    assert loaded.n_frames == 3
    first = gray_pixels(seed=0).astype(np.float32) / 255
    tolerance = 0.5 / 255 if name.endswith(".gif") else 0.1  # WebP frames are lossy
    assert np.abs(loaded.rgb[..., 0] - first).mean() < tolerance


def test_an_input_format_that_cannot_be_written_gives_png(
    corpus: Path, colorizer: Colorizer, compact_weights: Path, tmp_path: Path
) -> None:
    source = tmp_path / "animated.gif"
    source.write_bytes((corpus / "animated.gif").read_bytes())
    assert colorizer.colorize(source) == tmp_path / "animated_colorized.png"
    (tmp_path / "animated_colorized.png").unlink()
    assert main(["colorize", str(source), *model_options(compact_weights)]) == EXIT_OK
    assert (tmp_path / "animated_colorized.png").is_file()
    out = tmp_path / "out"
    two = [str(source), str(corpus / "good.png"), "-o", str(out)]
    assert main(["colorize", *two, *model_options(compact_weights)]) == EXIT_OK
    assert sorted(p.name for p in out.iterdir()) == ["animated.png", "good.png"]


def test_iter_image_files_on_the_corpus(corpus: Path) -> None:
    expected = {case.name for case in failing()} | {
        case.output for case in succeeding() if case.output
    }
    # outputs mirror inputs except for the GIF, whose output is a PNG
    expected = {name.replace("animated.png", "animated.gif") for name in expected}
    problems: list[tuple[Path, str]] = []
    found = {
        path.relative_to(corpus).as_posix()
        for path in iter_image_files(corpus, on_error=lambda *problem: problems.append(problem))
    }
    assert found == expected - {"loop.jpg"}  # a link loop cannot be examined: reported
    assert problems == [(corpus / "loop.jpg", "too many levels of symbolic links (a link loop)")]


def test_unreadable_subfolder_is_reported(
    tmp_path: Path, compact_weights: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    (tmp_path / "in" / "locked").mkdir(parents=True)
    Image.fromarray(gray_pixels()).save(tmp_path / "in" / "a.png")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code = main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 *model_options(compact_weights)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_PARTIAL_FAILURE
    assert (
        f"{tmp_path / 'in' / 'locked'}: skipped, the folder cannot be read: permission denied"
        in err
    )
    assert (tmp_path / "out" / "a.png").is_file()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_two_inputs_with_the_same_output_never_overwrite_each_other(
    tmp_path: Path, compact_weights: Path, capsys, overwrite: list[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gray_pixels(seed=1)).save(folder / "photo.gif")
    Image.fromarray(gray_pixels(seed=2)).save(folder / "photo.png")
    out = tmp_path / "out"
    code = main(
        ["colorize", str(folder), "-o", str(out), *overwrite, *model_options(compact_weights)]
    )
    err = capsys.readouterr().err
    assert code == EXIT_PARTIAL_FAILURE
    assert (
        f"{folder / 'photo.png'}: its output '{out / 'photo.png'}' is already the output of" in err
    )
    assert [p.name for p in out.iterdir()] == ["photo.png"]
    # the same file named twice is colorized once, without complaint
    twice = [str(folder / "photo.png")] * 2
    assert (
        main(["colorize", *twice, "-o", str(tmp_path / "o2"), *model_options(compact_weights)]) == 0
    )


@pytest.mark.parametrize("name", ["broken link.jpg", "loop.jpg", "notes.jpg", "bomb.png"])
def test_a_bad_file_named_on_the_command_line(
    corpus: Path, compact_weights: Path, tmp_path: Path, capsys, name: str
) -> None:
    case = next(case for case in CASES if case.name == name)
    code = main(["colorize", str(corpus / name), "-o", str(tmp_path / "x.png"),
                 *model_options(compact_weights)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == EXIT_PARTIAL_FAILURE and re.search(case.reason, err)
    assert not TRACEBACK.search(err) and not (tmp_path / "x.png").exists()


def test_a_folder_named_like_an_image_on_the_command_line_is_a_folder(
    corpus: Path, compact_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert main(["colorize", str(corpus / "album.jpg"), "-o", str(out),
                 *model_options(compact_weights)]) == EXIT_OK  # fmt: skip
    assert (out / "inside.png").is_file()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names are bytes on Linux only")
def test_an_undecodable_name_is_printed_without_failing(
    tmp_path: Path, compact_weights: Path, capsys
) -> None:
    source = tmp_path / os.fsdecode(b"gro\xdf.png")
    Image.fromarray(gray_pixels()).save(source)
    assert main(["colorize", str(source), *model_options(compact_weights)]) == EXIT_OK
    assert "gro\\udcdf_colorized.png" in capsys.readouterr().out
    assert (tmp_path / os.fsdecode(b"gro\xdf_colorized.png")).is_file()


# --------------------------------------------------------------------------- the pixel limit


def test_the_pixel_limit_from_the_command_line(
    corpus: Path, compact_weights: Path, tmp_path: Path, capsys
) -> None:
    good = str(corpus / "good.png")
    args = [good, "-o", str(tmp_path / "a.png"), *model_options(compact_weights)]
    assert main(["colorize", *args, "--max-pixels", "1000"]) == EXIT_PARTIAL_FAILURE
    assert "1,536 pixels, more than the limit of 1,000" in capsys.readouterr().err
    assert main(["colorize", *args, "--max-pixels", "0"]) == EXIT_OK  # 0: no limit
    assert main(["colorize", *args, "--max-pixels", "-5"]) == 2


def test_the_pixel_limit_from_the_environment(
    corpus: Path, compact_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ["colorize", str(corpus), "-o", str(tmp_path / "out"), *model_options(compact_weights)]
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "1000")
    assert main(args) == EXIT_PARTIAL_FAILURE
    err = capsys.readouterr().err
    assert f"; {len(failing()) + len(succeeding())} failed" in err
    assert "colorized 0 image(s)" in err
    assert err.count("more than the limit of 1,000") >= len(succeeding())
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "lots")
    assert main(args) == 2  # one error before any file, not one per file
    assert capsys.readouterr().err.count("MASTERPIECE_MAX_PIXELS") == 1


def test_the_pixel_limit_in_the_python_api(compact_weights: Path) -> None:
    image = gray_pixels()
    small = Colorizer("compact", weights=compact_weights, size=64, max_pixels=1000)
    with pytest.raises(ImageTooLargeError, match="limit of 1,000"):
        small.colorize(image)
    with pytest.raises(ImageTooLargeError):
        small.colorize(encoded(Image.fromarray(image), "PNG"))
    unlimited = Colorizer("compact", weights=compact_weights, size=64, max_pixels=None)
    assert unlimited.colorize(image).shape == (HEIGHT, WIDTH, 3)


def test_exif_too_large_for_jpeg_is_dropped_not_fatal(
    corpus: Path, compact_weights: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out.jpg"
    args = [
        "colorize",
        str(corpus / "huge-exif.png"),
        "-o",
        str(out),
        *model_options(compact_weights),
    ]
    assert main(args) == EXIT_OK
    assert read_image(out).exif is None
    assert "too large for a JPEG file" in caplog.text


def test_a_folder_is_not_an_image(corpus: Path) -> None:
    with pytest.raises(InvalidImageError, match="is a folder"):
        read_image(corpus / "album.jpg")


def test_an_output_folder_inside_the_input_is_not_read_again(
    tmp_path: Path, compact_weights: Path, capsys
) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray(gray_pixels()).save(scans / "a.png")
    args = ["colorize", str(scans), "-o", str(scans / "colour"), *model_options(compact_weights)]
    assert main(args) == EXIT_OK
    assert main(args) == EXIT_OK  # the re-run does not colorize its own output
    assert "colorized 0 image(s)" in capsys.readouterr().err
    assert sorted(p.relative_to(scans).as_posix() for p in scans.rglob("*.png")) == [
        "a.png",
        "colour/a.png",
    ]


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--format", "gif"], "--format gif cannot be written"), (["--quality", "0"], "--quality")],
)
def test_bad_options_fail_before_any_file(
    corpus: Path, tmp_path: Path, capsys, option: list[str], message: str
) -> None:
    assert main(["colorize", str(corpus), "-o", str(tmp_path / "out"), *option]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()
