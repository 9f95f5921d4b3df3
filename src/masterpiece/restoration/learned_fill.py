"""The learned filler: a small network of our own that corrects OpenCV's inpainting inside the
damage mask, run with ONNX Runtime (no torch).

Inside the mask it sees the damaged lightness, its Navier-Stokes inpainting and the mask
(:func:`filler_planes`), so it can keep the picture that survives under a water stain or a
faint scratch and undo its darkening, or correct the inpainting where the picture is gone
(:mod:`.filler_training` has the network and how it was trained). Outside the mask every pixel
is the input's, bit for bit.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError, InvalidInputError, WeightsError, WeightsNotFoundError
from ._checks import check_lightness, check_mask
from ._onnx import (
    REEXPORT_ADVICE,
    check_model_name,
    detector_dir,
    open_session,
    release_after_run,
    stated_context_rows,
)
from .features import BLOCK

__all__ = ["FILLER_NAME", "FILLER_PLANES", "FILLER_WEIGHTS", "INPAINT_RADIUS", "LearnedFiller", "bundled_filler",
           "filler_planes"]

#: the filler's name in the bundled folder's manifest
FILLER_NAME = "damage_filler"
#: the bundled safetensors file and its sha256 (the ONNX file must have been exported from it)
FILLER_WEIGHTS = ("masterpiece_filler_v1.safetensors", "c808e369260205272e5d21a5e78ffece79e0de340cf3cfaad9ed6bfd3dce5a37")
#: planes :func:`filler_planes` returns
FILLER_PLANES = 3
#: OpenCV's inpainting radius for the filler's input (pixels), as in training
INPAINT_RADIUS = 3.0


def filler_planes(damaged: np.ndarray, inpainted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The filler's input: (H, W) float32 damaged L, its inpainting (L in [0, 100]) and the (H, W)
    bool mask -> (3, H, W) float32: ``(D - 50) / 50``, ``(I - 50) / 50`` and the mask as 0 / 1."""
    planes = np.empty((FILLER_PLANES, *damaged.shape), np.float32)
    scale = np.float32(1 / 50)
    np.multiply(damaged, scale, out=planes[0])
    np.multiply(inpainted, scale, out=planes[1])
    planes[:2] -= 1
    planes[2] = mask
    return planes


#: pixels per band the network runs on (rows = this / width), and the context rows above and
#: below it unless the file's ``masterpiece.context_rows`` says otherwise (the body's reach)
_BAND_PIXELS = 4_000_000
_CONTEXT_ROWS = 64


