"""Colorizing on Ray: the per-file logic without Ray, then the CLI on a local 2-CPU instance."""

from __future__ import annotations

import errno
import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masterpiece.cli.main import EXIT_PARTIAL_FAILURE, main
from masterpiece.distributed import FileResult, check_ray_address
from masterpiece.distributed.ray_batch import ColorizeFiles
from masterpiece.errors import ConfigError, MasterpieceError, ModelError, OutputError
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.image import Colorizer


@pytest.fixture
def photo_tree(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    root = tmp_path / "scans"
    (root / "album").mkdir(parents=True)
    Image.fromarray(gray_photo).save(root / "a.png")
    Image.fromarray(255 - gray_photo).save(root / "album" / "b.jpg")
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def _files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


# ------------------------------------------------------------------ without Ray


@pytest.mark.parametrize("address", ["local", "auto", "ray://head:10001", "10.0.0.1:6379"])
def test_ray_addresses(address):
    assert check_ray_address(address) == address


@pytest.mark.parametrize("address", ["scans/", "photo.jpg", "host:port"])
def test_paths_are_not_ray_addresses(address):
    with pytest.raises(ConfigError, match="--ray=ADDRESS"):
        check_ray_address(address)


def test_results_turn_back_into_errors():
    disk_full = FileResult("a", "b", "failed", "disk full", "output", errno.ENOSPC).error()
    assert isinstance(disk_full, OutputError) and disk_full.errno == errno.ENOSPC
    assert type(FileResult("a", "b", "failed", "bad", "input").error()) is MasterpieceError
    assert isinstance(FileResult("a", "b", "failed", "bug", "internal").error(), RuntimeError)
    assert FileResult("a", "b", "written").error() is None


def test_worker_batch_writes_skips_and_reports(photo_tree, tmp_path):
    worker = ColorizeFiles(functools.partial(Colorizer, "compact"))
    sources = [photo_tree / "a.png", photo_tree / "broken.jpg", photo_tree / "a.png"]
    destinations = [
        tmp_path / "out" / "a.png",
        tmp_path / "out" / "broken.jpg",
        tmp_path / "out" / "a.png",
    ]
    batch = {
        "source": np.array([str(p) for p in sources]),
        "destination": np.array([str(p) for p in destinations]),
    }
    results = worker(batch)
    assert results["status"] == ["written", "failed", "skipped"]
    assert results["kind"] == ["", "input", ""]
    assert "broken.jpg" in results["message"][1]
    expected = Colorizer("compact").colorize_loaded(read_image(sources[0]), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(destinations[0])), expected)


def test_worker_that_cannot_load_its_model_fails_every_file(tmp_path):
    worker = ColorizeFiles(functools.partial(Colorizer, "eccv16", download=False))
    result = worker.one(str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert result.status == "failed" and result.kind == "model" and "eccv16" in result.message


def test_worker_whose_colorizer_fails_unexpectedly_reports_settings(tmp_path):
    # torch.device("tpu9") raises RuntimeError, not a MasterpieceError: the constructor used to
    # fail, and Ray restarted the actor instead of stopping the run with one line
    worker = ColorizeFiles(functools.partial(Colorizer, "compact", device="tpu9"))
    result = worker.one(str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert result.status == "failed" and result.kind == "settings" and "tpu9" in result.message


# ------------------------------------------------------------------ on a local Ray instance


@pytest.fixture(scope="module")
def ray_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray-weights-cache")


@pytest.fixture(scope="module")
def local_ray(ray_cache):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    pytest.importorskip("ray.data", reason="the ray extra is not installed")
    # started before the function-scoped isolated_cache fixture sets the environment, so the
    # workers get the tests' environment here (else: the developer's cache and precision)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={
            "env_vars": {"MASTERPIECE_CACHE": str(ray_cache), "MASTERPIECE_PRECISION": "fp32"}
        },
    )
    yield ray
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_workers_get_the_tests_environment(local_ray, ray_cache):
    import os

    @local_ray.remote
    def environment():
        return os.environ.get("MASTERPIECE_CACHE"), os.environ.get("MASTERPIECE_PRECISION")

    assert local_ray.get(environment.remote()) == (str(ray_cache), "fp32")


@pytest.mark.ray
@pytest.mark.slow
def test_batch_on_ray_matches_local_colorize(local_ray, photo_tree, tmp_path, capsys):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert (
        main(["colorize", str(photo_tree), "-o", str(local), "--model", "compact"])
        == EXIT_PARTIAL_FAILURE
    )
    capsys.readouterr()
    argv = [
        "batch",
        str(photo_tree),
        "-o",
        str(on_ray),
        "--ray",
        "--model",
        "compact",
        "--batch-size",
        "1",
    ]
    assert main(argv) == EXIT_PARTIAL_FAILURE
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "colorized 2 image(s) with model compact; 1 failed" in err
    assert _files(on_ray) == _files(local) == {"a.png", "album/b.jpg"}
    for name in _files(local):
        a = np.asarray(Image.open(local / name)).astype(int)
        b = np.asarray(Image.open(on_ray / name)).astype(int)
        assert np.abs(a - b).max() <= 1, name
    before = (on_ray / "a.png").stat().st_mtime_ns
    assert main(argv) == EXIT_PARTIAL_FAILURE  # the broken file fails again
    assert "skipped 2 existing" in capsys.readouterr().err
    assert (on_ray / "a.png").stat().st_mtime_ns == before
    assert main([*argv, "--overwrite"]) == EXIT_PARTIAL_FAILURE
    assert (on_ray / "a.png").stat().st_mtime_ns != before


