"""``masterpiece serve``: options and environment become the service settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from masterpiece.cli import serve as serve_cli
from masterpiece.cli.main import EXIT_MODEL, EXIT_USAGE, main


@pytest.fixture
def served(monkeypatch):
    """Capture what ``uvicorn.run`` would serve instead of serving it."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    return calls


def test_options_and_environment_make_the_settings(served, monkeypatch, capsys):
    monkeypatch.setenv("MASTERPIECE_SERVE_QUEUE_TIMEOUT", "1.5")
    monkeypatch.setenv("MASTERPIECE_SERVE_MAX_CONCURRENT", "7")
    monkeypatch.setenv("MASTERPIECE_API_KEY", "s3cret")
    code = main(
        [
            "serve",
            "--port",
            "8123",
            "--model",
            "compact",
            "--max-concurrent",
            "3",
            "--max-pixels",
            "0",
            "--request-timeout",
            "9",
        ]
    )
    assert code == 0
    ((app, options),) = served
    settings = app.state.settings
    assert options == {"host": "127.0.0.1", "port": 8123, "log_level": "info"}
    assert settings.max_concurrent == 3 and settings.queue_timeout_s == 1.5
    assert settings.max_pixels is None and settings.request_timeout_s == 9
    assert settings.api_key == "s3cret" and settings.model == "compact"
    assert "http://127.0.0.1:8123/docs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["--port", "0"], EXIT_USAGE, "--port"),
        (["--max-concurrent", "0"], EXIT_USAGE, "max_concurrent"),
        (["--model", "nope"], EXIT_MODEL, "unknown model 'nope'"),
        (["--model", "compact", "--weights", "missing.safetensors"], EXIT_USAGE, "no such file"),
        (["--weights", __file__], EXIT_USAGE, "need a model"),
    ],
)
def test_bad_options_are_one_line(served, capsys, argv, code, words):
    assert main(["serve", *argv]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not served


@pytest.mark.parametrize(
    ("argv", "environ", "code", "words"),
    [
        (["--device", "tpu9"], {}, EXIT_USAGE, "tpu9"),
        ([], {"MASTERPIECE_PRECISION": "bogus"}, EXIT_USAGE, "MASTERPIECE_PRECISION"),
        ([], {"MASTERPIECE_SERVE_MODEL": "nope"}, EXIT_MODEL, "unknown model 'nope'"),
        ([], {"MASTERPIECE_SERVE_DEVICE": "tpu9"}, EXIT_USAGE, "tpu9"),
        # the model loads before the server starts: its error is one line, not a traceback
        (["--preload", "--model", "eccv16"], {}, EXIT_MODEL, "masterpiece models pull eccv16"),
    ],
)
def test_a_misconfigured_server_does_not_start(
    served, monkeypatch, capsys, argv, environ, code, words
):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", *argv]) == code
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and words in err[0], captured.err
    assert "Traceback" not in captured.out + captured.err
    assert not served


def test_preload_loads_the_model_before_serving(served):
    assert main(["serve", "--preload", "--model", "compact"]) == 0
    ((app, _),) = served
    assert "compact" in app.state.colorizers.loaded()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_does_not_start(served, capsys):
    assert main(["serve", "--device", "cuda"]) == EXIT_USAGE
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not served


def test_missing_extra_says_what_to_install(served, monkeypatch, capsys):
    monkeypatch.setattr(serve_cli.importlib.util, "find_spec", lambda name: None)
    assert main(["serve"]) == EXIT_USAGE
    assert "pip install 'masterpiece[serve]'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_serves_over_http(tmp_path):
    import httpx

    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "masterpiece.cli",
            "serve",
            "--port",
            str(port),
            "--model",
            "compact",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert response.json()["status"] == "ok"
    finally:
        process.terminate()
        process.wait(30)
