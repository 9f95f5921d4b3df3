"""Spreading user colour hints over the regions they belong to (NumPy, inference).

The compact network follows a hint only a few cells around it: a click on a sky turns a patch
of it blue, not the sky. After the network, its colours on its output grid are solved again,
in the manner of edge-aware colour propagation (Levin, Lischinski and Weiss 2004). First the
colours ``C`` that minimise

    sum_{x~y} w(x, y) |C(x) - C(y)|^2 + lambda sum_x |C(x) - pred(x)|^2 + mu sum_x m(x) |C(x) - hint(x)|^2
    w(x, y) = exp(-(L(x) - L(y))^2 / (2 l^2))

over the pairs of 4-neighbour cells ``x~y``, where ``pred`` is the network's colour, ``m`` the
share of each cell the hints cover and ``hint`` their colour there: neighbours of alike
lightness are tied together, so a hint's colour runs along its object however large, and
stops where the lightness changes. The system is linear, so ``C = S(pred) + H``: the network's
colours smoothed (``S``, its weights summing to ``1 - r``) plus the hints' colours spread
(``H``, the same system solved with the hints alone), where the *reach* ``r`` of the hints is
that system solved for 1 at the hints (in [0, 1]: how strongly a cell is tied to some hint).
What is returned keeps the network's own colours instead of their smoothing:
``(1 - r) pred + H``. In a region no hint reaches (``r`` and ``H`` about 0) that is the
prediction itself, where ``C`` would have smoothed it towards its mean (the small ``lambda``
lets a hint carry about ``1 / sqrt(lambda)`` cells, and the prior as far): with one hint,
cells far from it changed by 5.8 ab on average with ``C``. On a uniform prediction ``p`` under a
uniform hint ``h`` it is ``C`` itself, ``p + r (h - p)``. An image without hints is returned
unchanged.
``lambda`` is stated for a 64 x 64 grid and scaled with the grid's side, so that a hint
carries as far across the picture on any grid. Solved by conjugate gradients with a Jacobi
preconditioner (the systems are symmetric positive definite).

The defaults were chosen on 120 photographs of ``train/`` and ``train_people/`` and checked on
both validation sets (MODEL_CARD.md has the numbers and what else was tried).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .hint_maps import HintMaps

logger = logging.getLogger(__name__)

#: lightness difference (L units, 0-100) of two neighbour cells at which their tie falls to exp(-1/2)
DEFAULT_LIGHTNESS_SIGMA = 2.0
#: weight ``lambda`` of the network's colour against the ties on a 64 x 64 grid (small: hints carry far)
DEFAULT_DATA_WEIGHT = 1e-4
#: the grid side ``lambda`` is stated for (it scales with ``(REFERENCE_SIDE / side) ** 2``)
REFERENCE_SIDE = 64
#: weight ``mu`` of a fully hinted cell's hint
HINT_WEIGHT = 100.0
#: the spread colours' root-mean-square error over the cells is provably below this (ab units)
TOLERANCE = 0.01
#: or after this many iterations
MAX_ITERATIONS = 5000


def _area_resize(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(C, H, W)`` float32 -> ``(C, h, w)`` by area averaging (``size`` = (h, w)); unlike
    :func:`.hint_maps.adaptive_average` (PyTorch's pooling cells, which overlap) it keeps a
    hint's area at any factor, integer or not."""
    if planes.shape[-2:] == tuple(size):
        return planes.astype(np.float32, copy=False)
    height, width = size
    return np.stack([cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA) for plane in planes.astype(np.float32)])


