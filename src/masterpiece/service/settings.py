"""The service's limits and options, from environment variables or the command line.

Every limit has a default that keeps one small server responsive; each can be set with an
environment variable (``MASTERPIECE_SERVE_*``) or the matching ``masterpiece serve`` option.
The variables' names, the defaults and the parsing of the values are
:mod:`masterpiece.settings`'s; this is the service's typed view of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError
from ..settings import API_KEY_ENV, SERVE_DEFAULTS, serve_values  # noqa: F401  (API_KEY_ENV: importable from here)
from ..settings import precision as precision_from_env
from ..settings import serve_variable as environment_variable  # noqa: F401  (importable from here)


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

    max_upload_bytes: int = SERVE_DEFAULTS["max_upload_bytes"]
    max_pixels: int | None = SERVE_DEFAULTS["max_pixels"]
    max_concurrent: int = SERVE_DEFAULTS["max_concurrent"]
    max_queue: int = SERVE_DEFAULTS["max_queue"]
    queue_timeout_s: float = SERVE_DEFAULTS["queue_timeout_s"]
    request_timeout_s: float = SERVE_DEFAULTS["request_timeout_s"]
    api_key: str | None = SERVE_DEFAULTS["api_key"]
    model: str | None = SERVE_DEFAULTS["model"]
    weights: Path | None = SERVE_DEFAULTS["weights"]
    device: str = SERVE_DEFAULTS["device"]
    preload: bool = SERVE_DEFAULTS["preload"]

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
        if self.api_key and not (self.api_key.isascii() and self.api_key.isprintable() and self.api_key.strip() == self.api_key):
            # HTTP headers carry ASCII: a key with other characters could never be sent right
            raise ConfigError("the API key must be printable ASCII without spaces at its ends (HTTP headers "
                              "carry nothing else); generate one with: python -c \"import secrets; "
                              "print(secrets.token_urlsafe(32))\"")
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
        """Settings from ``MASTERPIECE_SERVE_<FIELD>`` variables and ``MASTERPIECE_API_KEY``
        (:func:`masterpiece.settings.serve_values`; ``environ``: ``os.environ`` by default).

        ``overrides`` (those not None) take precedence, as command-line options do. For
        ``max_pixels``, 0 means no limit (in a variable and in an override).

        Raises:
            ConfigError: a variable's value cannot be used or a value is out of range.
        """
        values = serve_values(environ)
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
        from ..models.runtime import resolve_precision, ships_onnx

        if self.model:
            get_model_info(self.model)  # an unknown name fails here, with the known ones
        if self.weights is not None and not Path(self.weights).is_file():
            raise ConfigError(f"weights {self.weights}: no such file")
        device = check_device(self.device)
        model = self.model or default_model_name()
        shipped = ships_onnx(model, self.weights, device)
        if resolve_precision(precision_from_env(), device, shipped_onnx=shipped) == "bf16" or not shipped:
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


def check_device(device: str) -> str:
    """``device`` if this machine has it (``cpu``, ``cuda[:N]``; a GPU needs PyTorch).

    Raises:
        ConfigError: not a device name, or a GPU this machine does not have.
    """
    from ..models.runtime import check_device as check

    return check(device)
