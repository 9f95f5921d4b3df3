"""``masterpiece restore`` and ``--restore`` on ``colorize`` and ``batch``, through the entry point.

The prints carry a hand-drawn bright scratch that the classical detector (the baseline, no
bundled network needed) finds; outputs are checked at the scratch and outside the mask.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.cli.main import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL_FAILURE, EXIT_USAGE, main
from masterpiece.pipeline.decoding import read_image

SCRATCH = (slice(40, 43), slice(10, 118))
CLASSICAL = ["--detector", "classical"]


def print_with_scratch() -> np.ndarray:
    rows, cols = np.mgrid[0:96, 0:128].astype(np.float32)
    image = 70 + 0.6 * cols + 0.3 * rows
    image[SCRATCH] = 250
    return image.astype(np.uint8)


@pytest.fixture
def prints(tmp_path: Path) -> Path:
    root = tmp_path / "prints"
    (root / "album").mkdir(parents=True)
    Image.fromarray(print_with_scratch()).save(root / "a.png")
    Image.fromarray(print_with_scratch()).save(root / "album" / "b.png")
    return root


def _model(weights: Path) -> list[str]:
    return ["--model", "compact", "--weights", str(weights)]


def _scratch_gone(path: Path) -> bool:
    pixels = read_image(path).pixels.astype(float)
    gray = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    return float(gray[SCRATCH].mean()) < 200  # 250 before; the gradient around it is 100..160


def test_restore_one_file_gray_in_gray_out(prints, capsys):
    assert main(["restore", str(prints / "a.png"), *CLASSICAL]) == EXIT_OK
    out = prints / "a_restored.png"
    captured = capsys.readouterr()
    assert str(out) in captured.out and "restored 1 image(s) with the classical detector" in captured.err
    assert Image.open(out).mode == "L" and _scratch_gone(out)
    source = read_image(prints / "a.png").pixels
    result = read_image(out).pixels
    assert (result != source).sum() < 0.1 * source.size  # only the damage changed


def test_restore_folder_mirrors_skips_and_overwrites(prints, tmp_path, capsys):
    assert main(["restore", str(prints), *CLASSICAL]) == EXIT_OK
    out = tmp_path / "prints_restored"
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.png")} == {"a.png", "album/b.png"}
    before = (out / "a.png").stat().st_mtime_ns
    assert main(["restore", str(prints), *CLASSICAL]) == EXIT_OK
    assert "skipped 2 existing output(s)" in capsys.readouterr().err
    assert (out / "a.png").stat().st_mtime_ns == before
    assert main(["restore", str(prints), "--overwrite", *CLASSICAL]) == EXIT_OK
    assert (out / "a.png").stat().st_mtime_ns != before


def test_save_mask_is_written_beside_and_never_overwritten(prints, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["restore", str(prints), "-o", str(out), "--save-mask", *CLASSICAL]) == EXIT_OK
    mask = np.asarray(Image.open(out / "a_mask.png"))
    assert mask[SCRATCH].min() == 255 and (mask == 0).mean() > 0.9
    assert (out / "album" / "b_mask.png").exists()
    (out / "a.png").unlink()  # the output is gone, its mask is not
    capsys.readouterr()
    assert main(["restore", str(prints), "-o", str(out), "--save-mask", *CLASSICAL]) == EXIT_PARTIAL_FAILURE
    assert "a_mask.png exists; pass --overwrite" in capsys.readouterr().err
    assert not (out / "a.png").exists()


def test_a_mask_that_would_replace_another_output_is_refused(tmp_path, capsys):
    root = tmp_path / "in"
    root.mkdir()
    Image.fromarray(print_with_scratch()).save(root / "x.png")
    Image.fromarray(print_with_scratch()).save(root / "x.jpg")  # both masks would be x_mask.png
    code = main(["restore", str(root), "-o", str(tmp_path / "out"), "--save-mask", *CLASSICAL])
    assert code == EXIT_PARTIAL_FAILURE
    assert "damage mask" in capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("x.*"))) == 1


def test_auto_levels_stretches_a_faded_print(tmp_path):
    faded = (110 + 0.3 * np.mgrid[0:96, 0:128][1]).astype(np.uint8)  # 110..148
    Image.fromarray(faded).save(tmp_path / "faded.png")
    assert main(["restore", str(tmp_path / "faded.png"), "--auto-levels", *CLASSICAL]) == EXIT_OK
    result = read_image(tmp_path / "faded_restored.png").pixels
    assert np.ptp(result) > 200 and np.ptp(faded) < 40


def test_exit_codes_are_colorize_s(prints, tmp_path, compact_weights, capsys):
    (prints / "broken.png").write_bytes(b"not a png")
    for verb, extra in (("restore", CLASSICAL), ("colorize", _model(compact_weights))):
        assert main([verb, str(prints), "-o", str(tmp_path / verb), *extra]) == EXIT_PARTIAL_FAILURE
        assert "broken.png" in capsys.readouterr().err
        assert main([verb, str(tmp_path / "nope.png"), *extra]) == EXIT_PARTIAL_FAILURE
        assert main([verb, str(prints / "a.png"), "-o", str(prints / "a.png"), "--overwrite", *extra]) == EXIT_PARTIAL_FAILURE
        assert "overwrite an input" in capsys.readouterr().err
        assert main([verb, str(prints / "a.png"), "--quality", "0", *extra]) == EXIT_USAGE
    with pytest.raises(SystemExit) as exit_info:
        main(["restore", str(prints), "--detector", "magic"])
    assert exit_info.value.code == EXIT_USAGE


def test_ctrl_c_leaves_no_partial_output(prints, tmp_path, monkeypatch, capsys):
    from masterpiece.restoration import Restorer

    def interrupted(self, lightness):
        raise KeyboardInterrupt

    monkeypatch.setattr(Restorer, "restore", interrupted)
    out = tmp_path / "out"
    code = main(["restore", str(prints), "-o", str(out), "--save-mask", *CLASSICAL])
    assert code == EXIT_INTERRUPTED
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_stdin_to_stdout(prints):
    command = [sys.executable, "-m", "masterpiece.cli", "restore", "-", "--format", "png", *CLASSICAL]
    result = subprocess.run(command, input=(prints / "a.png").read_bytes(), capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    image = read_image(result.stdout)
    assert image.pixels.ndim == 2 and image.pixels[SCRATCH].mean() < 200


def test_a_file_to_stdout_with_dash_o(prints, tmp_path):
    here = tmp_path / "cwd"  # where a file named "-" would appear
    here.mkdir()
    command = [sys.executable, "-m", "masterpiece.cli", "restore", str(prints / "a.png"), "-o", "-", *CLASSICAL]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False, cwd=here)
    assert result.returncode == 0, result.stderr.decode()
    assert read_image(result.stdout).pixels[SCRATCH].mean() < 200 and list(here.iterdir()) == []
    missing = subprocess.run([*command[:4], str(tmp_path / "none.png"), "-o", "-", *CLASSICAL], capture_output=True,
                             timeout=120, check=False)
    assert missing.returncode == 2 and b"no such file" in missing.stderr  # the stream mode's one input: a usage error


def test_colorize_restore_from_stdin(prints, compact_weights):
    command = [sys.executable, "-m", "masterpiece.cli", "colorize", "-", "--format", "png", "--restore",
               *CLASSICAL, *_model(compact_weights)]
    result = subprocess.run(command, input=(prints / "a.png").read_bytes(), capture_output=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert read_image(result.stdout).pixels[SCRATCH].mean() < 200


# --------------------------------------------------------------------------- --restore


def test_colorize_with_restore_and_save_mask(prints, compact_weights, tmp_path, capsys):
    out = tmp_path / "colour"
    argv = ["colorize", str(prints), "-o", str(out), *_model(compact_weights)]
    assert main([*argv, "--restore", "--save-mask", *CLASSICAL]) == EXIT_OK
    assert _scratch_gone(out / "a.png") and (out / "a_mask.png").exists()
    assert main([*argv[:3], str(tmp_path / "plain"), *argv[4:]]) == EXIT_OK
    assert not _scratch_gone(tmp_path / "plain" / "a.png")  # without --restore it stays
    assert main([*argv, "--save-mask"]) == EXIT_USAGE
    assert "add --restore" in capsys.readouterr().err


def test_batch_with_restore_locally(prints, compact_weights, tmp_path):
    out = tmp_path / "out"
    argv = ["batch", str(prints), "-o", str(out), "--restore", "--save-mask", *CLASSICAL, *_model(compact_weights)]
    assert main(argv) == EXIT_OK
    assert _scratch_gone(out / "a.png") and (out / "album" / "b_mask.png").exists()


def test_batch_on_ray_hands_the_restorer_to_the_actors(prints, compact_weights, tmp_path, monkeypatch):
    import contextlib

    from masterpiece import distributed
    from masterpiece.cli import batch
    from masterpiece.distributed.ray_batch import ColorizeFiles

    def colorize_files_on_ray(pairs, make_colorizer, **options):  # one actor, in this process
        actor = ColorizeFiles(make_colorizer, overwrite=options["overwrite"], make_restorer=options["make_restorer"],
                              save_mask=options["save_mask"])
        for source, destination in pairs:
            yield actor.one(str(source), str(destination))

    monkeypatch.setattr(distributed, "ray_session", lambda *a: contextlib.nullcontext())
    monkeypatch.setattr(distributed, "colorize_files_on_ray", colorize_files_on_ray)
    monkeypatch.setattr(batch, "_quiet_ray_data", lambda: None)
    out = tmp_path / "out"
    argv = ["batch", str(prints), "-o", str(out), "--ray", "--restore", "--save-mask", *CLASSICAL,
            *_model(compact_weights)]
    assert main(argv) == EXIT_OK
    assert _scratch_gone(out / "a.png") and (out / "a_mask.png").exists()


def test_video_with_restore(compact_weights, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("video_clips", Path(__file__).parents[1] / "video" / "clips.py")
    clips = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clips)
    frames = []
    for frame in clips.pan_zoom(clips.astronaut(), (128, 96), 6):
        frame = frame.copy()
        frame[SCRATCH] = 250  # a scratch on the film, in every frame
        frames.append(frame)
    film = clips.write_clip(tmp_path / "film.mp4", iter(frames), audio=False)
    out, plain = tmp_path / "restored.mp4", tmp_path / "plain.mp4"
    assert main(["video", str(film), str(out), "--restore", *CLASSICAL, *_model(compact_weights)]) == EXIT_OK
    assert main(["video", str(film), str(plain), *_model(compact_weights)]) == EXIT_OK
    from masterpiece.video.io import VideoReader

    def scratch_level(path: Path) -> float:
        with VideoReader(path) as reader:
            return float(np.mean([frame.rgb[SCRATCH].mean() for frame in reader.frames()]))

    assert scratch_level(plain) > 220 and scratch_level(out) < 200


def test_spelled_out_choices_match_the_library():
    from masterpiece.cli.jobs import Job, Plan, claim_masks
    from masterpiece.cli.options import DETECTOR_CHOICES, MASK_SUFFIX
    from masterpiece.pipeline.repair import MASK_SUFFIX as LIBRARY_SUFFIX
    from masterpiece.pipeline.repair import mask_path_for
    from masterpiece.restoration import DETECTORS

    assert DETECTOR_CHOICES == DETECTORS and MASK_SUFFIX == LIBRARY_SUFFIX
    plan = Plan()
    plan.add(Job(Path("in/a.jpg"), Path("out/sub/a.jpg")))
    claim_masks(plan)
    assert plan.jobs[0].mask == mask_path_for("out/sub/a.jpg")  # what the Ray actors write


def test_auto_levels_alone_loads_no_detector_network(compact_weights, tmp_path, monkeypatch):
    from masterpiece.restoration import learned

    def unavailable(*args, **kwargs):
        raise AssertionError("auto levels alone must not load the damage detector")

    monkeypatch.setattr(learned, "LearnedDetector", unavailable)
    faded = (110 + 0.3 * np.mgrid[0:96, 0:128][1]).astype(np.uint8)
    Image.fromarray(faded).save(tmp_path / "faded.png")
    out = tmp_path / "colour.png"
    assert main(["colorize", str(tmp_path / "faded.png"), "-o", str(out), "--auto-levels", *_model(compact_weights)]) == 0
    lightness = read_image(out).pixels.astype(float).mean(axis=2)
    assert np.ptp(lightness) > 150  # stretched (was 38 levels)


# Runs the CLI with every file write paused half-way (as tests/robustness/test_faults.py does),
# so that a signal sent while a temporary file exists lands in the middle of a write.
SLOW_WRITER = """
import sys, time
from masterpiece import atomic

