"""The service's limits and options, from environment variables or the command line.

Every limit has a default that keeps one small server responsive; each can be set with an
environment variable (``MASTERPIECE_SERVE_*``) or the matching ``masterpiece serve`` option.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import ConfigError

#: the environment variable holding the API key; unset or empty: no key is required
API_KEY_ENV = "MASTERPIECE_API_KEY"
_PREFIX = "MASTERPIECE_SERVE_"


@dataclass(frozen=True)
class ServiceSettings:
    """Limits and options of the HTTP service.

    Attributes:
        max_upload_bytes: the largest request body accepted (the upload plus its form fields);
            larger ones get 413 before they are read to the end.
        max_pixels: the largest image (width x height), judged from its header before decoding
            (decompression bombs); None for no limit. Larger images get 413.
        max_concurrent: colorizations running at once (each on its own thread).
        max_queue: requests allowed to wait for a free slot; more get 503 at once (before
            their upload is read when the queue is already full as they arrive).
        queue_timeout_s: how long a request waits for a slot before it gets 503 with
            ``Retry-After``.
        request_timeout_s: the longest one colorization (decoding, network, encoding) may take;
            beyond it the request gets 504.
        api_key: when set, ``/v1/*`` needs it in ``X-API-Key`` or ``Authorization: Bearer``.
        model: the model used when a request names none (None: the best available one).
        weights: a weights file for ``model`` instead of its registered weights.
        device: ``cpu`` or ``cuda``.
        preload: load the default model at start-up rather than on the first request.

    Memory: a request's upload is read into memory only once it holds a colorization slot,
    so at most ``max_concurrent`` uploads (each up to ``max_upload_bytes``) and their decoded
    images are in memory at once. Requests waiting in the queue (at most ``max_queue``) keep
    their upload in a temporary file (the first MiB in memory), so the queue holds at most
    ``max_queue x max_upload_bytes`` of temporary files. Uploads still arriving are bounded
    only by the server's connection limit (uvicorn's ``--limit-concurrency``).
    """

    max_upload_bytes: int = 50 * 1024 * 1024
    max_pixels: int | None = 50_000_000
    max_concurrent: int = 2
    max_queue: int = 16
    queue_timeout_s: float = 5.0
    request_timeout_s: float = 60.0
    api_key: str | None = None
    model: str | None = None
    weights: Path | None = None
    device: str = "cpu"
    preload: bool = False

    def __post_init__(self) -> None:
        positive = {
            "max_upload_bytes": self.max_upload_bytes,
            "max_concurrent": self.max_concurrent,
            "queue_timeout_s": self.queue_timeout_s,
            "request_timeout_s": self.request_timeout_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value}")
        if self.max_queue < 0:
            raise ConfigError(f"max_queue must be 0 or more, got {self.max_queue}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be positive or None, got {self.max_pixels}")
        if self.weights is not None and not self.model:
            raise ConfigError("weights need a model: the architecture of the weights file")

    @property
    def retry_after_s(self) -> int:
        """The ``Retry-After`` sent with 503: the queue wait, rounded up to whole seconds."""
        return max(1, int(-(-self.queue_timeout_s // 1)))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ServiceSettings:
        """Settings from ``MASTERPIECE_SERVE_<FIELD>`` variables and ``MASTERPIECE_API_KEY``.

        ``overrides`` (those not None) take precedence, as command-line options do. For
        ``MAX_PIXELS``, 0 means no limit.

        Raises:
            ConfigError: a variable is not a number or a value is out of range.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = environ.get(environment_variable(field.name), "").strip()
            if raw:
                values[field.name] = _parse(field.name, raw)
        values.update({key: value for key, value in overrides.items() if value is not None})
        if values.get("max_pixels") == 0:
            values["max_pixels"] = None
        return replace(cls(), **values)

    def check(self) -> None:
        """Check what the server needs to run with these settings, before it serves anything:
        the model name is registered, the weights file exists, the device exists on this
        machine and the precision (``$MASTERPIECE_PRECISION``) is valid there.

        Raises:
            UnknownModelError: ``model`` is not a registered model.
            ConfigError: anything else above.
        """
        from .._optional import require_torch
        from ..models import default_model_name, get_model_info
        from ..models.runtime import default_precision, resolve_precision, ships_onnx

        if self.model:
            get_model_info(self.model)  # an unknown name fails here, with the known ones
        if self.weights is not None and not Path(self.weights).is_file():
            raise ConfigError(f"weights {self.weights}: no such file")
        device = check_device(self.device)
        model = self.model or default_model_name()
        shipped = ships_onnx(model, self.weights, device)
        if resolve_precision(default_precision(), device, shipped_onnx=shipped) == "bf16" or not shipped:
            require_torch(f"serving {model!r} with these settings")

    def limits(self) -> dict[str, object]:
        """The limits as shown in ``/healthz`` and the API description."""
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "max_concurrent": self.max_concurrent,
            "max_queue": self.max_queue,
            "queue_timeout_s": self.queue_timeout_s,
            "request_timeout_s": self.request_timeout_s,
            "api_key_required": bool(self.api_key),
        }


_INTEGERS = {"max_upload_bytes", "max_pixels", "max_concurrent", "max_queue"}
_FLOATS = {"queue_timeout_s", "request_timeout_s"}


def check_device(device: str) -> str:
    """``device`` if this machine has it (``cpu``, ``cuda[:N]``; a GPU needs PyTorch).

    Raises:
        ConfigError: not a device name, or a GPU this machine does not have.
    """
    from ..models.runtime import check_device as check

    return check(device)


def environment_variable(name: str) -> str:
    """The variable that sets the field ``name``: ``MASTERPIECE_SERVE_QUEUE_TIMEOUT`` for
    ``queue_timeout_s``, ``MASTERPIECE_API_KEY`` for ``api_key``."""
    return API_KEY_ENV if name == "api_key" else _PREFIX + name.upper().removesuffix("_S")


def _parse(name: str, raw: str) -> object:
    try:
        if name in _INTEGERS:
            return int(raw)
        if name in _FLOATS:
            return float(raw)
    except ValueError:
        raise ConfigError(f"{environment_variable(name)}={raw!r} is not a number") from None
    if name == "preload":
        return raw.lower() in ("1", "true", "yes", "on")
    if name == "weights":
        return Path(raw)
    return raw
