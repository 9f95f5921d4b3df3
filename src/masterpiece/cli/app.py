"""``masterpiece app [--port N] [--host H] [--no-browser] [--model NAME --weights FILE]``.

Starts the web app (:mod:`masterpiece.app`) with ``streamlit run`` on the packaged page, in a
child process, prints its address and, unless ``--no-browser``, opens it in a browser once the
server answers. Ctrl+C stops it.

The page's Streamlit settings (upload limit and the rest) are in
``masterpiece/app/.streamlit/config.toml``, which Streamlit reads for that page; the options
here are passed as flags, which take precedence. Streamlit never asks anything: it runs
headless (no first-run e-mail prompt, which would otherwise wait on a terminal, and block or
fail where there is none, such as under ``setsid`` or with stdin from ``/dev/null``), with
stdin from ``/dev/null`` and without usage statistics; nothing is written into ``~``. Headless
Streamlit does not open a browser, so this verb does, with :mod:`webbrowser` (``$BROWSER`` is
honoured), and only where a browser can be shown: on Linux and BSD a graphical session
(``$DISPLAY`` or ``$WAYLAND_DISPLAY``) or ``$BROWSER``, as Streamlit itself decides, so that a
console browser never takes over an SSH terminal.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path

DEFAULT_PORT = 8501
#: ports tried after DEFAULT_PORT when --port is not given
PORT_RANGE = 100
#: seconds Streamlit is given to shut down after Ctrl+C
STOP_TIMEOUT_S = 10
#: seconds the server is given to answer before the browser is given up
START_TIMEOUT_S = 120
#: seconds between two health checks while the server starts
POLL_INTERVAL_S = 0.25
#: Streamlit's health endpoint: 200 once the server serves the page
HEALTH_PATH = "/_stcore/health"
#: wildcard listening addresses, and the loopback address that reaches each
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="open the web app: colorize in the browser, with colour hints",
        description="Start the Masterpiece web app (Streamlit) on a local port, print its "
        "address and open it in a browser. Needs the app extra: pip install 'masterpiece[app]'.",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"port to listen on (default: the first free one from {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 for every network interface)",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    parser.add_argument("--model", help="the model the page offers first")
    parser.add_argument(
        "--weights",
        type=Path,
        help="a weights file for --model (offered even without its registered weights)",
    )
    parser.set_defaults(func=run)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(host: str, port: int | None) -> int:
    """``port`` if it is free, else (when not given) the first free one from DEFAULT_PORT.

    Raises:
        ConfigError: the port given is in use or out of range, or no port is free.
    """
    from ..errors import ConfigError

    if port is not None:
        if not 1 <= port <= 65535:
            raise ConfigError(f"--port must be 1..65535, got {port}")
        if not _port_is_free(host, port):
            raise ConfigError(f"port {port} on {host} is in use; pass another --port")
        return port
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + PORT_RANGE):
        if _port_is_free(host, candidate):
            return candidate
    raise ConfigError(
        f"no free port from {DEFAULT_PORT} to {DEFAULT_PORT + PORT_RANGE - 1} on {host}; pass --port"
    )


def app_url(host: str, port: int, *, loopback: bool = False) -> str:
    """The address of the app listening on ``host``: ``localhost`` for a wildcard ``host``,
    or (``loopback``) the loopback address that reaches it; IPv6 addresses in brackets."""
    if host in _LOOPBACK:
        host = _LOOPBACK[host] if loopback else "localhost"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def streamlit_command(args: argparse.Namespace, port: int) -> list[str]:
    """The ``streamlit run`` command line for the packaged page.

    Headless always: Streamlit then never prompts (its first-run e-mail question is asked
    when ``~/.streamlit/credentials.toml`` is missing and it is not headless) and opens no
    browser (:func:`run` does). ``showEmailPrompt`` off says the same a second way.
    Streamlit's own banner is hidden: :func:`run` prints the address.
    """
    from ..app import PAGE

    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PAGE),
        "--server.port",
        str(port),
        "--server.address",
        args.host,
        "--server.headless",
        "true",
        "--server.showEmailPrompt",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--logger.hideWelcomeMessage",
        "true",
    ]
    page_options = []
    if args.model:
        page_options += ["--model", args.model]
    if args.weights:
        page_options += ["--weights", str(args.weights.resolve())]
    return command + (["--", *page_options] if page_options else [])


def _check(args: argparse.Namespace) -> None:
    from ..errors import ConfigError, InvalidInputError

    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError("the web app needs Streamlit: pip install 'masterpiece[app]'")
    if args.weights is not None and not args.model:
        raise ConfigError("--weights needs --model NAME (the architecture of the weights)")
    if args.weights is not None and not args.weights.is_file():
        raise InvalidInputError(f"--weights {args.weights}: no such file")
    if args.model:
        from ..models import get_model_info

        get_model_info(args.model)  # an unknown name fails here, with the known ones


def can_show_browser() -> bool:
    """Whether a browser window can be opened here: ``$BROWSER`` names one, or the system is
    not Linux or BSD, or it has a graphical session (the rule Streamlit applies)."""
    if os.environ.get("BROWSER"):
        return True
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until_served(url: str, process: subprocess.Popen, timeout_s: float) -> bool:
    """Poll Streamlit's health endpoint at ``url`` until it answers (``True``), or the
    server exits or ``timeout_s`` passes (``False``)."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        if _answers(url + HEALTH_PATH):
            return True
        time.sleep(POLL_INTERVAL_S)
    return False


def _open_browser(url: str, health_url: str, process: subprocess.Popen) -> None:
    """Open ``url`` in a browser once the server answers at ``health_url``; or say why not."""
    if not can_show_browser():
        print(f"no display to open a browser on: open {url} yourself", file=sys.stderr)
        return
    if not wait_until_served(health_url, process, START_TIMEOUT_S):
        if process.poll() is None:
            print(f"the app did not answer within {START_TIMEOUT_S} s", file=sys.stderr)
        return
    if not webbrowser.open(url):
        print(f"no browser found: open {url} yourself", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    _check(args)
    port = choose_port(args.host, args.port)
    url = app_url(args.host, port)
    print(f"Masterpiece app: {url} (Ctrl+C to stop)", flush=True)
    # stdin from /dev/null: the server can never wait on a question, terminal or not
    process = subprocess.Popen(streamlit_command(args, port), stdin=subprocess.DEVNULL)
    try:
        if not args.no_browser:
            _open_browser(url, app_url(args.host, port, loopback=True), process)
        return process.wait()
    except KeyboardInterrupt:
        # The terminal sent Ctrl+C to Streamlit too; give it time to stop cleanly.
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
