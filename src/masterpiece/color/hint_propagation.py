"""Spreading user colour hints over the regions they belong to (NumPy, inference).

The compact network follows a hint only a few cells around it: a click on a sky turns a patch
of it blue, not the sky. After the network, every cell is pulled towards the colours of the hints
near it that have a lightness like its own, in the manner of edge-aware colour propagation
(Levin, Lischinski and Weiss 2004, with a bilateral kernel instead of their optimisation):

    w_k(x) = exp(-|x - p_k|^2 / (2 s^2) - (L(x) - L(p_k))^2 / (2 l^2) - |g(x) - g(p_k)|^2 / (2 c^2))
    ab(x) = pred(x) + sum_k w_k(x) (hint_k - pred(x)) / max(1, sum_k w_k(x))

``g`` is the network's colour without hints (the *guide*, when given): a hint reaches the cells
the network took for the same kind of thing, so a click on a red shirt no longer spreads to a
green lawn of the same lightness. (With it, 10 hints gained 0.14-0.16 dB more on all three sets
the defaults were compared on; MODEL_CARD.md.)

A hinted cell gets its hint, a cell where several hints reach is pulled to their weighted
mean, a cell far from every hint (or of another lightness) keeps the network's colour, so an
image without hints is unchanged. (Spreading each hint's *correction*, hint minus the
network's colour at the hint, gained half as much: the network already follows a hint
around itself, so the corrections are small.) ``s`` is a fraction of the image's diagonal and ``l`` is in L
units. The defaults were chosen on photographs of ``train/`` and ``train_people/`` (never on
the validation sets; MODEL_CARD.md has the numbers).
"""

from __future__ import annotations

import cv2
import numpy as np

from .hint_maps import HintMaps

#: spatial reach of a hint, as a fraction of the image's diagonal
DEFAULT_SPATIAL_SIGMA = 0.15
#: lightness difference (L units, 0-100) at which a hint's pull falls to exp(-1/2)
DEFAULT_LIGHTNESS_SIGMA = 8.0
#: colour difference (ab units) of the guides at which a hint's pull falls to exp(-1/2)
DEFAULT_COLOUR_SIGMA = 10.0
#: at most this many hinted cells act as sources (a painted area is subsampled evenly)
MAX_SOURCES = 1024
#: cells weighed at once (bounds the temporaries at CHUNK_CELLS x MAX_SOURCES floats)
CHUNK_CELLS = 4096


def _area_resize(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(C, H, W)`` float32 -> ``(C, h, w)`` by area averaging (``size`` = (h, w))."""
    if planes.shape[-2:] == tuple(size):
        return planes.astype(np.float32, copy=False)
    height, width = size
    return np.stack([cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA) for plane in planes.astype(np.float32)])


def propagate_hints(
    lightness: np.ndarray,
    ab: np.ndarray,
    hints: HintMaps | None,
    *,
    spatial_sigma: float = DEFAULT_SPATIAL_SIGMA,
    lightness_sigma: float = DEFAULT_LIGHTNESS_SIGMA,
    guide_ab: np.ndarray | None = None,
    colour_sigma: float = DEFAULT_COLOUR_SIGMA,
) -> np.ndarray:
    """Spread each hint's correction over the cells that look like its own.

    Args:
        lightness: ``(B, 1, H, W)`` L in [0, 100] at any resolution (the network's input).
        ab: ``(B, 2, h, w)`` predicted ab in Lab units.
        hints: the hint maps (``(B, 2, H', W')`` ab in Lab units, ``(B, 1, H', W')`` mask in
            {0, 1}, NumPy) at any resolution, or ``None``.
        spatial_sigma: reach of a hint, fraction of the diagonal (> 0).
        lightness_sigma: lightness tolerance in L units (> 0).
        guide_ab: ``(B, 2, h, w)`` the network's ab for the same images without hints, or
            ``None`` (lightness and distance alone decide where a hint reaches).
        colour_sigma: tolerance of the guides' colour difference in ab units (> 0).

    Returns:
        ``(B, 2, h, w)`` float32 ab; ``ab`` itself (unchanged) where an image has no hint.
    """
    ab = np.asarray(ab, dtype=np.float32)
    if hints is None or not np.any(hints.mask):
        return ab
    hint_ab, hint_mask = hints
    if spatial_sigma <= 0 or lightness_sigma <= 0 or colour_sigma <= 0:
        raise ValueError("spatial_sigma, lightness_sigma and colour_sigma must be positive")
    size = ab.shape[-2:]
    if guide_ab is not None:
        guide_ab = np.asarray(guide_ab, dtype=np.float32)
        if guide_ab.shape != ab.shape:
            raise ValueError(f"guide_ab must be shaped like ab {ab.shape}, got {guide_ab.shape}")
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    cells = np.stack([rows.ravel(), cols.ravel()], axis=1)  # (h*w, 2)
    spatial = 2.0 * (spatial_sigma * float(np.hypot(height, width))) ** 2
    tonal = 2.0 * float(lightness_sigma) ** 2
    chromatic = 2.0 * float(colour_sigma) ** 2
    out = ab.copy()
    for index in range(ab.shape[0]):
        coverage = _area_resize(np.asarray(hint_mask[index]), size)[0]
        sources = np.flatnonzero(coverage.ravel() > 0)
        if sources.size == 0:
            continue
        if sources.size > MAX_SOURCES:
            sources = sources[np.linspace(0, sources.size - 1, MAX_SOURCES).astype(np.int64)]
        hinted = _area_resize(np.asarray(hint_ab[index]) * np.asarray(hint_mask[index]), size)
        hinted = hinted.reshape(2, -1)[:, sources] / coverage.ravel()[sources]
        small_l = _area_resize(np.asarray(lightness[index]), size)[0].ravel()
        source_cells, source_l = cells[sources][None, :, :], small_l[sources][None, :]
        guide = None if guide_ab is None else guide_ab[index].reshape(2, -1)
        target = out[index].reshape(2, -1)
        for start in range(0, cells.shape[0], CHUNK_CELLS):  # (chunk, K) weights at a time
            chunk = slice(start, start + CHUNK_CELLS)
            distance = ((cells[chunk, None, :] - source_cells) ** 2).sum(axis=2)
            difference = (small_l[chunk, None] - source_l) ** 2
            exponent = distance / spatial + difference / tonal
            if guide is not None:
                exponent += ((guide[:, chunk, None] - guide[:, None, sources]) ** 2).sum(axis=0) / chromatic
            weights = np.exp(-exponent)
            summed = weights.sum(axis=1)
            pulled = weights @ hinted.T - summed[:, None] * target[:, chunk].T  # sum_k w_k (hint_k - pred)
            target[:, chunk] += (pulled / np.maximum(summed, 1.0)[:, None]).T
    return out
