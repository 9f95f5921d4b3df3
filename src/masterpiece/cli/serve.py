"""``masterpiece serve [--host H] [--port N] [--max-concurrent N] ...``: the HTTP service.

Runs :mod:`masterpiece.service` with uvicorn. Every limit defaults to its environment variable
(``MASTERPIECE_SERVE_*``), else to the service's default; the options here take precedence.
The API key is only read from ``MASTERPIECE_API_KEY`` (a command line is visible to every user
of the machine). The variables and the defaults are :mod:`masterpiece.settings`'s. Ctrl+C stops it.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from ..settings import API_KEY_ENV, SERVE_DEFAULTS, SERVE_PREFIX
from .main import EXIT_OK

DEFAULT_PORT = 8000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP service: POST /v1/colorize, GET /v1/models, /docs",
        description="Serve colorization over HTTP (FastAPI and uvicorn; the API is documented "
        "at /docs). Needs the serve extra: pip install 'masterpiece[serve]'. Limits default to "
        f"{SERVE_PREFIX}* variables; the API key is read from {API_KEY_ENV}.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--model", help="model for requests that name none (default: the best present)"
    )
    parser.add_argument("--weights", type=Path, help="a weights file for --model")
    parser.add_argument("--device", help=f"cpu or cuda (default: {SERVE_DEFAULTS['device']})")
    parser.add_argument(
        "--max-concurrent", type=int, metavar="N",
        help=f"colorizations at once (default: {SERVE_DEFAULTS['max_concurrent']})",
    )
    parser.add_argument(
        "--max-queue", type=int, metavar="N", help=f"requests that may wait (default: {SERVE_DEFAULTS['max_queue']})"
    )
    parser.add_argument(
        "--queue-timeout",
        type=float,
        metavar="S",
        help=f"seconds a request waits for a slot before 503 (default: {SERVE_DEFAULTS['queue_timeout_s']:g})",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        metavar="S",
        help=f"seconds one colorization may take before 504 (default: {SERVE_DEFAULTS['request_timeout_s']:g})",
    )
    parser.add_argument(
        "--max-upload-bytes",
        type=int,
        metavar="N",
        help=f"largest upload in bytes (default: {SERVE_DEFAULTS['max_upload_bytes']}, "
        f"{SERVE_DEFAULTS['max_upload_bytes'] // 2**20} MiB)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help=f"largest image, width x height; 0 for no limit (default: {SERVE_DEFAULTS['max_pixels']})",
    )
    parser.add_argument(
        "--preload", action="store_true", help="load the default model before accepting requests"
    )
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    """The service settings: the options given, else the environment, else the defaults;
    checked against this machine (:meth:`ServiceSettings.check`).

    Raises:
        ConfigError: a value is out of range, the weights file, the device or
            ``$MASTERPIECE_PRECISION`` is unusable (or the serve extra is missing).
        UnknownModelError: the model is not registered.
    """
    from ..errors import ConfigError

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise ConfigError("the service needs FastAPI and uvicorn: pip install 'masterpiece[serve]'")
    from ..service import ServiceSettings

    settings = ServiceSettings.from_env(
        model=args.model,
        weights=args.weights,
        device=args.device,
        max_concurrent=args.max_concurrent,
        max_queue=args.max_queue,
        queue_timeout_s=args.queue_timeout,
        request_timeout_s=args.request_timeout,
        max_upload_bytes=args.max_upload_bytes,
        max_pixels=args.max_pixels,
        preload=args.preload or None,
    )
    settings.check()
    return settings


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be 1..65535, got {args.port}")
    settings = settings_from_args(args)
    import uvicorn

    from ..service import create_app

    app = create_app(settings)
    if settings.preload:  # here, so that a model that cannot load is one line and an exit code
        app.state.colorizers.get(None)
    shown_host = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"Masterpiece service: http://{shown_host}:{args.port}/docs (Ctrl+C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return EXIT_OK
