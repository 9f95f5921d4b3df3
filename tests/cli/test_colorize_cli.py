"""``masterpiece colorize`` through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms
from skimage.color import rgb2lab

from masterpiece.cli.main import EXIT_PARTIAL_FAILURE, EXIT_USAGE, main


@pytest.fixture
def photo_tree(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    root = tmp_path / "scans"
    (root / "album 1").mkdir(parents=True)
    Image.fromarray(gray_photo).save(root / "a.png")
    Image.fromarray(gray_photo).save(root / "album 1" / "b é.jpg")
    return root


def _args(weights: Path) -> list[str]:
    return ["--model", "compact", "--weights", str(weights)]


def test_single_file_default_output(photo_tree, compact_weights, capsys):
    code = main(["colorize", str(photo_tree / "a.png"), *_args(compact_weights)])
    assert code == 0
    output = photo_tree / "a_colorized.png"
    assert output.exists() and Image.open(output).mode == "RGB"
    captured = capsys.readouterr()
    assert str(output) in captured.out and "model compact" in captured.err


def test_a_new_output_without_an_extension_is_a_folder(photo_tree, compact_weights, tmp_path, capsys):
    """No image file could be written to ``-o colour`` (it has no extension): it becomes a folder
    holding ``a.png``; with --format it is the file ``colour.jpg``; an existing file is kept."""
    out = tmp_path / "colour"
    assert main(["colorize", str(photo_tree / "a.png"), "-o", str(out), *_args(compact_weights)]) == 0
    assert out.is_dir() and Image.open(out / "a.png").mode == "RGB"
    assert main(["colorize", str(photo_tree / "a.png"), "-o", str(tmp_path / "named"), "--format", "jpg",
                 *_args(compact_weights)]) == 0
    assert (tmp_path / "named.jpg").is_file() and not (tmp_path / "named").exists()
    existing = tmp_path / "notes"
    existing.write_bytes(b"mine")
    assert main(["colorize", str(photo_tree / "a.png"), "-o", str(existing), "--overwrite",
                 *_args(compact_weights)]) != 0
    assert existing.read_bytes() == b"mine"
    assert "no extension" in capsys.readouterr().err


def test_folder_mirrors_tree_and_skips_existing(photo_tree, compact_weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["colorize", str(photo_tree), "-o", str(out), *_args(compact_weights)]) == 0
    assert (out / "a.png").exists() and (out / "album 1" / "b é.jpg").exists()
    before = (out / "a.png").stat().st_mtime_ns
    assert main(["colorize", str(photo_tree), "-o", str(out), *_args(compact_weights)]) == 0
    assert "skipped 2 existing" in capsys.readouterr().err
    assert (out / "a.png").stat().st_mtime_ns == before
    assert main(["colorize", str(photo_tree), "-o", str(out), "--overwrite", *_args(compact_weights)]) == 0


def test_folder_without_a_terminal_prints_only_the_summary(photo_tree, compact_weights, tmp_path, capsys):
    assert main(["colorize", str(photo_tree), "-o", str(tmp_path / "out"), *_args(compact_weights)]) == 0
    # stderr is not a terminal here: no progress bar (its carriage returns fill logs)
    assert capsys.readouterr().err.strip() == "colorized 2 image(s) with model compact"


def test_failure_is_reported_and_others_continue(photo_tree, compact_weights, tmp_path, capsys):
    (photo_tree / "broken.jpg").write_bytes(b"this is not a jpeg")
    out = tmp_path / "out"
    code = main(["colorize", str(photo_tree), "-o", str(out), *_args(compact_weights)])
    assert code == EXIT_PARTIAL_FAILURE
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "1 failed" in err
    assert (out / "a.png").exists() and not (out / "broken.jpg").exists()


def test_never_overwrites_an_input(photo_tree, compact_weights, capsys):
    source = photo_tree / "a.png"
    before = source.read_bytes()
    code = main(["colorize", str(source), "-o", str(source), "--overwrite", *_args(compact_weights)])
    assert code == EXIT_PARTIAL_FAILURE
    assert source.read_bytes() == before
    assert "overwrite an input" in capsys.readouterr().err


def test_missing_input_and_bad_option(compact_weights, tmp_path, capsys):
    assert main(["colorize", str(tmp_path / "nope.jpg"), *_args(compact_weights)]) == EXIT_PARTIAL_FAILURE
    assert "no such file" in capsys.readouterr().err
    assert main(["colorize", str(tmp_path), "--temperature", "0", *_args(compact_weights)]) == EXIT_USAGE
    assert "temperature" in capsys.readouterr().err


def _lightness_of_file(path: Path) -> np.ndarray:
    """L (scikit-image) of a written PNG/TIFF/JPEG and its sample type: uint8 or uint16."""
    rgb = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    return rgb2lab(rgb.astype(np.float64) / np.iinfo(rgb.dtype).max)[..., 0], rgb.dtype


@pytest.mark.parametrize("extension", [".png", ".tif"])
@pytest.mark.parametrize(
    ("option", "depth"), [([], 16), (["--bit-depth", "16"], 16), (["--bit-depth", "8"], 8)]
)
def test_bit_depth_of_a_sixteen_bit_scan(
    deep_ramp, compact_weights, tmp_path, extension, option, depth
):
    source, out = tmp_path / f"scan{extension}", tmp_path / f"out{extension}"
    Image.fromarray(deep_ramp).save(source)  # every one of the 65536 levels
    code = main(["colorize", str(source), "-o", str(out), *option, *_args(compact_weights)])
    assert code == 0
    lightness, dtype = _lightness_of_file(out)
    assert dtype == (np.uint16 if depth == 16 else np.uint8)
    expected = rgb2lab(np.repeat(deep_ramp[..., None], 3, axis=2) / 65535.0)[..., 0]
    error = np.abs(lightness - expected).mean()
    # 16 bits follow the ramp far below one 8-bit step (0.39 L); 8 bits round to their steps
    assert error < 0.01 if depth == 16 else error > 0.03


def test_bit_depth_sixteen_from_an_eight_bit_photo(photo_tree, compact_weights, tmp_path):
    out = tmp_path / "deep.png"
    argv = ["colorize", str(photo_tree / "a.png"), "-o", str(out), "--bit-depth", "16"]
    assert main([*argv, *_args(compact_weights)]) == 0
    assert _lightness_of_file(out)[1] == np.uint16


def test_bit_depth_through_the_installed_command(deep_ramp, compact_weights, tmp_path):
    source, out = tmp_path / "scan.tif", tmp_path / "out.tif"
    Image.fromarray(deep_ramp).save(source)
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", str(source), "-o", str(out),
               "--bit-depth", "16", *_args(compact_weights)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lightness, dtype = _lightness_of_file(out)
    expected = rgb2lab(np.repeat(deep_ramp[..., None], 3, axis=2) / 65535.0)[..., 0]
    assert dtype == np.uint16 and np.abs(lightness - expected).mean() < 0.01


def _toned_print() -> np.ndarray:
    """A 48x64 uint8 sepia print: red above green above blue."""
    tone = np.linspace(0.2, 0.9, 64)[None, :, None] * np.ones((48, 1, 1))
    return np.round(255 * tone * np.array([1.0, 0.75, 0.5])).astype(np.uint8)


@pytest.mark.parametrize("extension", ["png", "jpg"])
def test_icc_profile_through_the_command(red_blue_profile, compact_weights, tmp_path, extension):
    """An sRGB profile is written back as it was; another is applied (the pixels become sRGB)
    and not written, so no viewer applies it a second time."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray(_toned_print()).save(scans / "srgb.png", icc_profile=srgb)
    Image.fromarray(_toned_print()).save(scans / "other.png", icc_profile=red_blue_profile)
    out = tmp_path / "out"
    argv = ["colorize", str(scans), "-o", str(out), "--format", extension, *_args(compact_weights)]
    assert main(argv) == 0
    with Image.open(out / f"srgb.{extension}") as kept:
        assert kept.info.get("icc_profile") == srgb
    with Image.open(out / f"other.{extension}") as converted:
        assert "icc_profile" not in converted.info
    marker = {"png": b"iCCP", "jpg": b"ICC_PROFILE"}[extension]
    assert marker in (out / f"srgb.{extension}").read_bytes()
    assert marker not in (out / f"other.{extension}").read_bytes()
    in_srgb = rgb2lab(_toned_print()[..., ::-1] / 255.0)[..., 0]  # red and blue swapped back
    tolerance = 1.0 if extension == "png" else 3.0
    assert np.abs(_lightness_of_file(out / f"other.{extension}")[0] - in_srgb).max() < tolerance


