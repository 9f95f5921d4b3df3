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
- ``auto`` (the default): on the CPU, chosen by measurement (:func:`auto_network`,
  :mod:`masterpiece.models.backend_choice`): the candidates (the bundled model's shipped fp32
  and int8 ONNX files; for other models fp32 and int8 ONNX exports of the weights file and
  bf16 where the CPU computes it natively) are timed once on this machine and the fastest
  whose output stays within 1.5 ab of float32 is cached next to the weights, keyed by the CPU,
  its flags, the library versions, the weights' sha256 and the size. On a GPU: ``bf16`` where
  supported, else ``fp32``. :func:`resolve_precision` is the rule used where nothing can be
  measured (a batch settled for a whole cluster): int8 on CPUs with VNNI, else bf16 where
  native, else fp32.

``$MASTERPIECE_PRECISION`` sets the default for a whole environment (``fp32`` to reproduce
published results exactly everywhere; :func:`masterpiece.settings.precision`), and
``$MASTERPIECE_ORT_THREADS`` the threads of ONNX Runtime (:func:`masterpiece.settings.ort_threads`).
:func:`load_network` picks the backend
(:class:`~masterpiece.models.onnx_backend.OnnxBackend`, or
:class:`~masterpiece.models.torch_backend.TorchBackend`); this module imports no torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .._optional import require_torch, torch_available
from ..errors import ConfigError, ModelError, WeightsError, WeightsNotFoundError
from ..settings import DEFAULT_SIZE, PRECISIONS, ort_threads
from .onnx_backend import NetworkBackend, OnnxBackend, default_threads

if TYPE_CHECKING:
    import torch

    from ._base import ColorizationModel
    from .torch_backend import OnnxColorizer, autocast_for, int8_model, state_fingerprint  # noqa: F401

logger = logging.getLogger(__name__)

#: names kept importable from here; they live in :mod:`.torch_backend` (imports torch)
_TORCH_NAMES = ("OnnxColorizer", "autocast_for", "int8_model", "state_fingerprint")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(".torch_backend", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    size: int = DEFAULT_SIZE,
) -> NetworkBackend:
    """The backend that runs ``model`` in ``precision`` (``auto`` allowed) on ``device``.

    A bundled model without ``weights`` on the CPU in fp32 or int8 runs its shipped ONNX file
    (no PyTorch, nothing exported). ``auto`` on the CPU is measured (:func:`auto_network`).
    int8 of another model runs its export in the weights cache, made once from the weights
    file (then loaded without PyTorch); fp32 and bf16 run in PyTorch.

    Raises:
        UnknownModelError: ``model`` names no registered model.
        MissingExtraError: the combination needs PyTorch and it is not installed.
        WeightsError: the weights (or a shipped ONNX file) are missing or corrupt.
    """
    from ._registry import get_model_info

    if precision == "auto" and device_type(device) == "cpu":
        return auto_network(model, weights=weights, download=download, size=size)
    if isinstance(model, str):
        spec = get_model_info(model).weights  # unknown names fail before any loading
        shipped = ships_onnx(model, weights, device)
        resolved = resolve_precision(precision, device, shipped_onnx=shipped)
        path = shipped_onnx_file(model, resolved, spec.sha256) if shipped else None
        if path is not None:
            return OnnxBackend(path, threads=ort_threads())
        if resolved == "int8":
            _require_torch_or_export(model, resolved, weights, shipped)
            source = _WeightsSource(model, weights, download)
            return source.exported("int8", size)
        require_torch(_torch_feature(model, resolved, weights, shipped))
    else:
        require_torch("a PyTorch model instance")
        resolved = resolve_precision(precision, device)
    return _torch_network(model, resolved, device, weights, download, size)


