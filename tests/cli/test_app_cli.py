"""``masterpiece app``: the command it runs, the port it picks, the address it prints."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

from masterpiece.app import CONFIG_FILE, PAGE
from masterpiece.cli import app as app_verb
from masterpiece.cli.main import EXIT_MODEL, EXIT_USAGE, build_parser, main


class FakeProcess:
    """Stands in for the Streamlit child process; records the command line."""

    commands: ClassVar[list[list[str]]] = []

    def __init__(self, command: list[str]) -> None:
        self.commands.append(command)

    def wait(self, timeout: float | None = None) -> int:
        return 0


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    FakeProcess.commands = []
    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    return FakeProcess.commands


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
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--") :] == [
        "--",
        "--model",
        "compact",
        "--weights",
        str(Path(compact_weights).resolve()),
    ]
    assert f"Masterpiece app: http://127.0.0.1:{port}" in capsys.readouterr().out


def test_opens_a_browser_unless_told_not_to(launched) -> None:
    assert main(["app"]) == 0
    [command] = launched
    assert command[command.index("--server.headless") + 1] == "false"
    assert "--" not in command


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
