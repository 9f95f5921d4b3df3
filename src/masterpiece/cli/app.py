"""``masterpiece app [--port N] [--host H] [--no-browser] [--model NAME --weights FILE]``.

Starts the web app (:mod:`masterpiece.app`) with ``streamlit run`` on the packaged page, in a
child process, and prints its address. The page's Streamlit settings (upload limit and the
rest) are in ``masterpiece/app/.streamlit/config.toml``, which Streamlit reads for that page;
the options here are passed as flags, which take precedence. Ctrl+C stops it.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

DEFAULT_PORT = 8501
#: ports tried after DEFAULT_PORT when --port is not given
PORT_RANGE = 100
#: seconds Streamlit is given to shut down after Ctrl+C
STOP_TIMEOUT_S = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="open the web app: colorize in the browser, with colour hints",
        description="Start the Masterpiece web app (Streamlit) on a local port and print its "
        "address. Needs the app extra: pip install 'masterpiece[app]'.",
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


def streamlit_command(args: argparse.Namespace, port: int) -> list[str]:
    """The ``streamlit run`` command line for the packaged page."""
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
        "true" if args.no_browser else "false",
        "--browser.gatherUsageStats",
        "false",
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


def run(args: argparse.Namespace) -> int:
    _check(args)
    port = choose_port(args.host, args.port)
    shown_host = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"Masterpiece app: http://{shown_host}:{port} (Ctrl+C to stop)", flush=True)
    process = subprocess.Popen(streamlit_command(args, port))
    try:
        return process.wait()
    except KeyboardInterrupt:
        # The terminal sent Ctrl+C to Streamlit too; give it time to stop cleanly.
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