@pytest.mark.ray
@pytest.mark.slow
def test_models_that_cannot_load_stop_the_run(local_ray, photo_tree, tmp_path, capsys):
    from masterpiece.distributed import colorize_files_on_ray

    pairs = [(photo_tree / "a.png", tmp_path / "out" / "a.png")]
    with pytest.raises(ModelError, match="eccv16"):
        list(colorize_files_on_ray(pairs, functools.partial(Colorizer, "eccv16", download=False)))
    assert not (tmp_path / "out").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_batch_on_ray_restores_like_local_colorize(local_ray, photo_tree, tmp_path, capsys):
    (photo_tree / "broken.jpg").unlink()
    options = ["--model", "compact", "--restore", "--save-mask", "--detector", "classical"]
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main(["colorize", str(photo_tree), "-o", str(local), *options]) == 0
    assert main(["batch", str(photo_tree), "-o", str(on_ray), "--ray", *options, "--batch-size", "1"]) == 0
    assert _files(on_ray) == _files(local) == {"a.png", "a_mask.png", "album/b.jpg", "album/b_mask.png"}
    for name in _files(local):
        a = np.asarray(Image.open(local / name)).astype(int)
        b = np.asarray(Image.open(on_ray / name)).astype(int)
        assert np.abs(a - b).max() <= 1, name


@pytest.fixture
def six_photos(tmp_path: Path, gray_photo: np.ndarray) -> Path:
    folder = tmp_path / "six"
    folder.mkdir()
    for index in range(6):
        Image.fromarray(np.roll(gray_photo, 11 * index, axis=1)).save(folder / f"p{index}.png")
    return folder


@pytest.fixture
def map_batches_calls(local_ray, monkeypatch) -> list[dict]:
    """The options each ``Dataset.map_batches`` call hands Ray (the real call still runs)."""
    calls: list[dict] = []
    original = local_ray.data.Dataset.map_batches

    def recording(self, fn, **options):
        calls.append(options)
        return original(self, fn, **options)

    monkeypatch.setattr(local_ray.data.Dataset, "map_batches", recording)
    return calls


def _same_as_local(sources: Path, outputs: Path) -> None:
    """Each output exists and equals the same file colorized here (within one level)."""
    colorizer = Colorizer("compact")
    for source in sorted(sources.iterdir()):
        expected = colorizer.colorize_loaded(read_image(source), dtype=np.uint8).astype(int)
        written = np.asarray(Image.open(outputs / source.name)).astype(int)
        assert np.abs(written - expected).max() <= 1, source.name


@pytest.mark.ray
@pytest.mark.slow
def test_two_workers_and_batches_of_three(local_ray, six_photos, tmp_path, map_batches_calls):
    """Two actors build one colorizer each; each batch of three files goes to one actor."""
    from masterpiece.distributed import colorize_files_on_ray

    log = tmp_path / "log"
    log.mkdir()

    def make_colorizer():  # runs in each actor (pickled by value: a local function)
        import os

        pid = os.getpid()
        (log / f"actor-{pid}").touch()

        class Recording(Colorizer):
            def colorize_file(self, source, destination, **options):
                (log / f"{Path(source).name}-{pid}").touch()
                return super().colorize_file(source, destination, **options)

        return Recording("compact")

    names = [f"p{index}.png" for index in range(6)]
    pairs = [(six_photos / name, tmp_path / "out" / name) for name in names]
    results = list(colorize_files_on_ray(pairs, make_colorizer, workers=2, batch_size=3))
    assert [Path(r.source).name for r in results] == names  # in input order
    assert {r.status for r in results} == {"written"}
    _same_as_local(six_photos, tmp_path / "out")
    (options,) = map_batches_calls  # one map over the files
    assert options["batch_size"] == 3
    assert options["compute"].min_size == options["compute"].max_size == 2
    assert len(list(log.glob("actor-*"))) == 2  # one colorizer per actor, two actors
    pid_of = {path.name.split("-")[0]: path.name.split("-")[1] for path in log.glob("p*.png-*")}
    assert sorted(pid_of) == names  # every file once
    for batch in (names[:3], names[3:]):
        assert len({pid_of[name] for name in batch}) == 1, batch


@pytest.mark.ray
@pytest.mark.slow
def test_batch_command_honours_workers_and_batch_size(
    local_ray, six_photos, tmp_path, map_batches_calls, capsys
):
    out = tmp_path / "out"
    argv = ["batch", str(six_photos), "-o", str(out), "--ray", "--model", "compact",
            "--workers", "2", "--batch-size", "3"]
    assert main(argv) == 0
    assert "colorized 6 image(s) with model compact" in capsys.readouterr().err
    _same_as_local(six_photos, out)
    (options,) = map_batches_calls  # one map over the files
    assert options["batch_size"] == 3 and options["compute"].max_size == 2


def test_a_ray_session_keeps_the_callers_sigterm_handler(monkeypatch):
    # ray.init installs its own SIGTERM handler (a stack dump, exit status 15), which replaced
    # the CLI's clean stop (its summary and 143)
    import signal

    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from masterpiece.distributed import ray_session

    def init_like_ray(**options):
        signal.signal(signal.SIGTERM, lambda *a: None)

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init_like_ray)
    monkeypatch.setattr(ray, "shutdown", lambda: None)

    def callers(signum, frame):
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, callers)
    try:
        with ray_session():
            assert signal.getsignal(signal.SIGTERM) is callers
    finally:
        signal.signal(signal.SIGTERM, previous)
