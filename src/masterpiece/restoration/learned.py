"""The learned damage detector: a small network of our own, run with ONNX Runtime (no torch).

The bundled files live in ``restoration/bundled`` (the safetensors the network was trained
to, its ONNX export and ``onnx_manifest.json`` with their sha256, verified when loaded by
:func:`masterpiece.models.bundled_onnx.bundled_onnx_path`). The image is processed in bands
of rows with enough context above and below for the network's receptive field, so memory
stays bounded on 30-megapixel scans; each band's features (:mod:`.features`) are computed
on the band alone.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError, WeightsNotFoundError
from ..models.bundled_onnx import bundled_onnx_path
from ._onnx import (
    REEXPORT_ADVICE,
    detector_dir,
    open_session,
    release_after_run,
    stated_context_rows,
)
from .features import BLOCK, detector_features

__all__ = ["DETECTOR_NAME", "DETECTOR_PRECISION", "DETECTOR_WEIGHTS", "LearnedDetector", "detector_dir"]

logger = logging.getLogger(__name__)

#: the detector's name in the bundled folder's manifest
DETECTOR_NAME = "damage_detector"
#: the bundled safetensors file and its sha256 (the ONNX files must have been exported from it)
DETECTOR_WEIGHTS = ("masterpiece_damage_v1.safetensors", "d2bbdb7f9ddf4128140ae0233b6a0c3cdf6d77a6433661e4db27647702d6e32e")
#: the precision the Restorer runs (chosen with the measurement, see MODEL_CARD.md)
DETECTOR_PRECISION = "fp32"
#: pixels per band (rows = this / width), and the context rows above and below it unless the
#: file's ``masterpiece.context_rows`` says otherwise (bands start on the 4 x 4 block grid, and
#: the first detector's logits there depend on 72 rows each side: 60 of the body, a block the
#: head reaches into, 8 of the top-hat's opening and closing)
_BAND_PIXELS = 4_000_000
_CONTEXT_ROWS = 72
_DEFAULT_THRESHOLD = 0.5


def _bundled_model() -> Path:
    sha256 = DETECTOR_WEIGHTS[1]
    path = bundled_onnx_path(DETECTOR_NAME, DETECTOR_PRECISION, source_sha256=sha256 or None,
                             directory=detector_dir(), advice=REEXPORT_ADVICE)
    if path is None:
        raise WeightsNotFoundError(
            f"the bundled damage detector ({DETECTOR_PRECISION}) is not in {detector_dir()}; reinstall "
            "masterpiece, or use the classical detector (Restorer('classical'), --detector classical)"
        )
    return path


class LearnedDetector:
    """The bundled network as a detector: (H, W) float32 L in [0, 100] -> (H, W) bool mask.

    Args:
        model_path: an ONNX file of the detector's layout (default: the bundled, verified file).
        threads: ONNX Runtime's intra-op threads (None: its default, every core).
        threshold: the damage probability above which a pixel is marked (default: the one
            stored in the file's ``masterpiece.threshold`` metadata, else 0.5).
        band_rows: rows processed at a time (default: about 4 megapixels' worth), rounded down
            to a multiple of 4 (at least 4).

    Raises:
        WeightsError: the file is missing, fails its sha256, or ONNX Runtime cannot load it.
        ConfigError: a threshold outside (0, 1) or a band under 1 row.
    """

    def __init__(self, model_path: Path | None = None, *, threads: int | None = None,
                 threshold: float | None = None, band_rows: int | None = None) -> None:
        path = _bundled_model() if model_path is None else Path(model_path)
        self._session = open_session(path, threads, "the damage detector", blocked_layout=False)
        metadata = self._session.get_modelmeta().custom_metadata_map
        chosen = float(metadata.get("masterpiece.threshold", _DEFAULT_THRESHOLD)) if threshold is None else threshold
        if not 0 < chosen < 1:
            raise ConfigError(f"the detection threshold must be in (0, 1), not {chosen}")
        if band_rows is not None and band_rows < 1:
            raise ConfigError(f"band_rows must be at least 1, not {band_rows}")
        self.threshold = chosen
        self.context_rows = stated_context_rows(self._session, path, "the damage detector", _CONTEXT_ROWS)
        self._logit = np.float32(math.log(chosen / (1 - chosen)))
        self._input = self._session.get_inputs()[0].name
        self._release = release_after_run()
        self.band_rows = band_rows
        self.path = path

    def logits(self, lightness: np.ndarray, *, release: bool = True) -> np.ndarray:
        """(H, W) float32 L -> (H, W) float32 damage logits (the whole image in one run).

        ``release``: hand ONNX Runtime's buffers back after the run (False keeps them for the
        next band of the same image).
        """
        height, width = lightness.shape
        pad_h, pad_w = -height % BLOCK, -width % BLOCK
        plane = np.pad(lightness, ((0, pad_h), (0, pad_w)), mode="edge") if pad_h or pad_w else lightness
        features = detector_features(np.ascontiguousarray(plane))[None]
        (out,) = self._session.run(None, {self._input: features}, self._release if release else None)
        return out[0, 0, :height, :width]

    def __call__(self, lightness: np.ndarray) -> np.ndarray:
        """The damage mask of ``lightness`` ((H, W) float32 L in [0, 100]): (H, W) bool."""
        height, width = lightness.shape
        # bands start on the network's block grid: a band shifted within a block sees other blocks
        rows = max(BLOCK, (self.band_rows or _BAND_PIXELS // width) // BLOCK * BLOCK)
        mask = np.empty(lightness.shape, bool)
        for start in range(0, height, rows):
            stop = min(start + rows, height)
            top, bottom = max(0, start - self.context_rows), min(height, stop + self.context_rows)
            logits = self.logits(lightness[top:bottom], release=stop == height)
            np.greater(logits[start - top:stop - top], self._logit, out=mask[start:stop])
        return mask
