"""Every setting read from the environment, and the defaults several modules share.

This is the one place where a ``MASTERPIECE_*`` variable is named, parsed and documented
(the README's table lists the same :data:`VARIABLES`). Each reader below looks at the
environment when it is called, not at import, so a variable set later (or by a test) counts.
A value that cannot be used raises :class:`~masterpiece.errors.ConfigError` naming the
variable, the value and what to write instead; an empty value is the same as an unset one.

============================  ==================================================================
variable                      reader
============================  ==================================================================
``MASTERPIECE_CACHE``         :func:`cache_directory` (the weights cache)
``MASTERPIECE_OFFLINE``       :func:`offline` (no downloads)
``MASTERPIECE_PRECISION``     :func:`precision` (the network's default precision)
``MASTERPIECE_MAX_PIXELS``    :func:`max_pixels` (the largest image read; 0 for no limit)
``MASTERPIECE_WORKERS``       :func:`workers` (files colorized at once by the CLI)
``MASTERPIECE_ORT_THREADS``   :func:`ort_threads` (ONNX Runtime's threads)
``MASTERPIECE_API_KEY``       :func:`api_key` (the HTTP service's key)
``MASTERPIECE_SERVE_*``       :func:`serve_values` (the HTTP service's limits and options)
============================  ==================================================================

This module imports only the standard library and :mod:`masterpiece.errors`: every layer
(and ``--help``) may import it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .errors import ConfigError

__all__ = [
    "API_KEY_ENV",
    "APP_MAX_PIXELS",
    "CACHE_ENV",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PRECISION",
    "DEFAULT_QUALITY",
    "DEFAULT_SIZE",
    "DEFAULT_TEMPERATURE",
    "MAX_PIXELS_ENV",
    "OFFLINE_ENV",
    "ORT_THREADS_ENV",
    "PRECISIONS",
    "PRECISION_ENV",
    "SERVE_DEFAULTS",
    "SERVE_PREFIX",
    "VARIABLES",
    "WORKERS_ENV",
    "Variable",
    "api_key",
    "cache_directory",
    "max_pixels",
    "offline",
    "ort_threads",
    "precision",
    "serve_values",
    "serve_variable",
    "workers",
]

# --------------------------------------------------------------------------- shared defaults

#: the paper's annealed-mean temperature: lower is more vivid, 1 the plain mean
DEFAULT_TEMPERATURE: Final = 0.38
#: the network precisions (``--precision``; see :mod:`masterpiece.models.runtime`)
PRECISIONS: Final = ("auto", "fp32", "bf16", "int8")
#: the precision used unless ``--precision``, ``precision=`` or ``$MASTERPIECE_PRECISION`` says otherwise
DEFAULT_PRECISION: Final = "auto"
#: side of the square ``L`` image the network sees (``--size``, ``size=``; a multiple of 16)
DEFAULT_SIZE: Final = 256
#: JPEG and WebP quality of the outputs (``--quality``, ``quality=``; 1 to 100)
DEFAULT_QUALITY: Final = 95
#: the largest image (width x height) read unless told otherwise (decompression bombs)
DEFAULT_MAX_PIXELS: Final = 200_000_000
#: the largest image the Streamlit app reads unless ``$MASTERPIECE_MAX_PIXELS`` says otherwise
APP_MAX_PIXELS: Final = 50_000_000
#: the HTTP service's defaults (:class:`masterpiece.service.ServiceSettings`), by field name
SERVE_DEFAULTS: Final = {
    "max_upload_bytes": 50 * 1024 * 1024,
    "max_pixels": 50_000_000,
    "max_concurrent": 2,
    "max_queue": 16,
    "queue_timeout_s": 5.0,
    "request_timeout_s": 60.0,
    "api_key": None,
    "model": None,
    "weights": None,
    "device": "cpu",
    "preload": False,
}

# --------------------------------------------------------------------------- variable names

CACHE_ENV: Final = "MASTERPIECE_CACHE"
OFFLINE_ENV: Final = "MASTERPIECE_OFFLINE"
PRECISION_ENV: Final = "MASTERPIECE_PRECISION"
MAX_PIXELS_ENV: Final = "MASTERPIECE_MAX_PIXELS"
WORKERS_ENV: Final = "MASTERPIECE_WORKERS"
ORT_THREADS_ENV: Final = "MASTERPIECE_ORT_THREADS"
API_KEY_ENV: Final = "MASTERPIECE_API_KEY"
#: ``MASTERPIECE_SERVE_<FIELD>`` sets the service's field ``<field>`` (``_s`` dropped), see :func:`serve_variable`
SERVE_PREFIX: Final = "MASTERPIECE_SERVE_"


@dataclass(frozen=True)
class Variable:
    """One environment variable, as the README's table shows it."""

    name: str
    meaning: str
    accepted: str
    default: str


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_YES_NO: Final = "1, true, yes or on; 0, false, no or off"

