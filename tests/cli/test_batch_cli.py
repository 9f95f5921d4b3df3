"""``masterpiece batch`` without Ray: the layout and reports of ``colorize``; option checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.cli.main import EXIT_MODEL, EXIT_PARTIAL_FAILURE, EXIT_USAGE, main


@pytest.fixture
def photo_tree(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    root = tmp_path / "scans"
    (root / "album").mkdir(parents=True)
    Image.fromarray(gray_photo).save(root / "a.png")
    Image.fromarray(gray_photo).save(root / "album" / "b.jpg")
    return root


def _files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def test_folder_like_colorize_with_skip_and_errors(photo_tree, tmp_path, capsys):
    (photo_tree / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    assert (
        main(["batch", str(photo_tree), "-o", str(out), "--model", "compact"])
        == EXIT_PARTIAL_FAILURE
    )
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "colorized 2 image(s)" in err and "1 failed" in err
    assert _files(out) == {"a.png", "album/b.jpg"}
    reference = tmp_path / "reference"
    main(["colorize", str(photo_tree), "-o", str(reference), "--model", "compact"])
    assert _files(reference) == _files(out)
    assert (
        main(["batch", str(photo_tree / "album"), "-o", str(out / "album"), "--model", "compact"])
        == 0
    )
    assert "skipped 1 existing" in capsys.readouterr().err


def test_files_from_a_list_go_into_the_output_folder(photo_tree, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photo_tree / 'a.png'}\n\n{photo_tree / 'album' / 'b.jpg'}\n")
    out = tmp_path / "out"
    assert main(["batch", "--files-from", str(listing), "-o", str(out), "--model", "compact"]) == 0
    assert _files(out) == {"a.png", "b.jpg"}
    # one file still goes into the folder, by name
    assert (
        main(
            ["batch", str(photo_tree / "a.png"), "-o", str(tmp_path / "one"), "--model", "compact"]
        )
        == 0
    )
    assert _files(tmp_path / "one") == {"a.png"}


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        ([], EXIT_USAGE, "no inputs"),
        (["-"], EXIT_USAGE, "standard input"),
        (["--files-from", "missing.txt"], EXIT_USAGE, "missing.txt"),
        (["IN", "--ray", "not-an-address"], EXIT_USAGE, "not a Ray address"),
        (["IN", "--ray", "--workers", "0"], EXIT_USAGE, "--workers"),
        (["IN", "--ray", "--temperature", "0"], EXIT_USAGE, "temperature"),
        (["IN", "--ray", "--model", "nope"], EXIT_MODEL, "unknown model 'nope'"),
        (["IN", "--ray", "--device", "tpu9"], EXIT_USAGE, "tpu9"),
        (["IN", "--ray=auto", "--device", "cuda", "--precision", "int8"], EXIT_USAGE, "int8"),
    ],
)
def test_bad_options_fail_before_any_work(photo_tree, tmp_path, capsys, argv, code, words):
    argv = [str(photo_tree) if item == "IN" else item for item in argv]
    assert main(["batch", *argv, "-o", str(tmp_path / "out")]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not (tmp_path / "out").exists()


@pytest.fixture
def fake_ray(monkeypatch):
    """Run ``batch --ray`` without Ray: record the colorizer factory the actors would get."""
    import contextlib

    from masterpiece import distributed
    from masterpiece.cli import batch

    factories = []

    def colorize_files_on_ray(pairs, make_colorizer, **options):
        factories.append(make_colorizer)
        yield from ()

    monkeypatch.setattr(distributed, "ray_session", lambda *a: contextlib.nullcontext())
    monkeypatch.setattr(distributed, "colorize_files_on_ray", colorize_files_on_ray)
    monkeypatch.setattr(batch, "_quiet_ray_data", lambda: None)
    return factories


def test_auto_precision_is_measured_on_the_driver(photo_tree, tmp_path, monkeypatch, fake_ray):
    from types import SimpleNamespace

    from masterpiece.cli import batch
    from masterpiece.models import runtime

    # each actor used to resolve "auto" on its own node; then the driver used a fixed rule
    # (no VNNI: fp32) where `colorize` measures. Now the driver measures, as `colorize` does.
    monkeypatch.setenv("MASTERPIECE_PRECISION", "auto")
    monkeypatch.setattr(runtime, "cpu_supports_int8", lambda: False)
    built = []

    def measured(args):
        built.append(args.precision)
        return SimpleNamespace(precision="int8")  # what the measurement chose on this CPU

    monkeypatch.setattr(batch, "make_colorizer", measured)
    argv = ["batch", str(photo_tree), "-o", str(tmp_path / "out"), "--ray", "--model", "compact"]
    assert main(argv) == 0
    ((factory,),) = [fake_ray]
    assert built == ["auto"] and factory.args[0].precision == "int8"


def test_the_actors_run_what_colorize_measures(photo_tree, tmp_path, monkeypatch, fake_ray):
    from masterpiece import Colorizer

    monkeypatch.setenv("MASTERPIECE_PRECISION", "auto")
    argv = ["batch", str(photo_tree), "-o", str(tmp_path / "out"), "--ray", "--model", "compact"]
    assert main(argv) == 0
    assert fake_ray[0].args[0].precision == Colorizer("compact", precision="auto", download=False).precision


def test_int8_is_exported_once_on_the_driver(photo_tree, tmp_path, monkeypatch, fake_ray, compact_weights):
    from types import SimpleNamespace

    from masterpiece.cli import batch

    built = []
    monkeypatch.setattr(batch, "make_colorizer", lambda args: built.append(args.precision) or SimpleNamespace(precision=args.precision))
    argv = ["batch", str(photo_tree), "-o", str(tmp_path / "out"), "--ray", "--model", "compact", "--precision", "int8"]
    assert main([*argv, "--weights", str(compact_weights)]) == 0
    assert built == ["int8"]  # on the driver, before the actors start
    assert fake_ray[0].args[0].precision == "int8"
    # the bundled model's int8 file ships with the package: nothing is exported
    assert main([*argv[:3], str(tmp_path / "out2"), *argv[4:]]) == 0
    assert built == ["int8"] and fake_ray[1].args[0].precision == "int8"


def test_an_interrupted_ray_run_leaves_no_temporaries(photo_tree, tmp_path, monkeypatch):
    # Ray stops its actors in the middle of their writes (their own clean-up never runs): the
    # driver removes the hidden .part files of the run's outputs, and nothing else
    import contextlib

    from masterpiece import distributed
    from masterpiece.cli import batch
    from masterpiece.cli.main import EXIT_INTERRUPTED

    out = tmp_path / "out"
    (out / "album").mkdir(parents=True)
    mine = [out / ".notes.part", out / ".a.png.keep", out / "album" / ".other.png.0badf00d.part", out / "a.png.txt"]
    for path in mine:
        path.write_text("the user's")

    def stopped_midway(pairs, make_colorizer, **options):
        (out / ".a.png.1234abcd.part").write_bytes(b"half a png")
        (out / "album" / ".b.png.9876fedc.part").write_bytes(b"half")
        raise KeyboardInterrupt
        yield  # a generator, as the real one

    monkeypatch.setattr(distributed, "ray_session", lambda *a: contextlib.nullcontext())
    monkeypatch.setattr(distributed, "colorize_files_on_ray", stopped_midway)
    monkeypatch.setattr(batch, "_quiet_ray_data", lambda: None)
    argv = ["batch", str(photo_tree), "-o", str(out), "--ray", "--model", "compact", "--format", "png"]
    assert main(argv) == EXIT_INTERRUPTED
    assert sorted(path for path in out.rglob("*") if path.is_file()) == sorted(mine)
    assert all(path.read_text() == "the user's" for path in mine)