def test_unknown_model_is_one_line_error(photo_tree, capsys):
    code = main(["colorize", str(photo_tree / "a.png"), "--model", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "unknown model 'nope'" in err[0]


def test_a_file_to_stdout_with_dash_o(photo_tree, compact_weights, tmp_path):
    """``-o -`` writes the one input file's result to standard output (in its own format, or
    --format's); with several inputs it is refused with what to do, and nothing is written."""
    here = tmp_path / "cwd"  # where a file named "-" would appear
    here.mkdir()
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", str(photo_tree / "a.png"), "-o", "-",
               *_args(compact_weights)]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False, cwd=here)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"\x89PNG") and b"colorized " + str(photo_tree / "a.png").encode() in result.stderr
    assert list(here.iterdir()) == []  # no file named '-'
    several = subprocess.run([*command[:4], str(photo_tree / "a.png"), *command[4:]], capture_output=True,
                             timeout=120, check=False, cwd=here)
    assert several.returncode != 0 and b"-o FOLDER" in several.stderr and several.stdout == b""


def test_stdin_to_stdout_through_the_installed_command(photo_tree, compact_weights):
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", "-", "--format", "png", *_args(compact_weights)]
    result = subprocess.run(command, input=(photo_tree / "a.png").read_bytes(), capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"\x89PNG")


def test_version_does_not_import_torch():
    code = "import sys; from masterpiece.cli.main import main\ntry:\n main(['--version'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "masterpiece 0.1.0" in result.stdout and result.stdout.strip().endswith("False")


def test_a_pixel_limit_of_0_in_the_environment_means_no_limit(photo_tree, compact_weights, tmp_path, monkeypatch, capsys):
    source = str(photo_tree / "a.png")
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "0")  # as --max-pixels 0 and MASTERPIECE_SERVE_MAX_PIXELS=0
    assert main(["colorize", source, "-o", str(tmp_path / "free.png"), *_args(compact_weights)]) == 0
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "100")
    assert main(["colorize", source, "-o", str(tmp_path / "small.png"), *_args(compact_weights)]) == EXIT_PARTIAL_FAILURE
    assert "more than the limit of 100" in capsys.readouterr().err
    monkeypatch.setenv("MASTERPIECE_MAX_PIXELS", "-1")
    assert main(["colorize", source, "-o", str(tmp_path / "bad.png"), *_args(compact_weights)]) == EXIT_USAGE
    assert "MASTERPIECE_MAX_PIXELS='-1' is not a whole number of pixels" in capsys.readouterr().err
