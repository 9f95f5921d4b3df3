"""``masterpiece app``: the command it runs, the port it picks, the address it prints, the
browser it opens; and the real app started without a terminal, as a desktop launcher or a
service would start it."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import webbrowser
from pathlib import Path
from typing import ClassVar

import pytest

from masterpiece.app import CONFIG_FILE, PAGE
from masterpiece.cli import app as app_verb
from masterpiece.cli.main import EXIT_MODEL, EXIT_USAGE, build_parser, main

#: seconds the real app is given to answer
START_TIMEOUT_S = 120


class FakeProcess:
    """Stands in for the Streamlit child process; records the command line and how stdin
    was given. With ``serving`` set, it answers Streamlit's health endpoint on the command's
    port, 503 for the first ``starting`` checks (a server still starting), then 200."""

    commands: ClassVar[list[list[str]]] = []
    stdins: ClassVar[list[object]] = []
    serving: ClassVar[bool] = False
    starting: ClassVar[int] = 2
    exit_code: ClassVar[int | None] = None
    health_checks: ClassVar[list[int]] = []

    def __init__(self, command: list[str], stdin: object = None) -> None:
        self.commands.append(command)
        self.stdins.append(stdin)
        self.server = None
        if self.serving:
            self.server = _health_server(int(command[command.index("--server.port") + 1]))

    def poll(self) -> int | None:
        return self.exit_code

    def wait(self, timeout: float | None = None) -> int:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        return self.exit_code or 0


def _health_server(port: int) -> http.server.HTTPServer:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/_stcore/health":
                self.send_error(404)
                return
            FakeProcess.health_checks.append(time.monotonic_ns())
            ready = len(FakeProcess.health_checks) > FakeProcess.starting
            self.send_response(200 if ready else 503)
            self.end_headers()
            self.wfile.write(b"ok" if ready else b"starting")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    FakeProcess.commands, FakeProcess.stdins, FakeProcess.health_checks = [], [], []
    FakeProcess.serving, FakeProcess.exit_code = False, None
    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(app_verb, "POLL_INTERVAL_S", 0.01)
    return FakeProcess.commands


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Calls of ``webbrowser.open``: the address and how many health checks preceded it."""
    calls: list[tuple[str, int]] = []

    def record(url: str, *args: object, **kwargs: object) -> bool:
        calls.append((url, len(FakeProcess.health_checks)))
        return True

    monkeypatch.setattr(webbrowser, "open", record)
    monkeypatch.setenv("DISPLAY", ":0")  # a desktop session
    return calls


def test_the_page_and_its_settings_are_packaged() -> None:
    assert PAGE.is_file() and CONFIG_FILE.is_file()
    assert CONFIG_FILE.parent == PAGE.parent / ".streamlit"  # Streamlit reads it for PAGE
    assert "maxUploadSize" in CONFIG_FILE.read_text()


def test_app_is_a_verb() -> None:
    assert "app" in build_parser().format_help()


def test_runs_streamlit_on_the_page_and_prints_the_address(
    launched, capsys, compact_weights
) -> None:
    code = main(
        [
            "app",
            "--port",
            str(_free_port()),
            "--no-browser",
            "--model",
            "compact",
            "--weights",
            str(compact_weights),
        ]
    )
    assert code == 0
    [command] = launched
    assert command[1:5] == ["-m", "streamlit", "run", str(PAGE)]
    port = command[command.index("--server.port") + 1]
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--") :] == [
        "--",
        "--model",
        "compact",
        "--weights",
        str(Path(compact_weights).resolve()),
    ]
    assert f"Masterpiece app: http://127.0.0.1:{port}" in capsys.readouterr().out


def test_streamlit_never_asks_anything(launched, opened) -> None:
    assert main(["app", "--no-browser"]) == 0
    [command], [stdin] = launched, FakeProcess.stdins
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--server.showEmailPrompt") + 1] == "false"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"
    assert stdin == subprocess.DEVNULL
    assert "showEmailPrompt = false" in CONFIG_FILE.read_text()  # `streamlit run page.py` too
    assert opened == []


