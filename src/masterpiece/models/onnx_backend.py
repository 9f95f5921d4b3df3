"""Running an exported network in ONNX Runtime on NumPy arrays: inference without PyTorch.

A Colorizer talks to its network through :class:`NetworkBackend`: ``L`` (and hints) at the
network's resolution in, decoded ``ab`` out, all NumPy. :class:`OnnxBackend` runs a file
written by :func:`masterpiece.models.export.export_onnx` (the bundled model's shipped files,
or an int8 export in the cache) and decodes with the annealed mean
(:func:`masterpiece.color.annealed.annealed_mean`); the PyTorch backend is
:class:`masterpiece.models.torch_backend.TorchBackend`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from ..color.annealed import annealed_mean, blend_decoded
from ..color.hint_maps import HintMaps
from ..errors import MissingExtraError, WeightsError

logger = logging.getLogger(__name__)

#: metadata keys written into exported files start with this (as ``export.METADATA_PREFIX``)
METADATA_PREFIX = "masterpiece."


class NetworkBackend(Protocol):
    """What a Colorizer needs from a network.

    Attributes:
        model_name: the registered model name (or the class name of a user's model).
        accepts_hints: whether the network uses colour hints.
        precision: ``fp32``, ``bf16`` or ``int8``.
        threads: the intra-op threads it computes with.
        bin_centers: ``(Q, 2)`` float32 ab of the classification bins, or None.
    """

    model_name: str
    accepts_hints: bool
    precision: str
    threads: int
    bin_centers: np.ndarray | None

    def network_ab(self, lightness: np.ndarray, hints: HintMaps | None, temperature: float) -> np.ndarray:
        """``(B, 1, H, W)`` float32 ``L`` in [0, 100] (+ hint maps at the same ``H, W``, NumPy,
        or None) -> ``(B, 2, h, w)`` float32 ab in Lab units."""
        ...

    def logits(self, lightness: np.ndarray, hints: HintMaps | None) -> np.ndarray | None:
        """``(B, Q, h, w)`` float32 bin logits for the same inputs, or None without a
        classification head (the bins are ``bin_centers``, ``(Q, 2)`` Lab units)."""
        ...

    def set_threads(self, threads: int) -> None:
        """Compute with ``threads`` intra-op threads from now on."""
        ...


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(
            "running an ONNX network needs onnxruntime, which is not installed; reinstall masterpiece "
            "(pip install masterpiece)"
        ) from error
    return onnxruntime


class OnnxBackend:
    """A Masterpiece ONNX export run by ONNX Runtime on the CPU (NumPy in, NumPy out).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (default: the cores this process may use).

    Raises:
        WeightsError: the file is missing, not a Masterpiece export, or cannot be loaded.
        MissingExtraError: onnxruntime is not installed.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise WeightsError(f"ONNX file {self.path} not found; export one with `masterpiece models export`")
        self.threads = 0
        self.set_threads(threads or default_threads())
        meta = self.session.get_modelmeta().custom_metadata_map
        if f"{METADATA_PREFIX}model" not in meta:
            raise WeightsError(f"{self.path} is not a Masterpiece export (no {METADATA_PREFIX}* metadata); "
                               "export it with `masterpiece models export`")
        self.model_name = meta[f"{METADATA_PREFIX}model"]
        self.precision = meta.get(f"{METADATA_PREFIX}precision", "fp32")
        self.accepts_hints = bool(json.loads(meta.get(f"{METADATA_PREFIX}accepts_hints", "false")))
        self.decoder = meta.get(f"{METADATA_PREFIX}decoder", "classification")
        #: see :attr:`~masterpiece.models.ColorizationModel.annealed_weight` (1 for older exports)
        self.annealed_weight = float(json.loads(meta.get(f"{METADATA_PREFIX}annealed_weight", "1.0")))
        #: see :attr:`~masterpiece.models.ColorizationModel.regression_tint` (0 for older exports)
        self.regression_tint = float(json.loads(meta.get(f"{METADATA_PREFIX}regression_tint", "0.0")))
        centers = json.loads(meta.get(f"{METADATA_PREFIX}bin_centers", "null"))
        #: ``(Q, 2)`` float32 bin centres (Lab units), or None for regression-only exports
        self.bin_centers = None if centers is None else np.asarray(centers, np.float32)
        #: sha256 of the weights file the network was exported from, when the export recorded it
        self.source_sha256: str | None = meta.get(f"{METADATA_PREFIX}source_sha256")
        self.inputs = [node.name for node in self.session.get_inputs()]
        self.outputs = [node.name for node in self.session.get_outputs()]

    def set_threads(self, threads: int) -> None:
        """Run with ``threads`` intra-op threads (the session is rebuilt when the number changes).

        A batch that colorizes several images at once gives each its share of the cores.
        """
        ort = _import_onnxruntime()
        threads = max(1, int(threads))
        if threads == self.threads:
            return
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no optimizer notes on stderr
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

    def run(self, lightness: np.ndarray, hints: HintMaps | None = None) -> dict[str, np.ndarray]:
        """The raw outputs (``logits`` ``(B, Q, h, w)`` and/or ``ab`` ``(B, 2, h, w)``, float32)
        for ``(B, 1, H, W)`` ``L`` in [0, 100] and optional hints (zeros when absent)."""
        lightness = np.ascontiguousarray(lightness, np.float32)
        feed = {"lightness": lightness}
        if "hint_ab" in self.inputs:
            maps = HintMaps.zeros(*(lightness.shape[i] for i in (0, 2, 3))) if hints is None else hints.as_numpy()
            feed["hint_ab"], feed["hint_mask"] = maps.ab, maps.mask
        return dict(zip(self.outputs, self.session.run(self.outputs, feed)))

    def logits(self, lightness: np.ndarray, hints: HintMaps | None) -> np.ndarray | None:
        """See :meth:`NetworkBackend.logits`."""
        return self.run(lightness, hints).get("logits")

    def network_ab(self, lightness: np.ndarray, hints: HintMaps | None, temperature: float) -> np.ndarray:
        """See :meth:`NetworkBackend.network_ab`."""
        results = self.run(lightness, hints)
        if self.decoder == "classification" and "logits" in results and self.bin_centers is not None:
            annealed = annealed_mean(results["logits"], self.bin_centers, temperature)
            regressed = results.get("ab")
            if regressed is None or regressed.shape != annealed.shape:
                return annealed
            return blend_decoded(
                annealed, np.asarray(regressed, np.float32), self.annealed_weight, self.regression_tint
            )
        if "ab" not in results:
            raise WeightsError(f"{self.path} produces neither logits with bin centres nor ab; re-export it")
        return np.asarray(results["ab"], np.float32)
