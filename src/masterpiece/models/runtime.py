"""How a network runs: numeric precision, and which backend runs it.

Precisions (``--precision``):

- ``fp32``: float32. The bundled model runs its shipped float32 ONNX file in ONNX Runtime
  (no PyTorch); other models (and a user's ``--weights``) run eager in PyTorch and reproduce
  the reference results exactly.
- ``bf16``: PyTorch ``bfloat16`` autocast for the network (decoding stays float32); about
  2x faster on CPUs with native bfloat16 (AVX-512 BF16, AMX), slower elsewhere. Needs PyTorch.
- ``int8``: the network statically quantized (:mod:`masterpiece.models.export`), run by ONNX
  Runtime; the fastest on CPUs with VNNI. The bundled model's int8 file ships with the package
  (nothing is exported or calibrated on the user's machine); another model is exported once
  into the weights cache on first use (needs PyTorch and onnx).
- ``auto`` (the default): for the bundled model, int8 on CPUs with VNNI, else its float32 ONNX
  file. For other models, the fastest variant whose accuracy was verified on the bundled
  model's real weights (``make bench``: int8 0.97 ab from fp32 on average over 20 validation
  photographs, 1.01 over all 90 with 9 of them above 1.5; bf16 0.48; the target is < 1.5):
  ``int8`` on CPUs with VNNI when onnx and onnxruntime are installed, else ``bf16`` where the
  CPU computes it natively, else ``fp32``. On a GPU: ``bf16`` where supported.

``$MASTERPIECE_PRECISION`` sets the default for a whole environment (``fp32`` to reproduce
published results exactly everywhere). :func:`load_network` picks the backend
(:class:`~masterpiece.models.onnx_backend.OnnxBackend`, or
:class:`~masterpiece.models.torch_backend.TorchBackend`); this module imports no torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._optional import require_torch, torch_available
from ..errors import ConfigError
from .onnx_backend import NetworkBackend, OnnxBackend

if TYPE_CHECKING:
    import torch

    from ._base import ColorizationModel
    from .torch_backend import OnnxColorizer, autocast_for, int8_model, state_fingerprint  # noqa: F401

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: the precision a Colorizer and ``--precision`` use unless told otherwise (or ``$MASTERPIECE_PRECISION``)
DEFAULT_PRECISION = "auto"
PRECISION_ENV = "MASTERPIECE_PRECISION"
#: names kept importable from here; they live in :mod:`.torch_backend` (imports torch)
_TORCH_NAMES = ("OnnxColorizer", "autocast_for", "int8_model", "state_fingerprint")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(".torch_backend", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_precision() -> str:
    """``$MASTERPIECE_PRECISION`` if set, else :data:`DEFAULT_PRECISION`.

    Raises:
        ConfigError: the variable names no precision.
    """
    value = os.environ.get(PRECISION_ENV, "").strip().lower() or DEFAULT_PRECISION
    if value not in PRECISIONS:
        raise ConfigError(f"${PRECISION_ENV} must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_int8() -> bool:
    """Whether this CPU has the VNNI int8 dot products ONNX Runtime's int8 kernels are fast with
    (AVX-512 VNNI, AVX-VNNI or AMX; Linux ``/proc/cpuinfo``, else assumed absent)."""
    return bool(_cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def onnxruntime_available() -> bool:
    """Whether onnx and onnxruntime (what exporting to int8 needs) are installed."""
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX) in PyTorch (False
    without PyTorch); emulation is slower than fp32."""
    if not torch_available():
        return False
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def device_type(device: str | torch.device) -> str:
    """``"cpu"``, ``"cuda"``... of a device given as a string (``"cuda:1"``) or a ``torch.device``."""
    return getattr(device, "type", None) or str(device).split(":", 1)[0].strip().lower()