class LearnedFiller:
    """The bundled filler network: damaged L, its inpainting and the mask -> the filled L.

    Args:
        model_path: an ONNX file of the filler's layout (default: the bundled, verified file).
        threads: ONNX Runtime's intra-op threads (None: its default, every core).
        band_rows: rows processed at a time (default: about 4 megapixels' worth), rounded down
            to a multiple of 4 (at least 4); bands without damage are skipped.

    Raises:
        WeightsError: the file is missing, fails its sha256, or ONNX Runtime cannot load it.
        ConfigError: a band under 1 row.
    """

    def __init__(self, model_path: Path | None = None, *, threads: int | None = None,
                 band_rows: int | None = None) -> None:
        path = _bundled_model() if model_path is None else Path(model_path)
        if band_rows is not None and band_rows < 1:
            raise ConfigError(f"band_rows must be at least 1, not {band_rows}")
        self._session = open_session(path, threads, "the damage filler")
        check_model_name(self._session, path, FILLER_NAME, "the damage filler")
        self.context_rows = stated_context_rows(self._session, path, "the damage filler", _CONTEXT_ROWS)
        self._input = self._session.get_inputs()[0].name
        self._release = release_after_run()
        self._kernel = _binomial(self._session.get_modelmeta().custom_metadata_map.get("masterpiece.smoothing", "1"),
                                 path)
        self.band_rows = band_rows
        self.path = path

    def _run(self, damaged: np.ndarray, inpainted: np.ndarray, mask: np.ndarray, release: bool) -> np.ndarray:
        """One run of the network over (H, W) planes (padded to the block grid and cropped back);
        ``release`` hands ONNX Runtime's buffers back after it."""
        height, width = damaged.shape
        pad = ((0, -height % BLOCK), (0, -width % BLOCK))
        damaged, inpainted, mask = (np.pad(plane, pad, mode="edge") for plane in (damaged, inpainted, mask))
        planes = filler_planes(damaged, inpainted, mask)
        (out,) = self._session.run(None, {self._input: planes[None]}, self._release if release else None)
        u, v, r = (self._smooth(plane) for plane in out[0])
        filled = damaged - inpainted  # I + u (D - I) + v (D - 50) + 25 r, in place
        filled *= u
        filled += inpainted
        v *= damaged - np.float32(50)
        filled += v
        r *= np.float32(25)
        filled += r
        return np.clip(filled[:height, :width], 0, 100, out=filled[:height, :width])

    def _smooth(self, plane: np.ndarray) -> np.ndarray:
        """A coefficient map through the binomial filter the network was bundled with (edges replicated)."""
        if self._kernel is None:
            return plane
        return cv2.sepFilter2D(plane, -1, self._kernel, self._kernel, borderType=cv2.BORDER_REPLICATE)

    def __call__(self, damaged: np.ndarray, inpainted: np.ndarray, mask: np.ndarray, *,
                 release: bool = True) -> np.ndarray:
        """The filled lightness: (H, W) float32 damaged L, its inpainting (both in [0, 100]) and the
        (H, W) bool mask -> (H, W) float32 L in [0, 100], ``damaged`` bit for bit outside the mask.

        ``release``: hand ONNX Runtime's buffers back after the last band (False keeps them for
        a next call on another part of the same image).

        Raises:
            InvalidInputError: the planes are not L in [0, 100] or their shapes differ.
        """
        damaged = check_lightness(damaged, "the damaged lightness")
        inpainted = check_lightness(inpainted, "the inpainted lightness")
        if inpainted.shape != damaged.shape:
            raise InvalidInputError(f"the inpainting has shape {inpainted.shape} but the image is {damaged.shape}")
        mask = check_mask(mask, damaged.shape)
        height, width = damaged.shape
        rows = max(BLOCK, (self.band_rows or _BAND_PIXELS // width) // BLOCK * BLOCK)
        result = damaged.copy()
        damaged_rows = np.flatnonzero(mask.any(axis=1))
        for start in range(0, height, rows):
            stop = min(start + rows, height)
            if not mask[start:stop].any():
                continue
            top, bottom = max(0, start - self.context_rows), min(height, stop + self.context_rows)
            last = release and stop > damaged_rows[-1]
            filled = self._run(damaged[top:bottom], inpainted[top:bottom], mask[top:bottom], release=last)
            np.copyto(result[start:stop], filled[start - top:stop - top], where=mask[start:stop])
        return result


def _binomial(side: str, path: Path) -> np.ndarray | None:
    """The normalised 1-D binomial kernel of an odd ``side`` (None for 1), from the file's metadata."""
    try:
        taps = int(side)
    except ValueError:
        taps = 0
    if taps < 1 or taps % 2 == 0:
        raise WeightsError(f"the damage filler {path} states a smoothing of {side!r}, not an odd side; {REEXPORT_ADVICE}")
    if taps == 1:
        return None
    kernel = np.array([math.comb(taps - 1, k) for k in range(taps)], np.float32)
    return kernel / kernel.sum()


def _bundled_model() -> Path:
    from ..models.bundled_onnx import bundled_onnx_path

    path = bundled_onnx_path(FILLER_NAME, "fp32", source_sha256=FILLER_WEIGHTS[1] or None, directory=detector_dir(),
                             advice=REEXPORT_ADVICE)
    if path is None:
        raise WeightsNotFoundError(
            f"the bundled damage filler is not in {detector_dir()}; reinstall masterpiece, or fill with "
            "OpenCV alone (Restorer(fill_method='ns'))"
        )
    return path


@functools.cache
def bundled_filler(threads: int | None = None) -> LearnedFiller:
    """The bundled filler with ``threads`` intra-op threads (None: every core), loaded once per
    process and thread count (verified by sha256 when first loaded)."""
    return LearnedFiller(threads=threads)
