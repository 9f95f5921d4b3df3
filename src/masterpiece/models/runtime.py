"""How a network runs: numeric precision, and models executed by ONNX Runtime.

Precisions (``--precision``):

- ``fp32``: float32 eager PyTorch; reproduces the reference results exactly.
- ``bf16``: PyTorch ``bfloat16`` autocast for the network (decoding stays float32); about
  2x faster on CPUs with native bfloat16 (AVX-512 BF16, AMX), slower elsewhere.
- ``int8``: the network exported to ONNX and statically quantized
  (:mod:`masterpiece.models.export`), run by ONNX Runtime; the fastest on CPUs with VNNI.
- ``auto`` (the default): the fastest variant whose accuracy was verified on the bundled
  model's real weights (``make bench``: int8 0.97 ab from fp32 on average over 20 validation
  photographs, 1.01 over all 90 with 9 of them above 1.5; bf16 0.48; the
  target is < 1.5): ``int8`` on CPUs with VNNI when onnxruntime is installed (the first use
  of a model exports it, seconds to a minute, then it is cached), else ``bf16`` where the CPU
  computes it natively, else ``fp32``. On a GPU: ``bf16`` where supported.

``$MASTERPIECE_PRECISION`` sets the default for a whole environment (``fp32`` to reproduce
published results exactly everywhere).

:class:`OnnxColorizer` is a :class:`~masterpiece.models.ColorizationModel` backed by an
exported file, so a :class:`~masterpiece.pipeline.image.Colorizer` runs on it unchanged.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, WeightsError
from ._base import ColorizationModel, ColorPrediction, hints_or_zeros

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: the precision a Colorizer and ``--precision`` use unless told otherwise (or ``$MASTERPIECE_PRECISION``)
DEFAULT_PRECISION = "auto"
PRECISION_ENV = "MASTERPIECE_PRECISION"


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
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); emulation is slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``int8``) that ``precision`` means on ``device``.

    Raises:
        ConfigError: an unknown precision, or ``int8`` on a GPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8" and device.type != "cpu":
        raise ConfigError("precision int8 runs on the CPU (ONNX Runtime); use --device cpu or --precision bf16")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_supports_int8() and onnxruntime_available():
        return "int8"
    return "bf16" if cpu_supports_bf16() else "fp32"


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """The autocast context for a resolved ``precision`` (a no-op for fp32 and int8)."""
    if precision != "bf16":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class OnnxColorizer(ColorizationModel):
    """A model exported by :func:`~masterpiece.models.export.export_onnx`, run by ONNX Runtime.

    ``predict`` and ``decode`` keep the contract of the PyTorch models (``L`` in [0, 100] in,
    :class:`ColorPrediction` out); it always runs on the CPU and has no trainable parameters.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime intra-op threads (default: ``torch.get_num_threads()``).

    Raises:
        WeightsError: the file is not a Masterpiece ONNX export or cannot be loaded.
        ConfigError: onnxruntime is not installed.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        super().__init__()
        from .export import METADATA_PREFIX, require_onnx

        require_onnx()

        self.path = Path(path)
        if not self.path.is_file():
            raise WeightsError(f"ONNX file {self.path} not found; export one with `masterpiece models export`")
        self.threads = 0
        self.set_threads(threads or torch.get_num_threads())
        meta = self.session.get_modelmeta().custom_metadata_map
        if f"{METADATA_PREFIX}model" not in meta:
            raise WeightsError(f"{self.path} is not a Masterpiece export (no {METADATA_PREFIX}* metadata); "
                               "export it with `masterpiece models export`")
        self.model_name = meta[f"{METADATA_PREFIX}model"]
        self.precision = meta.get(f"{METADATA_PREFIX}precision", "fp32")
        self.accepts_hints = bool(json.loads(meta.get(f"{METADATA_PREFIX}accepts_hints", "false")))
        self.decoder = meta.get(f"{METADATA_PREFIX}decoder", "classification")
        centers = json.loads(meta.get(f"{METADATA_PREFIX}bin_centers", "null"))
        self.register_buffer("ab_bin_centers", None if centers is None else torch.tensor(centers, dtype=torch.float32))
        self._inputs = [node.name for node in self.session.get_inputs()]
        self._outputs = [node.name for node in self.session.get_outputs()]

    def set_threads(self, threads: int) -> None:
        """Run with ``threads`` intra-op threads (the session is rebuilt when the number changes).

        A batch that colorizes several images at once gives each its share of the cores.
        """
        import onnxruntime as ort

        threads = max(1, int(threads))
        if threads == self.threads:
            return
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: the idle threads would take the cores from the
        # full-resolution colour work (and from other images in a folder) that follows each run
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors; translated once here
            raise WeightsError(f"{self.path} cannot be loaded by ONNX Runtime ({error}); re-export it") from error
        self.threads = threads

    @property
    def bin_centers(self) -> torch.Tensor | None:
        return self.ab_bin_centers

    def predict(
        self,
        lightness: torch.Tensor,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
    ) -> ColorPrediction:
        """``(B, 1, H, W)`` L in [0, 100] (+ hints) -> the exported outputs as float32 CPU tensors."""
        feed = {"lightness": _numpy(lightness)}
        if "hint_ab" in self._inputs:
            hint_ab, hint_mask = hints_or_zeros(lightness, hint_ab, hint_mask)
            feed["hint_ab"], feed["hint_mask"] = _numpy(hint_ab), _numpy(hint_mask)
        results = dict(zip(self._outputs, self.session.run(self._outputs, feed)))
        return ColorPrediction(
            logits=_tensor(results.get("logits")), ab=_tensor(results.get("ab"))
        )


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().float().numpy())


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.from_numpy(array)


def state_fingerprint(model: torch.nn.Module) -> str:
    """A short sha256 of ``model``'s state dict (names and values): a cache key for exports."""
    import hashlib

    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def int8_model(
    model: ColorizationModel, name: str, cache: Path, calibration: str | Path | None = None, count: int = 16,
    size: int = 256,
) -> OnnxColorizer:
    """``model`` quantized to int8 and loaded in ONNX Runtime; exported once into ``cache``.

    The file is ``cache/<name>-<state fingerprint>-int8.onnx``: a change of weights makes a
    new export. A failed or interrupted export leaves no file (the export is atomic).
    ``calibration`` (a folder of photographs, else generated images), ``count`` and ``size``
    (the calibration images' side: the Colorizer's network size) matter only when the file is made.
    """
    from .export import export_onnx

    if isinstance(model, OnnxColorizer):
        return model
    path = cache / f"{name}-{state_fingerprint(model)}-int8.onnx"
    if not path.is_file():
        logger.warning("exporting %s to int8 ONNX once (seconds to a minute); cached in %s", name, path)
        export_onnx(model, path, name=name, int8=True, calibration=calibration, calibration_count=count, size=size, overwrite=True)
    return OnnxColorizer(path, threads=_ort_threads_from_env())


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