def neighbour_ties(lightness: np.ndarray, lightness_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The ties ``w(x, y)`` between 4-neighbour cells of an ``(h, w)`` L plane.

    Returns:
        ``(across, down)``: ``(h, w - 1)`` ties of each cell to its right neighbour and
        ``(h - 1, w)`` to the one below, in (0, 1], float64.
    """
    lightness = lightness.astype(np.float64)
    scale = 2.0 * lightness_sigma**2
    return np.exp(-((lightness[:, 1:] - lightness[:, :-1]) ** 2) / scale), np.exp(
        -((lightness[1:] - lightness[:-1]) ** 2) / scale
    )


def _tie_sums(across: np.ndarray, down: np.ndarray) -> np.ndarray:
    """``(h, w)``: each cell's sum of ties to its neighbours."""
    sums = np.zeros((down.shape[0] + 1, across.shape[1] + 1))
    sums[:, :-1] += across
    sums[:, 1:] += across
    sums[:-1] += down
    sums[1:] += down
    return sums


def _times_system(values: np.ndarray, across: np.ndarray, down: np.ndarray, diagonal: np.ndarray) -> np.ndarray:
    """The system matrix (``diagonal`` minus the ties) times ``(C, h, w)`` values."""
    result = diagonal * values
    result[:, :, :-1] -= across * values[:, :, 1:]
    result[:, :, 1:] -= across * values[:, :, :-1]
    result[:, :-1] -= down * values[:, 1:]
    result[:, 1:] -= down * values[:, :-1]
    return result


def solve_ties(
    across: np.ndarray,
    down: np.ndarray,
    diagonal: np.ndarray,
    right_side: np.ndarray,
    start: np.ndarray,
    margin: float,
    tolerance: float = TOLERANCE,
) -> np.ndarray:
    """Solve ``(diag(diagonal) - ties) U = right_side`` for ``(C, h, w)`` planes (each its own).

    ``diagonal`` must exceed each cell's sum of ties by at least ``margin`` > 0: then the system
    is symmetric positive definite with no eigenvalue below ``margin``, and stopping at a
    residual norm of ``margin * tolerance * sqrt(cells)`` bounds the root-mean-square error
    by ``tolerance`` (:data:`TOLERANCE` ab by default). Preconditioned conjugate gradients
    from ``start``.
    """
    solution = start.astype(np.float64)
    residual = right_side - _times_system(solution, across, down, diagonal)
    goal = margin * tolerance * np.sqrt(diagonal.size)
    preconditioned = residual / diagonal
    direction = preconditioned.copy()
    product = (residual * preconditioned).sum(axis=(1, 2), keepdims=True)
    for _ in range(MAX_ITERATIONS):
        if np.all(np.sqrt((residual**2).sum(axis=(1, 2), keepdims=True)) <= goal):
            break
        image = _times_system(direction, across, down, diagonal)
        step = product / np.maximum((direction * image).sum(axis=(1, 2), keepdims=True), 1e-300)
        solution += step * direction
        residual -= step * image
        preconditioned = residual / diagonal
        next_product = (residual * preconditioned).sum(axis=(1, 2), keepdims=True)
        direction = preconditioned + (next_product / np.maximum(product, 1e-300)) * direction
        product = next_product
    else:
        logger.warning("hint spreading: no convergence in %d iterations (the colours may be off by more "
                       "than %.2g ab)", MAX_ITERATIONS, tolerance)
    return solution


def propagate_hints(
    lightness: np.ndarray,
    ab: np.ndarray,
    hints: HintMaps | None,
    *,
    lightness_sigma: float = DEFAULT_LIGHTNESS_SIGMA,
    data_weight: float = DEFAULT_DATA_WEIGHT,
) -> np.ndarray:
    """Spread the hints over the cells tied to them by neighbours of alike lightness.

    The cells the hints do not reach keep (nearly) the network's colours.

    Args:
        lightness: ``(B, 1, H, W)`` L in [0, 100] at any resolution (the network's input).
        ab: ``(B, 2, h, w)`` predicted ab in Lab units.
        hints: the hint maps (``(B, 2, H', W')`` ab in Lab units, ``(B, 1, H', W')`` mask in
            {0, 1}, NumPy) at any resolution, or ``None``.
        lightness_sigma: lightness tolerance of a tie in L units (> 0).
        data_weight: ``lambda`` on a 64 x 64 grid, the pull of the network's own colour (> 0).

    Returns:
        ``(B, 2, h, w)`` float32 ab; ``ab`` itself (unchanged) where an image has no hint.
    """
    if not (lightness_sigma > 0 and data_weight > 0):  # also refuses NaN
        raise ValueError("lightness_sigma and data_weight must be positive")
    ab = np.asarray(ab, dtype=np.float32)
    if hints is None or not np.any(hints.mask):
        return ab
    size = ab.shape[-2:]
    weight = data_weight * (REFERENCE_SIDE / max(size)) ** 2
    hint_ab, hint_mask = hints
    out = ab.copy()
    for index in range(ab.shape[0]):
        coverage = np.clip(_area_resize(np.asarray(hint_mask[index]), size)[0].astype(np.float64), 0.0, 1.0)
        if not np.any(coverage > 0):
            continue
        hinted = _area_resize(np.asarray(hint_ab[index]) * np.asarray(hint_mask[index]), size)
        hinted = hinted / np.maximum(coverage, 1e-8)
        across, down = neighbour_ties(_area_resize(np.asarray(lightness[index]), size)[0], lightness_sigma)
        pull = HINT_WEIGHT * coverage
        diagonal = _tie_sums(across, down) + weight + pull
        predicted = ab[index].astype(np.float64)
        # the result's error is H's plus pred times r's: each solved to half of TOLERANCE (r's
        # scaled by the largest |pred|), so that its root-mean-square error stays within TOLERANCE
        spread = solve_ties(across, down, diagonal, pull * hinted, np.zeros_like(predicted), weight, TOLERANCE / 2)
        finer = TOLERANCE / 2 / max(1.0, float(np.abs(predicted).max()))
        reach = solve_ties(across, down, diagonal, pull[None], np.zeros((1, *size)), weight, finer)
        out[index] = ((1.0 - np.clip(reach, 0.0, 1.0)) * predicted + spread).astype(np.float32)
    return out