#: every variable Masterpiece reads, in the order of the README's table
VARIABLES: Final = (
    Variable(CACHE_ENV, "folder of downloaded weights and int8/ONNX exports", "a folder path",
             "the platform's user cache (`~/.cache/masterpiece` on Linux)"),
    Variable(OFFLINE_ENV, "forbid downloads (weights must be in the cache or given with `--weights`)",
             _YES_NO, "off"),
    Variable(PRECISION_ENV, "network precision when `--precision` / `precision=` is not given",
             ", ".join(PRECISIONS), DEFAULT_PRECISION),
    Variable(MAX_PIXELS_ENV, "largest image read (width x height), judged before decoding; "
             "`--max-pixels` / `max_pixels=` win", "a whole number of pixels; 0 for no limit",
             f"{DEFAULT_MAX_PIXELS:,} (the app: {APP_MAX_PIXELS:,})"),
    Variable(WORKERS_ENV, "files `colorize`, `restore` and `batch` (without `--ray`) process at once",
             "a whole number, 1 or more (1: a plain loop)",
             "2 for several files on a machine with several cores, else 1"),
    Variable(ORT_THREADS_ENV, "threads of each ONNX Runtime session", "a whole number, 1 or more",
             "ONNX Runtime's (the physical cores)"),
    Variable(API_KEY_ENV, "key the HTTP service requires (`X-API-Key` or `Authorization: Bearer`)",
             "any text", "none: no key required"),
    Variable(f"{SERVE_PREFIX}MAX_UPLOAD_BYTES", "service: largest request body", "a whole number of bytes, 1 or more",
             f"{SERVE_DEFAULTS['max_upload_bytes']} ({SERVE_DEFAULTS['max_upload_bytes'] // 2**20} MiB)"),
    Variable(f"{SERVE_PREFIX}MAX_PIXELS", "service: largest image (width x height)",
             "a whole number of pixels; 0 for no limit", f"{SERVE_DEFAULTS['max_pixels']:,}"),
    Variable(f"{SERVE_PREFIX}MAX_CONCURRENT", "service: colorizations at once", "a whole number, 1 or more",
             str(SERVE_DEFAULTS["max_concurrent"])),
    Variable(f"{SERVE_PREFIX}MAX_QUEUE", "service: requests that may wait for a slot", "a whole number, 0 or more",
             str(SERVE_DEFAULTS["max_queue"])),
    Variable(f"{SERVE_PREFIX}QUEUE_TIMEOUT", "service: seconds a request waits for a slot (then 503)",
             "a number of seconds above 0", f"{SERVE_DEFAULTS['queue_timeout_s']:g}"),
    Variable(f"{SERVE_PREFIX}REQUEST_TIMEOUT", "service: seconds one colorization may take (then 504)",
             "a number of seconds above 0", f"{SERVE_DEFAULTS['request_timeout_s']:g}"),
    Variable(f"{SERVE_PREFIX}MODEL", "service: model for requests that name none",
             "a model name (`masterpiece models list`)",
             "the best model whose weights are present"),
    Variable(f"{SERVE_PREFIX}WEIGHTS", "service: a weights file for the model (needs the model's name)",
             "a file path", "the registered weights"),
    Variable(f"{SERVE_PREFIX}DEVICE", "service: device the models run on", "cpu, cuda or cuda:N",
             str(SERVE_DEFAULTS["device"])),
    Variable(f"{SERVE_PREFIX}PRELOAD", "service: load the default model before accepting requests", _YES_NO, "off"),
)


# --------------------------------------------------------------------------- readers


def _raw(name: str, environ: Mapping[str, str] | None) -> str:
    """The variable's value, stripped; "" when unset."""
    return (os.environ if environ is None else environ).get(name, "").strip()


def _invalid(name: str, raw: str, what: str, example: str, default: str) -> ConfigError:
    return ConfigError(f"{name}={raw!r} is not {what}; set it to {example}, or unset it for the default ({default})")