def auto_network(
    model: str | ColorizationModel, *, weights: str | Path | None = None, download: bool = True, size: int = DEFAULT_SIZE,
    timer: Callable[[], float] | None = None,
) -> NetworkBackend:
    """``--precision auto`` on the CPU: the fastest accurate backend, measured once per machine.

    The candidates (:mod:`masterpiece.models.backend_choice` times them and caches the choice
    next to the weights): a bundled model's shipped fp32 and int8 ONNX files (PyTorch is not
    imported: its 1.0-1.3 s import would cost more than bf16 could save on a 10-25 ms network);
    for other models fp32 and int8 ONNX exports made once from the weights file, and bf16
    autocast where PyTorch computes it natively, checked against eager float32 PyTorch.
    Once the choice and its export are cached, an ONNX choice loads without PyTorch.

    Raises:
        UnknownModelError, MissingExtraError, WeightsError: as :func:`load_network`.
    """
    from ._weights import cache_dir
    from .backend_choice import choice_file, choice_key, choose_backend
    from .catalogue import builtin_decoding_tag

    threads = ort_threads() or default_threads()
    options = {} if timer is None else {"timer": timer}
    if not isinstance(model, str):
        require_torch("a PyTorch model instance")
        from .torch_backend import state_fingerprint

        name, fingerprint = type(model).__name__, state_fingerprint(model)
        candidates = _instance_candidates(model, name, size, threads)
        key = choice_key(name, fingerprint, size, threads)
        return choose_backend(candidates, key=key, cache_file=choice_file(cache_dir(), name, fingerprint), **options).backend
    from ._registry import get_model_info
    from .bundled_onnx import read_manifest

    spec = get_model_info(model).weights
    if ships_onnx(model, weights, "cpu") and "fp32" in read_manifest().get(model, {}):
        candidates = {precision: _shipped_builder(model, precision, spec.sha256, threads)
                      for precision in read_manifest()[model]}
        key = choice_key(model, spec.sha256, size, threads, decoding=builtin_decoding_tag(model))
        return choose_backend(candidates, key=key, cache_file=choice_file(cache_dir(), model, spec.sha256), **options).backend
    _require_torch_or_export(model, "auto", weights, False)
    source = _WeightsSource(model, weights, download, threads)
    key = choice_key(model, source.sha256, size, threads, decoding=builtin_decoding_tag(model))
    return choose_backend(
        {"fp32": lambda: source.exported("fp32", size, eager_fallback=True), "int8": lambda: source.exported("int8", size),
         "bf16": source.bf16},
        key=key, cache_file=choice_file(cache_dir(), model, source.sha256), reference_backend=source.eager, **options,
    ).backend


def _require_torch_or_export(name: str, precision: str, weights: str | Path | None, shipped: bool) -> None:
    """Without PyTorch, only a model already exported into the cache from these very weights
    can run: otherwise say that PyTorch is needed (before looking for weights to download; an
    export of other weights of the same model does not count)."""
    if torch_available():
        return
    from ._registry import get_model_info
    from ._weights import normalized_sha256
    from .bundled_onnx import file_sha256

    spec = get_model_info(name).weights
    if weights is not None:
        sha256 = file_sha256(Path(weights)) if Path(weights).is_file() else None
    else:
        sha256 = None if spec is None else normalized_sha256(spec.sha256)
    precisions = ("fp32", "int8") if precision == "auto" else (precision,)
    if sha256 is None or not any(exported_onnx_path(name, sha256, each).is_file() for each in precisions):
        require_torch(_torch_feature(name, precision, weights, shipped))


def _shipped_builder(model: str, precision: str, sha256: str, threads: int) -> Callable[[], NetworkBackend]:
    def build() -> NetworkBackend:
        return OnnxBackend(shipped_onnx_file(model, precision, sha256), threads=threads)

    return build


def _instance_candidates(
    model: ColorizationModel, name: str, size: int, threads: int
) -> dict[str, Callable[[], NetworkBackend]]:
    """fp32 eager (the reference), bf16 where native, int8 exported by state fingerprint."""
    from ._weights import cache_dir
    from .torch_backend import TorchBackend, int8_model

    def bf16() -> NetworkBackend:
        _require_native_bf16()
        return TorchBackend(model, name, "bf16")

    return {"fp32": lambda: TorchBackend(model, name, "fp32"), "bf16": bf16,
            "int8": lambda: TorchBackend(int8_model(model, name, cache_dir() / "onnx", size=size, threads=threads),
                                         name, "int8")}


