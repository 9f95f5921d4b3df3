"""Downloading, verifying and safely loading weights, from file:// and a loopback HTTP server.

The published URLs cannot be reached here: the registry's specs are pointed at local copies
of files with the same layout (the published keys and shapes, random values).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest
import torch
from PIL import Image
from torch import nn

from masterpiece.cli.main import EXIT_MODEL, main
from masterpiece.errors import (
    ChecksumMismatchError,
    DownloadError,
    IncompatibleWeightsError,
    OutputExistsError,
    UnsafeCheckpointError,
    WeightsError,
    WeightsNotFoundError,
)
from masterpiece.models import (
    ColorizationModel,
    ColorPrediction,
    ModelInfo,
    WeightsSpec,
    _registry,
    _weights,
    cache_dir,
    create_model,
    download_weights,
    ensure_weights,
    load_state_dict,
    save_safetensors,
    weights_available,
    weights_path_for,
)
from masterpiece.models._weights import verify_sha256
from masterpiece.models.eccv16 import ECCV16Colorizer

TINY = "tiny_test_model"


class TinyColorizer(ColorizationModel):
    """A two-layer stand-in with a BatchNorm, so that files stay a few kilobytes."""

    decoder = "regression"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.norm = nn.BatchNorm2d(2)

    def predict(self, lightness, hint_ab=None, hint_mask=None) -> ColorPrediction:
        return ColorPrediction(ab=self.norm(self.conv(lightness)))


class CodeExecutingPayload:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(path: Path, url: str, sha256: str | None = None) -> WeightsSpec:
    return WeightsSpec(
        filename=path.name, sha256=sha256 or _sha256(path), license="test", source="test", url=url
    )


def _cache_files() -> list[str]:
    directory = cache_dir()
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MASTERPIECE_CACHE", str(directory))
    monkeypatch.delenv("MASTERPIECE_OFFLINE", raising=False)
    return directory


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "served"
    directory.mkdir()
    return directory


@pytest.fixture
def tiny_file(served: Path) -> Path:
    torch.manual_seed(0)
    path = served / "tiny-v1.pth"
    torch.save(TinyColorizer().state_dict(), path)
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _serve(served: Path, handler: type[QuietHandler]) -> Iterator[str]:
    """Serve the folder ``served`` on a loopback port; yields the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_base(served: Path) -> Iterator[str]:
    yield from _serve(served, QuietHandler)


@pytest.fixture
def slow_http_base(served: Path) -> Iterator[str]:
    """Like ``http_base``, but each answer waits until two requests have arrived and then
    trickles out in small pieces, so that two downloads certainly overlap."""
    both_asked = threading.Barrier(2, timeout=120)

    class SlowHandler(QuietHandler):
        def do_GET(self) -> None:
            data = (served / self.path.lstrip("/")).read_bytes()
            try:
                both_asked.wait()
            except threading.BrokenBarrierError:  # the other process never asked: serve anyway
                pass
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for start in range(0, len(data), 256):
                self.wfile.write(data[start : start + 256])
                self.wfile.flush()
                time.sleep(0.02)

    yield from _serve(served, SlowHandler)


@pytest.fixture(params=["file", "http"])
def url_of(request: pytest.FixtureRequest, served: Path):
    """Turns a file under ``served`` into a file:// or an http:// URL."""
    if request.param == "file":
        return lambda path: path.as_uri()
    base = request.getfixturevalue("http_base")
    return lambda path: f"{base}/{path.relative_to(served).as_posix()}"


def _register_tiny(monkeypatch: pytest.MonkeyPatch, spec: WeightsSpec | None) -> ModelInfo:
    _registry.list_models()  # register the built-in models first
    info = ModelInfo(
        name=TINY,
        description="test",
        input_size=32,
        accepts_hints=False,
        weights=spec,
        factory=TinyColorizer,
    )
    monkeypatch.setitem(_registry._REGISTRY, TINY, info)
    return info


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tiny-v1.pth"


# --------------------------------------------------------------------------- cache location