write_all = atomic._write_all

def half_then_pause(descriptor, data):
    write_all(descriptor, data[: len(data) // 2])
    time.sleep(0.2)
    write_all(descriptor, data[len(data) // 2 :])

atomic._write_all = half_then_pause
from masterpiece.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_for_real_leaves_each_output_with_its_mask(tmp_path, workers):
    import os
    import signal
    import time

    folder = tmp_path / "prints"
    folder.mkdir()
    for index in range(12):
        Image.fromarray(np.roll(print_with_scratch(), index * 3, axis=0)).save(folder / f"p{index:02d}.png")
    out = tmp_path / "out"
    argv = ["restore", str(folder), "-o", str(out), "--save-mask", *CLASSICAL]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, *argv], stderr=subprocess.PIPE,
        env={**os.environ, "MASTERPIECE_WORKERS": workers},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and list(out.glob(".*.part")) and list(out.glob("p*_mask.png"))):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before the signal"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, stderr.decode()
    assert not list(out.glob(".*.part"))
    outputs = {p.stem for p in out.glob("p??.png")}
    masks = {p.stem.removesuffix("_mask") for p in out.glob("p??_mask.png")}
    assert outputs == masks and 0 < len(outputs) < 12  # each finished output has its mask, and only those
    assert main(argv) == EXIT_OK  # the same command finishes the rest
    assert len(list(out.glob("p??.png"))) == len(list(out.glob("p??_mask.png"))) == 12