def resolve_precision(precision: str, device: str | torch.device, *, shipped_onnx: bool = False) -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``int8``) that ``precision`` means on ``device``.

    Args:
        shipped_onnx: the model is a bundled one with ONNX files in the package: ``auto`` is
            then int8 on CPUs with VNNI, else its float32 file (neither needs PyTorch).

    Raises:
        ConfigError: an unknown precision, or ``int8`` on a GPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    kind = device_type(device)
    if precision == "int8" and kind != "cpu":
        raise ConfigError("precision int8 runs on the CPU (ONNX Runtime); use --device cpu or --precision bf16")
    if precision != "auto":
        return precision
    if kind == "cuda":
        import torch  # a CUDA device was accepted: torch is there

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if cpu_supports_int8() and (shipped_onnx or onnxruntime_available()):
        return "int8"
    if shipped_onnx:
        return "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def check_device(device: str | torch.device, *, here: bool = True) -> str:
    """``device`` (``cpu``, ``cuda``, ``cuda:N``) as a string, checked.

    ``cpu`` needs nothing; a GPU needs PyTorch and, when ``here``, a CUDA GPU of that index on
    this machine (``here=False`` checks the name only: a cluster's nodes may have GPUs).

    Raises:
        ConfigError: not a device name, or a GPU this machine does not have.
        MissingExtraError: a GPU without PyTorch installed.
    """
    if device_type(device) == "cpu" and str(device).strip().lower() in ("cpu", "cpu:0"):
        return "cpu"
    torch = require_torch(f"--device {device}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {device!r} is not a device; use cpu or cuda") from None
    if parsed.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not supported; use cpu or cuda")
    if here and parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} was requested but no CUDA GPU is available; use cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return str(parsed)


def ships_onnx(model: object, weights: str | Path | None, device: str | torch.device) -> bool:
    """Whether ``model`` (a name) is a bundled model run from its shipped ONNX files: no
    ``weights`` of the user's, on the CPU."""
    from ._registry import get_model_info

    if not isinstance(model, str) or weights is not None or device_type(device) != "cpu":
        return False
    spec = get_model_info(model).weights
    return spec is not None and spec.bundled


def shipped_onnx_file(name: str, precision: str, source_sha256: str | None) -> Path | None:
    """The bundled model's ONNX file for ``precision`` (verified), or None if none ships."""
    if precision not in ("fp32", "int8"):
        return None
    from .bundled_onnx import bundled_onnx_path

    return bundled_onnx_path(name, precision, source_sha256=source_sha256)


def load_network(
    model: str | ColorizationModel,
    *,
    precision: str,
    device: str | torch.device = "cpu",
    weights: str | Path | None = None,
    download: bool = True,
    size: int = 256,
) -> NetworkBackend:
    """The backend that runs ``model`` in ``precision`` (``auto`` allowed) on ``device``.

    A bundled model without ``weights`` on the CPU in fp32 or int8 runs its shipped ONNX file
    (no PyTorch, nothing exported). Everything else runs in PyTorch (int8: exported once into
    the weights cache).

    Raises:
        UnknownModelError: ``model`` names no registered model.
        MissingExtraError: the combination needs PyTorch and it is not installed.
        WeightsError: the weights (or a shipped ONNX file) are missing or corrupt.
    """
    from ._registry import get_model_info

    if isinstance(model, str):
        spec = get_model_info(model).weights  # unknown names fail before any loading
        shipped = ships_onnx(model, weights, device)
        resolved = resolve_precision(precision, device, shipped_onnx=shipped)
        path = shipped_onnx_file(model, resolved, spec.sha256) if shipped else None
        if path is not None:
            return OnnxBackend(path, threads=_ort_threads_from_env())
        require_torch(_torch_feature(model, resolved, weights, shipped))
    else:
        require_torch("a PyTorch model instance")
        resolved = resolve_precision(precision, device)
    return _torch_network(model, resolved, device, weights, download, size)


def _torch_feature(name: str, precision: str, weights: str | Path | None, shipped: bool) -> str:
    """What needs torch, for the one-line error."""
    if precision == "bf16":
        return "--precision bf16"
    if weights is not None:
        return f"loading --weights {weights}"
    if shipped:
        return f"the {name!r} model in {precision} (this installation ships no ONNX file for it)"
    return f"the {name!r} model (its published weights are a PyTorch checkpoint)"


def _torch_network(
    model: str | ColorizationModel, precision: str, device: str | torch.device, weights: str | Path | None,
    download: bool, size: int,
) -> NetworkBackend:
    from ._registry import create_model
    from ._weights import cache_dir
    from .torch_backend import TorchBackend, int8_model

    name = model if isinstance(model, str) else type(model).__name__
    network = create_model(model, weights=weights, download=download) if isinstance(model, str) else model
    if precision == "int8":
        network = int8_model(network, name, cache_dir() / "onnx", size=size, threads=_ort_threads_from_env())
    return TorchBackend(network, name, precision, device)


def _ort_threads_from_env() -> int | None:
    """``$MASTERPIECE_ORT_THREADS`` (ONNX Runtime's threads), or None for the default.

    Raises:
        ConfigError: the variable is not a positive whole number.
    """
    value = os.environ.get("MASTERPIECE_ORT_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"$MASTERPIECE_ORT_THREADS must be a positive whole number, got {value!r}")
    return int(value)