def test_cache_dir_follows_the_environment(
    isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache_dir() == isolated_cache
    assert (
        weights_path_for(_spec(Path("x.pth"), "file:///x.pth", "0" * 64))
        == isolated_cache / "x.pth"
    )
    monkeypatch.delenv("MASTERPIECE_CACHE")
    assert cache_dir() == Path(platformdirs.user_cache_dir("masterpiece"))


# --------------------------------------------------------------------------- downloading


def test_download_verifies_and_keeps_the_file(tiny_file: Path, url_of) -> None:
    spec = _spec(tiny_file, url_of(tiny_file))
    path = download_weights(spec, progress=False)
    assert path == cache_dir() / tiny_file.name
    assert path.read_bytes() == tiny_file.read_bytes()
    assert _cache_files() == [tiny_file.name]
    tiny_file.unlink()  # already there: no second download
    assert download_weights(spec, progress=False) == path


@pytest.mark.parametrize("damage", ["truncated", "tampered"])
def test_a_damaged_download_is_rejected_and_not_kept(tiny_file: Path, url_of, damage: str) -> None:
    expected = _sha256(tiny_file)
    data = bytearray(tiny_file.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    tiny_file.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match=expected) as caught:
        download_weights(_spec(tiny_file, url_of(tiny_file), expected), progress=False)
    assert url_of(tiny_file) in str(caught.value) and "pull" in str(caught.value)
    assert _cache_files() == []


def test_a_corrupt_cached_file_is_refused_at_load_and_replaced_by_pull(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(tiny_file, tiny_file.as_uri())
    _register_tiny(monkeypatch, spec)
    cache_dir().mkdir(parents=True)
    (cache_dir() / tiny_file.name).write_bytes(b"not the weights")
    with pytest.raises(ChecksumMismatchError, match=f"{spec.sha256}.*models pull {TINY}"):
        create_model(TINY)
    download_weights(spec, progress=False, name=TINY)
    verify_sha256(weights_path_for(spec), spec.sha256)


def test_http_errors_become_download_errors_naming_the_url(tiny_file: Path, http_base: str) -> None:
    url = f"{http_base}/missing.pth"
    with pytest.raises(DownloadError, match=f"{url}.*404"):
        download_weights(_spec(tiny_file, url), progress=False)


def test_concurrent_downloads_both_end_with_a_verified_file(
    tiny_file: Path, http_base: str
) -> None:
    spec = _spec(tiny_file, f"{http_base}/{tiny_file.name}")
    barrier = threading.Barrier(4)
    results: list[Path | BaseException] = []

    def download() -> None:
        barrier.wait()
        try:
            results.append(download_weights(spec, progress=False))
        except (WeightsError, OSError) as error:  # reported by the assertion below
            results.append(error)

    threads = [threading.Thread(target=download) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [cache_dir() / tiny_file.name] * 4
    verify_sha256(results[0], spec.sha256)
    assert _cache_files() == [tiny_file.name]  # no temporary file left behind


# One process downloading registered weights (as `masterpiece models pull` would).
DOWNLOADER = """
import sys
from masterpiece.models import WeightsSpec
from masterpiece.models import download_weights

filename, sha256, url = sys.argv[1:]
spec = WeightsSpec(filename=filename, sha256=sha256, license="test", source="test", url=url)
print(download_weights(spec, progress=False))
"""


def test_two_processes_downloading_at_once_both_end_with_a_verified_file(
    tiny_file: Path, slow_http_base: str
) -> None:
    arguments = [tiny_file.name, _sha256(tiny_file), f"{slow_http_base}/{tiny_file.name}"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DOWNLOADER, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    answers = [process.communicate(timeout=180) for process in processes]
    for process, (out, err) in zip(processes, answers):
        assert process.returncode == 0, err
        assert out.strip() == str(cache_dir() / tiny_file.name)
    verify_sha256(cache_dir() / tiny_file.name, _sha256(tiny_file))
    assert _cache_files() == [tiny_file.name]  # no temporary file left behind


# --------------------------------------------------------------------------- cache faults


def test_a_cache_path_that_is_a_file_gives_a_clear_error(
    tiny_file: Path, isolated_cache: Path
) -> None:
    isolated_cache.write_bytes(b"not a folder")
    pattern = f"cannot write to the weights cache directory {isolated_cache}.*MASTERPIECE_CACHE"
    with pytest.raises(DownloadError, match=pattern) as caught:
        download_weights(_spec(tiny_file, tiny_file.as_uri()), progress=False)
    assert "\n" not in str(caught.value)
    assert isolated_cache.read_bytes() == b"not a folder"


def _refuse_temporary_files(*args: object, **kwargs: object) -> None:
    raise PermissionError(errno.EACCES, "Permission denied")


def _fill_the_disk(response, file, *args: object) -> str:
    file.write(response.read(100))
    raise OSError(errno.ENOSPC, "No space left on device")


def _interrupt(response, file, *args: object) -> str:
    file.write(response.read(100))
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("target", "fault", "reason"),
    [
        ("open", _refuse_temporary_files, "Permission denied"),  # the temporary download file
        ("_copy_with_progress", _fill_the_disk, "No space left on device"),
    ],
    ids=["unwritable cache", "disk full"],
)
def test_a_cache_that_cannot_be_written_gives_a_clear_error_and_keeps_nothing(
    tiny_file: Path, url_of, monkeypatch: pytest.MonkeyPatch, target: str, fault, reason: str
) -> None:
    """As root chmod cannot refuse writes, so the faults are injected."""
    spec = _spec(tiny_file, url_of(tiny_file))
    _register_tiny(monkeypatch, spec)
    monkeypatch.setattr(_weights, target, fault, raising=False)
    pattern = f"cannot write to the weights cache directory {cache_dir()} \\({reason}\\).*MASTERPIECE_CACHE"
    with pytest.raises(DownloadError, match=pattern):
        create_model(TINY)
    assert _cache_files() == []


def test_an_interrupted_download_leaves_nothing(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_weights, "_copy_with_progress", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        download_weights(_spec(tiny_file, tiny_file.as_uri()), progress=False)
    assert _cache_files() == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_cache_for_real(tiny_file: Path, isolated_cache: Path) -> None:
    isolated_cache.mkdir(mode=0o500)
    with pytest.raises(DownloadError, match="cannot write to the weights cache directory"):
        download_weights(_spec(tiny_file, tiny_file.as_uri()), progress=False)


# --------------------------------------------------------------------------- offline


@pytest.mark.parametrize("how", ["download=False", "MASTERPIECE_OFFLINE", "network down"])
def test_offline_gives_one_message_that_says_what_to_do(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    url = _closed_port_url() if how == "network down" else tiny_file.as_uri()
    spec = _spec(tiny_file, url)
    _register_tiny(monkeypatch, spec)
    if how == "MASTERPIECE_OFFLINE":
        monkeypatch.setenv("MASTERPIECE_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as caught:
        create_model(TINY, download=how != "download=False")
    message = str(caught.value)
    for part in (
        repr(TINY),
        spec.filename,
        url,
        spec.sha256,
        str(cache_dir()),
        f"models pull {TINY}",
        "--weights",
    ):
        assert part in message
    assert "\n" not in message
    assert not (cache_dir() / spec.filename).exists()


def test_a_model_without_published_weights_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _register_tiny(monkeypatch, None)
    with pytest.raises(WeightsNotFoundError, match="no published weights.*--weights"):
        create_model(TINY)
    assert isinstance(create_model(TINY, pretrained=False), TinyColorizer)


def test_missing_bundled_weights_ask_for_a_reinstall(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = WeightsSpec(
        filename="absent.safetensors", sha256="0" * 64, license="t", source="t", bundled=True
    )
    info = _register_tiny(monkeypatch, spec)
    assert not weights_available(info)
    with pytest.raises(WeightsNotFoundError, match="reinstall"):
        ensure_weights(info)


# --------------------------------------------------------------------------- safe loading


def test_a_pickle_that_would_execute_code_is_refused(served: Path, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = served / "evil.pth"
    torch.save(
        {"conv.weight": torch.zeros(2, 1, 1, 1), "payload": CodeExecutingPayload(marker)}, path
    )
    with pytest.raises(UnsafeCheckpointError, match="refusing to load .*execute code"):
        load_state_dict(path)
    with pytest.raises(UnsafeCheckpointError):
        create_model("eccv16", weights=path)
    assert not marker.exists()


def test_a_verified_download_of_an_unsafe_pickle_is_still_refused(
    served: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "code-ran"
    path = served / "evil.pth"
    torch.save({"payload": CodeExecutingPayload(marker)}, path)
    _register_tiny(monkeypatch, _spec(path, path.as_uri()))
    with pytest.raises(UnsafeCheckpointError):
        create_model(TINY)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["would execute code", "truncated"])
def test_the_cli_refuses_bad_weights_in_one_line(
    served: Path, tmp_path: Path, compact_weights: Path, capsys, damage: str
) -> None:
    marker = tmp_path / "code-ran"
    path = served / "checkpoint.pth"
    if damage == "truncated":
        path.write_bytes(compact_weights.read_bytes()[:1000])
    else:
        torch.save({"payload": CodeExecutingPayload(marker)}, path)
    photo = tmp_path / "photo.png"
    Image.new("L", (32, 32)).save(photo)
    code = main(["colorize", str(photo), "--model", "compact", "--weights", str(path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_MODEL and len(lines) == 1, lines
    assert lines[0].startswith("masterpiece: error: ") and str(path) in lines[0]
    assert not marker.exists() and not (tmp_path / "photo_colorized.png").exists()


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint") as caught:
        load_state_dict(garbage)
    assert not isinstance(caught.value, UnsafeCheckpointError)
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_state_dict(garbage.rename(tmp_path / "garbage.safetensors"))
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_state_dict(tmp_path / "absent.pth")


def test_training_checkpoints_and_safetensors_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, None)
    torch.manual_seed(3)
    state_dict = TinyColorizer().state_dict()
    checkpoint = tmp_path / "epoch3.pt"
    torch.save({"model": state_dict, "optimizer": {}, "epoch": 3}, checkpoint)
    safetensors = save_safetensors(state_dict, tmp_path / "tiny.safetensors")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_safetensors(state_dict, safetensors)
    for path in (checkpoint, safetensors):
        model = create_model(TINY, weights=path)
        torch.testing.assert_close(model.conv.weight, state_dict["conv.weight"])
        assert not model.training


def test_incompatible_weights_list_the_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, None)
    state_dict = TinyColorizer().state_dict()
    state_dict["conv.weight"] = torch.zeros(3, 1, 1, 1)
    state_dict["extra.weight"] = torch.zeros(1)
    del state_dict["norm.running_var"]
    path = tmp_path / "wrong.pth"
    torch.save(state_dict, path)
    with pytest.raises(IncompatibleWeightsError) as caught:
        create_model(TINY, weights=path)
    message = str(caught.value)
    assert "missing: norm.running_var" in message and "unexpected: extra.weight" in message
    assert "conv.weight (3, 1, 1, 1) instead of (2, 1, 1, 1)" in message


# --------------------------------------------------------------------------- the published layout


@pytest.fixture(scope="module")
def published_eccv16(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, torch.Tensor]]:
    """A file with the published ECCV16 keys and shapes (no num_batches_tracked), random values."""
    torch.manual_seed(7)
    state_dict = {
        key: value
        for key, value in ECCV16Colorizer().state_dict().items()
        if not key.endswith("num_batches_tracked")
    }
    state_dict = {
        key: torch.randn_like(value) if value.is_floating_point() else value
        for key, value in state_dict.items()
    }
    path = tmp_path_factory.mktemp("published") / "colorization_release_v2-9b330a0b.pth"
    torch.save(state_dict, path)
    return path, state_dict


def test_the_published_layout_downloads_verifies_and_loads(
    published_eccv16: tuple[Path, dict[str, torch.Tensor]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, state_dict = published_eccv16
    info = _registry.get_model_info("eccv16")
    spec = dataclasses.replace(info.weights, url=path.as_uri(), sha256=_sha256(path))
    monkeypatch.setitem(_registry._REGISTRY, "eccv16", dataclasses.replace(info, weights=spec))
    assert not weights_available(_registry.get_model_info("eccv16"))
    model = create_model("eccv16")
    assert weights_available(_registry.get_model_info("eccv16"))
    torch.testing.assert_close(model.model8[6].weight, state_dict["model8.6.weight"])
    from_file = create_model("eccv16", weights=path)
    torch.testing.assert_close(from_file.bin_centers, model.bin_centers)


def test_offline_a_damaged_cached_file_is_named_as_damaged_not_missing(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it said "... is not in the cache directory and downloads are disabled", with the file there
    spec = _spec(tiny_file, tiny_file.as_uri())
    _register_tiny(monkeypatch, spec)
    monkeypatch.setenv("MASTERPIECE_OFFLINE", "1")
    cache_dir().mkdir(parents=True)
    (cache_dir() / tiny_file.name).write_bytes(b"not the weights")
    with pytest.raises(ChecksumMismatchError) as pulled:
        download_weights(spec, progress=False, name=TINY)
    with pytest.raises(ChecksumMismatchError) as loaded:
        create_model(TINY)
    for message in (str(pulled.value), str(loaded.value)):
        assert "is not in the cache" not in message and spec.sha256 in message
        assert "delete it" in message and "MASTERPIECE_OFFLINE" in message and f"models pull {TINY}" in message
    assert (cache_dir() / tiny_file.name).read_bytes() == b"not the weights"  # never removed for the user


def test_a_content_length_that_is_no_number_only_loses_the_bars_total(
    tiny_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # int("abc") was an internal error ("this is a bug", exit 1)
    import io
    import urllib.request

    class Response(io.BytesIO):
        headers = {"Content-Length": "abc"}

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(tiny_file.read_bytes()))
    spec = _spec(tiny_file, "http://127.0.0.1:9/weights.pth")
    path = download_weights(spec, progress=False)
    verify_sha256(path, spec.sha256)


def test_a_pull_removes_what_a_killed_pull_left_a_day_ago(tiny_file: Path) -> None:
    # a SIGKILLed pull leaves its hidden .part (about 130 MB); a fresh one may be another pull's
    from masterpiece.atomic import temporary_sibling

    spec = _spec(tiny_file, tiny_file.as_uri())
    destination = weights_path_for(spec)
    destination.parent.mkdir(parents=True)
    old, fresh = temporary_sibling(destination), temporary_sibling(destination)
    for path in (old, fresh):
        path.write_bytes(b"half")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    download_weights(spec, progress=False)
    assert not old.exists() and fresh.exists()
    verify_sha256(destination, spec.sha256)