def _whole_number(name: str, raw: str, minimum: int, what: str, example: str, default: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _invalid(name, raw, what, example, default)
    return value


def _yes_or_no(name: str, raw: str, default: bool) -> bool:
    if not raw:
        return default
    if raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise _invalid(name, raw, "a yes or no", "1 (yes) or 0 (no)", "yes" if default else "no")


def cache_directory(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$MASTERPIECE_CACHE`` (``~`` expanded), or None when unset: the caller then uses the
    user cache directory (:func:`masterpiece.models.cache_dir`)."""
    raw = _raw(CACHE_ENV, environ)
    return Path(raw).expanduser() if raw else None


def offline(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``$MASTERPIECE_OFFLINE`` forbids downloads (1, true, yes or on; unset: no).

    Raises:
        ConfigError: the value is neither a yes nor a no.
    """
    return _yes_or_no(OFFLINE_ENV, _raw(OFFLINE_ENV, environ), default=False)


def precision(environ: Mapping[str, str] | None = None) -> str:
    """``$MASTERPIECE_PRECISION`` (any case) if set, else :data:`DEFAULT_PRECISION`; one of :data:`PRECISIONS`.

    Raises:
        ConfigError: the variable names no precision.
    """
    raw = _raw(PRECISION_ENV, environ)
    value = raw.lower() or DEFAULT_PRECISION
    if value not in PRECISIONS:
        raise _invalid(PRECISION_ENV, raw, f"one of {', '.join(PRECISIONS)}", "one of them, e.g. fp32",
                       DEFAULT_PRECISION)
    return value


def max_pixels(default: int | None = DEFAULT_MAX_PIXELS, environ: Mapping[str, str] | None = None) -> int | None:
    """The pixel limit (width x height) ``$MASTERPIECE_MAX_PIXELS`` sets: a positive number, or
    None for no limit (the variable is 0); ``default`` when it is unset.

    Raises:
        ConfigError: the variable is not a whole number of pixels, 0 or more.
    """
    raw = _raw(MAX_PIXELS_ENV, environ)
    if not raw:
        return default
    shown = "no limit" if default is None else str(default)
    example = f"e.g. {DEFAULT_MAX_PIXELS} (0 for no limit)"
    return _whole_number(MAX_PIXELS_ENV, raw, 0, "a whole number of pixels", example, shown) or None


def workers(environ: Mapping[str, str] | None = None) -> int | None:
    """``$MASTERPIECE_WORKERS``: how many files the CLI processes at once, or None (unset) for
    its own choice.

    Raises:
        ConfigError: the variable is not a whole number, 1 or more.
    """
    raw = _raw(WORKERS_ENV, environ)
    if not raw:
        return None
    return _whole_number(WORKERS_ENV, raw, 1, "a whole number of files at once, 1 or more",
                         "e.g. 2 (1 for one file at a time)", "2 for several files on several cores")


def ort_threads(environ: Mapping[str, str] | None = None) -> int | None:
    """``$MASTERPIECE_ORT_THREADS``: the threads of each ONNX Runtime session, or None (unset)
    for ONNX Runtime's default.

    Raises:
        ConfigError: the variable is not a whole number, 1 or more.
    """
    raw = _raw(ORT_THREADS_ENV, environ)
    if not raw:
        return None
    return _whole_number(ORT_THREADS_ENV, raw, 1, "a positive whole number of threads", "e.g. 4",
                         "ONNX Runtime's")


def api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """``$MASTERPIECE_API_KEY`` (stripped), or None when unset or empty: no key is required."""
    return _raw(API_KEY_ENV, environ) or None


# --------------------------------------------------------------------------- the service's variables


def serve_variable(field: str) -> str:
    """The variable that sets the service's field ``field``: ``MASTERPIECE_SERVE_QUEUE_TIMEOUT``
    for ``queue_timeout_s``, ``MASTERPIECE_API_KEY`` for ``api_key``."""
    return API_KEY_ENV if field == "api_key" else SERVE_PREFIX + field.upper().removesuffix("_S")


def _serve_whole(minimum: int, what: str) -> Callable[[str, str, str], int]:
    def parse(name: str, raw: str, default: str) -> int:
        return _whole_number(name, raw, minimum, what, f"e.g. {default}", default)

    return parse


def _serve_seconds(name: str, raw: str, default: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise _invalid(name, raw, "a finite number of seconds above 0", f"e.g. {default}", default)
    return value


def _serve_pixels(name: str, raw: str, default: str) -> int | None:
    return _whole_number(name, raw, 0, "a whole number of pixels", f"e.g. {default} (0 for no limit)", default) or None


def _serve_flag(name: str, raw: str, default: str) -> bool:
    return _yes_or_no(name, raw, default=False)


_SERVE_PARSERS: Final[dict[str, Callable[[str, str, str], object]]] = {
    "max_upload_bytes": _serve_whole(1, "a whole number of bytes, 1 or more"),
    "max_pixels": _serve_pixels,
    "max_concurrent": _serve_whole(1, "a whole number, 1 or more"),
    "max_queue": _serve_whole(0, "a whole number, 0 or more"),
    "queue_timeout_s": _serve_seconds,
    "request_timeout_s": _serve_seconds,
    "api_key": lambda name, raw, default: raw,
    "model": lambda name, raw, default: raw,
    "weights": lambda name, raw, default: Path(raw),
    "device": lambda name, raw, default: raw,
    "preload": _serve_flag,
}


def serve_values(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The service's fields that ``MASTERPIECE_SERVE_*`` and ``MASTERPIECE_API_KEY`` set, parsed
    (``MAX_PIXELS=0`` is None: no limit); fields whose variable is unset or empty are left out.

    Raises:
        ConfigError: a variable's value cannot be used (named, with what to write instead).
    """
    values: dict[str, object] = {}
    for field, parse in _SERVE_PARSERS.items():
        name = serve_variable(field)
        raw = _raw(name, environ)
        if raw:
            default = SERVE_DEFAULTS[field]
            values[field] = parse(name, raw, f"{default:g}" if isinstance(default, float) else str(default))
    return values