def test_opens_the_browser_once_the_server_answers(launched, opened) -> None:
    FakeProcess.serving = True
    port = _free_port()
    assert main(["app", "--port", str(port)]) == 0
    assert "--" not in launched[0]
    # opened once, at the printed address, after the health checks that answered 503
    assert opened == [(f"http://127.0.0.1:{port}", FakeProcess.starting + 1)]


def test_a_wildcard_host_opens_localhost(launched, opened) -> None:
    FakeProcess.serving = True  # listens on 127.0.0.1, which 0.0.0.0 includes
    port = _free_port()
    assert main(["app", "--host", "0.0.0.0", "--port", str(port)]) == 0
    assert [url for url, _ in opened] == [f"http://localhost:{port}"]


def test_no_browser_when_the_server_exits_first(launched, opened) -> None:
    FakeProcess.exit_code = 3
    assert main(["app"]) == 3
    assert opened == []


def test_no_browser_without_a_display(launched, opened, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    assert main(["app", "--port", str(port := _free_port())]) == 0
    assert opened == []
    assert f"open http://127.0.0.1:{port} yourself" in capsys.readouterr().err
    monkeypatch.setenv("BROWSER", "firefox")  # the user named one: it is used
    assert app_verb.can_show_browser()


def test_addresses() -> None:
    assert app_verb.app_url("::1", 8501) == "http://[::1]:8501"
    assert app_verb.app_url("::", 8501, loopback=True) == "http://[::1]:8501"
    assert app_verb.app_url("::", 8501) == "http://localhost:8501"
    assert app_verb.app_url("0.0.0.0", 8501, loopback=True) == "http://127.0.0.1:8501"


@pytest.mark.parametrize("browser", [False, True], ids=["no-browser", "browser"])
def test_starts_without_a_terminal_or_a_home_and_never_asks(tmp_path, browser) -> None:
    """The real app, as a launcher or service starts it: stdin from /dev/null, no controlling
    terminal (a new session), an empty HOME; and a desktop ($DISPLAY), where Streamlit by
    itself would not run headless and would ask for an e-mail address."""
    pytest.importorskip("streamlit", reason="the app extra is not installed")
    home, opened = tmp_path / "home", tmp_path / "opened.txt"
    home.mkdir()
    recorder = tmp_path / "browser"
    recorder.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    recorder.chmod(0o755)
    port = _free_port()
    env = dict(os.environ, HOME=str(home), DISPLAY=":0", BROWSER=str(recorder))
    env.pop("XDG_CONFIG_HOME", None)
    command = [sys.executable, "-m", "masterpiece.cli", "app", "--port", str(port)]
    output = tmp_path / "output.txt"
    with open(output, "wb") as log:
        process = subprocess.Popen(
            command + ([] if browser else ["--no-browser"]),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        assert app_verb.wait_until_served(url, process, START_TIMEOUT_S), output.read_text()
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        if browser:
            deadline = time.monotonic() + 30
            while not opened.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert opened.read_text() == url
        assert process.poll() is None, output.read_text()
    finally:
        os.killpg(process.pid, 15)  # the CLI and the Streamlit server it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
    text = output.read_text()
    assert f"Masterpiece app: {url}" in text
    assert "email" not in text.lower() and "Welcome to Streamlit" not in text, text
    assert browser or not opened.exists()
    assert list(home.iterdir()) == [], "the app wrote into HOME"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_busy_port_is_refused_or_skipped(launched, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == EXIT_USAGE
        assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err
        assert launched == []
        assert app_verb.choose_port("127.0.0.1", None) != port


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--weights", "w.safetensors"], EXIT_USAGE, "--weights needs --model"),
        (["--model", "compact", "--weights", "missing.safetensors"], EXIT_USAGE, "no such file"),
        (["--model", "vangogh"], EXIT_MODEL, "unknown model 'vangogh'"),
        (["--port", "70000"], EXIT_USAGE, "--port must be 1..65535"),
    ],
)
def test_bad_options(launched, capsys, tmp_path, monkeypatch, arguments, code, message) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.safetensors").write_bytes(b"")
    assert main(["app", *arguments]) == code
    assert message in capsys.readouterr().err
    assert launched == []
