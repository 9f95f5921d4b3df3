"""The PyTorch side of running a network: eager models in fp32 or bf16, and ONNX files as models.

:class:`TorchBackend` wraps a :class:`~masterpiece.models.ColorizationModel` behind the NumPy
:class:`~masterpiece.models.onnx_backend.NetworkBackend` interface (arrays are converted at
this boundary only). It is what runs ``bf16``, ``fp32`` for models without a shipped ONNX file
(the published ECCV16/SIGGRAPH17 weights, a user's ``--weights``, a model instance) and
training validation. :class:`OnnxColorizer` is the reverse adapter: an ONNX export as a
``ColorizationModel`` (evaluation and export tests run it as a PyTorch model), and
:func:`int8_model` exports a PyTorch model to int8 once into the cache.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import torch

from ..color.hint_maps import HintMaps, float32_array
from ..settings import DEFAULT_SIZE
from ._base import ColorizationModel, ColorPrediction, hints_or_zeros
from .onnx_backend import OnnxBackend

logger = logging.getLogger(__name__)


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """The autocast context for a resolved ``precision`` (a no-op for fp32 and int8)."""
    if precision != "bf16":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class TorchBackend:
    """A PyTorch model behind the NumPy network interface.

    Args:
        model: the network (moved to ``device``, put in eval mode).
        model_name: its registered name.
        precision: ``fp32``, ``bf16`` (autocast for the network; decoding stays float32) or
            ``int8`` (a model that is an :class:`OnnxColorizer`).
        device: where it runs.
    """

    def __init__(self, model: ColorizationModel, model_name: str, precision: str, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.model_name = model_name
        self.precision = precision

    @property
    def accepts_hints(self) -> bool:
        return bool(self.model.accepts_hints)

    @property
    def threads(self) -> int:
        return int(getattr(self.model, "threads", 0) or torch.get_num_threads())

    def set_threads(self, threads: int) -> None:
        """Threads for the network: an ONNX model's session, else PyTorch's intra-op threads."""
        set_threads = getattr(self.model, "set_threads", None)
        if set_threads is not None:
            set_threads(threads)

    @property
    def bin_centers(self) -> np.ndarray | None:
        centers = self.model.bin_centers
        return None if centers is None else centers.detach().float().cpu().numpy()

    def _predict(self, lightness: np.ndarray, hints: HintMaps | None) -> ColorPrediction:
        arrays = (lightness,) if hints is None else (lightness, *hints.as_numpy())
        network_l, *maps = (torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device) for x in arrays)
        with autocast_for(self.precision, self.device):
            return self.model.predict(network_l, *maps)

    @torch.inference_mode()
    def logits(self, lightness: np.ndarray, hints: HintMaps | None) -> np.ndarray | None:
        """See :meth:`~masterpiece.models.onnx_backend.NetworkBackend.logits`."""
        logits = self._predict(lightness, hints).logits
        return None if logits is None else logits.float().cpu().numpy()

    @torch.inference_mode()
    def network_ab(self, lightness: np.ndarray, hints: HintMaps | None, temperature: float) -> np.ndarray:
        """See :meth:`~masterpiece.models.onnx_backend.NetworkBackend.network_ab`."""
        prediction = self._predict(lightness, hints)
        prediction = ColorPrediction(
            logits=None if prediction.logits is None else prediction.logits.float(),
            ab=None if prediction.ab is None else prediction.ab.float(),
        )
        return self.model.decode(prediction, temperature).float().cpu().numpy()


class OnnxColorizer(ColorizationModel):
    """A model exported by :func:`~masterpiece.models.export.export_onnx`, run by ONNX Runtime,
    as a :class:`ColorizationModel` (tensors in and out; always on the CPU, no parameters).

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime intra-op threads (default: ``torch.get_num_threads()``).

    Raises:
        WeightsError: the file is not a Masterpiece ONNX export or cannot be loaded.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        super().__init__()
        self.backend = OnnxBackend(path, threads=threads or torch.get_num_threads())
        self.path = self.backend.path
        self.model_name = self.backend.model_name
        self.precision = self.backend.precision
        self.accepts_hints = self.backend.accepts_hints
        self.decoder = self.backend.decoder
        self.annealed_weight = self.backend.annealed_weight
        self.regression_tint = self.backend.regression_tint
        centers = self.backend.bin_centers
        self.register_buffer("ab_bin_centers", None if centers is None else torch.from_numpy(centers))

    @property
    def threads(self) -> int:
        return self.backend.threads

    @property
    def session(self):
        """The ONNX Runtime session."""
        return self.backend.session

    def set_threads(self, threads: int) -> None:
        """Run with ``threads`` intra-op threads (the session is rebuilt when the number changes)."""
        self.backend.set_threads(threads)

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
        maps = None
        if self.backend.accepts_hints:
            maps = HintMaps(*(float32_array(x) for x in hints_or_zeros(lightness, hint_ab, hint_mask)))
        results = self.backend.run(float32_array(lightness), maps)
        return ColorPrediction(logits=_tensor(results.get("logits")), ab=_tensor(results.get("ab")))



def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.from_numpy(array)


def state_fingerprint(model: torch.nn.Module) -> str:
    """A short sha256 of ``model``'s state dict (names and values) and of its decoding unless it
    is the plain annealed mean: a cache key for exports (whose metadata carries the decoding)."""
    from .catalogue import decoding_tag

    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    digest.update(decoding_tag(getattr(model, "annealed_weight", 1.0), getattr(model, "regression_tint", 0.0)).encode())
    return digest.hexdigest()[:16]


def int8_model(
    model: ColorizationModel, name: str, cache: Path, calibration: str | Path | None = None, count: int = 16,
    size: int = DEFAULT_SIZE, threads: int | None = None,
) -> OnnxColorizer:
    """``model`` quantized to int8 and loaded in ONNX Runtime; exported once into ``cache``.

    The file is ``cache/<name>-<state fingerprint>-int8.onnx``: a change of weights makes a
    new export. A failed or interrupted export leaves no file (the export is atomic).
    ``calibration`` (a folder of photographs, else generated images), ``count`` and ``size``
    (the calibration images' side: the Colorizer's network size) matter only when the file is
    made. Never used for a bundled model, whose int8 file ships with the package.
    """
    from .export import export_onnx

    if isinstance(model, OnnxColorizer):
        return model
    path = cache / f"{name}-{state_fingerprint(model)}-int8.onnx"
    if not path.is_file():
        logger.warning("exporting %s to int8 ONNX once (seconds to a minute); cached in %s", name, path)
        export_onnx(model, path, name=name, int8=True, calibration=calibration, calibration_count=count, size=size, overwrite=True)
    return OnnxColorizer(path, threads=threads)


def export_cached(
    model: ColorizationModel, name: str, path: Path, precision: str, size: int, source_sha256: str
) -> Path:
    """Export ``model`` (loaded from the weights file of sha256 ``source_sha256``) to ``path`` in
    ``precision`` (``fp32`` or ``int8``, calibrated on generated images of side ``size``), once:
    the sha256 goes into the file's metadata, so a later load finds the export without PyTorch."""
    from .export import export_onnx

    logger.warning("exporting %s to %s ONNX once (seconds to a minute); cached in %s", name, precision, path)
    return export_onnx(model, path, name=name, int8=precision == "int8", size=size, overwrite=True,
                       source_sha256=source_sha256)
