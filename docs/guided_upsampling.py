"""Edge-aware refinement of upsampled ab, guided by the full-resolution lightness.

The network predicts ab at 1/4 of its input; upsampled bilinearly, colour bleeds across the
edges of the photograph (a red coat colours the wall beside it). The guided filter of He, Sun
and Tang (ECCV 2010) fits, in every window, ab as a linear function of ``L``: where ``L``
has an edge, ab may change as sharply as ``L`` does; where ``L`` is flat, ab is smoothed.
This is the "fast" form (He and Sun 2015): the linear coefficients are computed on a copy at
most :data:`WORKING_SIDE` pixels wide and upsampled, so the cost at full resolution is one
multiply-add per pixel and channel.

NumPy and OpenCV only (no torch). Measured with docs/compare_decoders.py (`+guided`) and not
shipped: MODEL_CARD.md gives the numbers.
"""

from __future__ import annotations

import cv2
import numpy as np

#: long side of the copy the filter coefficients are computed on
WORKING_SIDE = 512
#: window radius, in cells of the predicted ab grid (a cell is 4 network pixels)
RADIUS_CELLS = 3.0
#: regularization (in units of ``(L / 100) ** 2``): larger keeps more of the bilinear ab
EPSILON = 1e-4


def guided_coefficients(
    lightness: np.ndarray, ab: np.ndarray, radius: int, epsilon: float = EPSILON
) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's linear coefficients ``(A, B)`` with ``ab ≈ A * L / 100 + B``.

    Args:
        lightness: ``(h, w)`` float32 ``L`` in [0, 100] at the working resolution.
        ab: ``(h, w, 2)`` float32 ab (Lab units) at the same resolution.
        radius: window radius in pixels.
        epsilon: regularization; see :data:`EPSILON`.

    Returns:
        ``A`` and ``B``, each ``(h, w, 2)`` float32, already box-averaged (ready to upsample).
    """
    guide = lightness.astype(np.float32) * np.float32(0.01)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i * mean_i
    guide2 = guide[..., np.newaxis]
    mean_p = box(ab)
    cov_ip = box(ab * guide2) - mean_i[..., np.newaxis] * mean_p
    a = cov_ip / (var_i[..., np.newaxis] + np.float32(epsilon))
    b = mean_p - a * mean_i[..., np.newaxis]
    return box(a), box(b)


def guided_upsample_ab(
    lightness: np.ndarray,
    ab: np.ndarray,
    cell: float,
    radius_cells: float = RADIUS_CELLS,
    epsilon: float = EPSILON,
) -> np.ndarray:
    """Refine bilinearly upsampled ``ab`` along the edges of the full-resolution ``L``.

    Args:
        lightness: ``(H, W)`` float32 ``L`` in [0, 100].
        ab: ``(H, W, 2)`` float32 ab (Lab units), the bilinear upsampling of the prediction.
        cell: side, in pixels of this image, of one cell of the predicted ab grid (for a
            prediction ``h`` cells high: ``H / h``).
        radius_cells: window radius in cells; see :data:`RADIUS_CELLS`.
        epsilon: regularization; see :data:`EPSILON`.

    Returns:
        ``(H, W, 2)`` float32 refined ab.
    """
    height, width = lightness.shape
    scale = min(1.0, WORKING_SIDE / max(height, width))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1.0:
        small_l = cv2.resize(lightness, small_size, interpolation=cv2.INTER_AREA)
        small_ab = cv2.resize(ab, small_size, interpolation=cv2.INTER_AREA)
    else:
        small_l, small_ab = lightness, ab
    radius = max(1, round(radius_cells * cell * scale))
    a, b = guided_coefficients(small_l, small_ab, radius, epsilon)
    if scale < 1.0:
        a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    return a * (lightness.astype(np.float32) * np.float32(0.01))[..., np.newaxis] + b