def _require_native_bf16() -> None:
    if not cpu_supports_bf16():
        raise ConfigError("this CPU (or this installation) has no native bfloat16: bf16 would be emulated, slower than fp32")


def exported_onnx_path(name: str, source_sha256: str, precision: str) -> Path:
    """Where the ONNX export of ``name``'s weights file (by its sha256) is cached:
    ``<weights cache>/onnx/<name>-<16 hex of the sha256><decoding>-<precision>.onnx``, where
    ``<decoding>`` is the built-in model's :func:`~masterpiece.models.catalogue.decoding_tag`."""
    from ._weights import cache_dir
    from .catalogue import builtin_decoding_tag

    return cache_dir() / "onnx" / f"{name}-{source_sha256.lower()[:16]}{builtin_decoding_tag(name)}-{precision}.onnx"


class _WeightsSource:
    """A registered model's weights file (the registered one, verified, or ``weights``), its
    sha256, and the backends made from it; the PyTorch model is built at most once, when needed."""

    def __init__(self, name: str, weights: str | Path | None, download: bool, threads: int | None = None) -> None:
        from ._registry import get_model_info
        from ._weights import ensure_weights, normalized_sha256
        from .bundled_onnx import file_sha256

        self.name, self.download, self.threads = name, download, threads or ort_threads()
        if weights is None:
            info = get_model_info(name)
            self.path = ensure_weights(info, download)  # verified against the registered sha256
            self.sha256 = normalized_sha256(info.weights.sha256)
        else:
            self.path = Path(weights)
            if not self.path.is_file():
                raise WeightsNotFoundError(f"weights file {self.path} does not exist; check the path given to --weights")
            self.sha256 = file_sha256(self.path)
        self._model: ColorizationModel | None = None

    def model(self) -> ColorizationModel:
        if self._model is None:
            from .factory import create_model

            require_torch(f"loading the {self.name!r} weights {self.path} (a PyTorch checkpoint) the first time")
            self._model = create_model(self.name, weights=self.path, download=self.download)
        return self._model

    def eager(self) -> NetworkBackend:
        from .torch_backend import TorchBackend

        return TorchBackend(self.model(), self.name, "fp32")

    def bf16(self) -> NetworkBackend:
        from .torch_backend import TorchBackend

        require_torch("--precision bf16")
        _require_native_bf16()
        return TorchBackend(self.model(), self.name, "bf16")

    def exported(self, precision: str, size: int, *, eager_fallback: bool = False) -> NetworkBackend:
        """The cached ONNX export in ``precision`` (made now, once, if absent or unusable).

        Raises:
            ConfigError: onnx, onnxruntime or PyTorch (needed to export) are not installed.
            ModelError: the export failed.
        """
        path = exported_onnx_path(self.name, self.sha256, precision)
        if path.is_file():
            try:
                backend = OnnxBackend(path, threads=self.threads)
                if backend.source_sha256 == self.sha256 and backend.precision == precision:
                    return backend
                logger.warning("%s was not exported from %s; exporting it again", path, self.path)
            except WeightsError as error:  # truncated or corrupt: made again below
                logger.warning("the cached export %s is unusable (%s); exporting it again", path, error)
        try:
            from .export import require_onnx

            require_torch(f"exporting {self.name!r} to {precision} ONNX (once)")
            require_onnx()
            from .torch_backend import export_cached

            export_cached(self.model(), self.name, path, precision, size, self.sha256)
        except (ConfigError, ModelError) as error:
            if not eager_fallback:
                raise
            logger.info("running %s in eager PyTorch (%s)", self.name, error)
            return self.eager()
        return OnnxBackend(path, threads=self.threads)


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
    from ._weights import cache_dir
    from .factory import create_model
    from .torch_backend import TorchBackend, int8_model

    name = model if isinstance(model, str) else type(model).__name__
    network = create_model(model, weights=weights, download=download) if isinstance(model, str) else model
    if precision == "int8":
        network = int8_model(network, name, cache_dir() / "onnx", size=size, threads=ort_threads())
    return TorchBackend(network, name, precision, device)
