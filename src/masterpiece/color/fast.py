"""Fast CIE Lab -> sRGB for full-resolution images: OpenCV, with the gamut fitted by a table.

:func:`~masterpiece.color.lab.lab_to_rgb` fits out-of-gamut colours by bisection on every
such pixel, in PyTorch: exact, but on a 12-megapixel photograph a tenth of the pixels can be
outside (deep shadows and bright skies given colour) and the bisection dominates the run.
Here OpenCV converts all pixels (vectorised, multithreaded), and the pixels it had to clip
get their chroma scaled to the edge of the gamut read from a table: the largest chroma that
fits at each lightness and hue (:func:`max_chroma_table`, built once by the same bisection
in ~50 ms), interpolated bilinearly. Lightness and hue are kept, as in the exact path.

Accuracy against :func:`~masterpiece.color.lab.lab_to_rgb` on random colours, most of them
outside the gamut: below 0.004 in RGB (1 level of 8 bits) everywhere (``tests/color/test_fast.py``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from .lab import fit_chroma_to_gamut, max_chroma_in_gamut

#: grid of the max-chroma table: lightness 0..100 and hue 0..2 pi (the last hue column repeats the first)
TABLE_LIGHTNESS_STEPS = 401
TABLE_HUE_STEPS = 1440
#: chroma is only ever reduced, and by a hair more than the table says (interpolation error)
_MARGIN = 0.999
#: neighbouring table entries further apart than this (chroma units) mark an abrupt edge
_ABRUPT = 1.0


@functools.lru_cache(maxsize=1)
def max_chroma_table() -> np.ndarray:
    """``(TABLE_LIGHTNESS_STEPS, TABLE_HUE_STEPS + 1)`` float32: the largest in-gamut chroma
    at lightness ``100 i / (steps - 1)`` and hue angle ``2 pi j / TABLE_HUE_STEPS``."""
    lightness = torch.linspace(0.0, 100.0, TABLE_LIGHTNESS_STEPS, dtype=torch.float64)
    hue = torch.arange(TABLE_HUE_STEPS, dtype=torch.float64) * (2 * np.pi / TABLE_HUE_STEPS)
    grid_l, grid_h = torch.meshgrid(lightness, hue, indexing="ij")
    table = max_chroma_in_gamut(grid_l, grid_h).numpy().astype(np.float32)
    return np.concatenate((table, table[:, :1]), axis=1)


def fit_chroma_with_table(lab: np.ndarray) -> np.ndarray:
    """Scale the chroma of ``(N, 3)`` float32 Lab colours down to the sRGB gamut, keeping L and hue.

    Colours already inside keep their ``ab`` (up to the table's interpolation margin, 0.1 %).
    Where the gamut's edge changes abruptly between neighbouring table entries (the narrow
    yellow and cyan spikes near white, about 1 in 1000 fitted colours), interpolation would
    cut too much chroma: those colours are fitted exactly by
    :func:`~masterpiece.color.lab.fit_chroma_to_gamut`. Returns a new ``(N, 3)`` float32 array.
    """
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma = np.hypot(a, b)
    hue = np.arctan2(b, a) % np.float32(2 * np.pi)
    table = max_chroma_table()
    row = np.clip(lightness, 0.0, 100.0) * np.float32((TABLE_LIGHTNESS_STEPS - 1) / 100.0)
    column = hue * np.float32(TABLE_HUE_STEPS / (2 * np.pi))
    row0 = np.minimum(row.astype(np.int64), TABLE_LIGHTNESS_STEPS - 2)
    column0 = np.minimum(column.astype(np.int64), TABLE_HUE_STEPS - 1)
    row_weight, column_weight = row - row0, column - column0
    corners = (table[row0, column0], table[row0, column0 + 1], table[row0 + 1, column0], table[row0 + 1, column0 + 1])
    limit = (
        (corners[0] * (1 - column_weight) + corners[1] * column_weight) * (1 - row_weight)
        + (corners[2] * (1 - column_weight) + corners[3] * column_weight) * row_weight
    )
    scale = np.minimum(1.0, _MARGIN * limit / np.maximum(chroma, np.float32(1e-6))).astype(np.float32)
    fitted = lab.astype(np.float32, copy=True)
    fitted[:, 1] *= scale
    fitted[:, 2] *= scale
    abrupt = np.flatnonzero((np.maximum.reduce(corners) - np.minimum.reduce(corners) > _ABRUPT) & (scale < 1.0))
    if abrupt.size:
        exact = fit_chroma_to_gamut(torch.from_numpy(np.ascontiguousarray(lab[abrupt].T))[None, :, :, None])
        fitted[abrupt] = exact[0, :, :, 0].T.numpy()
    return fitted


def lab_to_rgb_fast(lightness: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(h, W)`` float32 ``L``, ``a`` and ``b`` planes -> ``(h, W, 3)`` float32 sRGB in [0, 1].

    Out-of-gamut colours are brought inside by reducing chroma at constant ``L`` (as
    :func:`~masterpiece.color.lab.lab_to_rgb` does), never by clipping channels.
    """
    lab = cv2.merge([np.asarray(plane, dtype=np.float32) for plane in (lightness, a, b)])
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    # OpenCV clipped every pixel with a channel at 0 or 1: refit those (legitimate 0s and 1s, pure
    # black and white, come back unchanged)
    inside = cv2.inRange(rgb, (1e-6, 1e-6, 1e-6), (1 - 1e-6, 1 - 1e-6, 1 - 1e-6))
    clipped = np.flatnonzero(inside.reshape(-1) == 0)
    if clipped.size:
        fitted = fit_chroma_with_table(lab.reshape(-1, 3)[clipped])
        rgb.reshape(-1, 3)[clipped] = cv2.cvtColor(fitted[:, None, :], cv2.COLOR_Lab2RGB)[:, 0, :]
    return rgb
