"""Colorization quality metrics for one image (the paper's protocol, section 5 of the reference notes).

- :func:`accuracy_curve` / :func:`accuracy_auc`: fraction of pixels whose ab error is within
  ``t = 0..150`` Lab units, and the area under that curve in percent. With per-pixel weights
  from :mod:`.rebalance` this is the class-rebalanced variant.
- :func:`psnr`: RGB peak signal-to-noise ratio, capped at :data:`PSNR_CAP_DB`.
- :func:`colorfulness`: Hasler and Suesstrunk (2003) colourfulness of an RGB image.
"""

from __future__ import annotations

import math

import torch

#: AuC thresholds on the ab L2 error, in Lab units (0..150 inclusive, as in the paper).
AUC_MAX_THRESHOLD = 150

#: PSNR of a perfect prediction. An infinite value would make means and intervals useless, so
#: the mean squared error is floored at ``10 ** (-PSNR_CAP_DB / 10)`` (an RMS error of 1e-5 in
#: RGB units: below the float32 round-off of a Lab round trip).
PSNR_CAP_DB = 100.0


def accuracy_curve(
    pred_ab: torch.Tensor,
    true_ab: torch.Tensor,
    pixel_weights: torch.Tensor | None = None,
    max_threshold: int = AUC_MAX_THRESHOLD,
) -> torch.Tensor:
    """Fraction of pixels whose ab error is within each threshold ``t = 0..max_threshold``.

    A pixel counts at threshold ``t`` when its L2 ab error is ``<= t``. Computed from a
    histogram of the rounded-up errors, so memory stays linear in the number of pixels.

    Args:
        pred_ab: ``(*, 2, H, W)`` predicted ab (Lab units).
        true_ab: ``(*, 2, H, W)`` ground-truth ab.
        pixel_weights: ``(*, H, W)`` non-negative weights (class rebalancing), or ``None``.
        max_threshold: the largest threshold, in Lab units.

    Returns:
        ``(max_threshold + 1,)`` float64 accuracies in [0, 1], non-decreasing.
    """
    error = (pred_ab.double() - true_ab.double()).pow(2).sum(dim=-3).sqrt().flatten()
    weights = torch.ones_like(error) if pixel_weights is None else pixel_weights.double().flatten()
    # error <= t  <=>  ceil(error) <= t for integer t; errors above the last threshold go to
    # an overflow bin that no threshold reaches.
    first_threshold = error.ceil().clamp(max=max_threshold + 1).long()
    counts = torch.bincount(first_threshold, weights=weights, minlength=max_threshold + 2)
    return counts[: max_threshold + 1].cumsum(0) / weights.sum().clamp(min=1e-12)


def auc_from_curve(curve: torch.Tensor) -> float:
    """Area under an :func:`accuracy_curve`, normalized to 0..100 % (the mean over thresholds)."""
    return float(curve.double().mean() * 100.0)


def accuracy_auc(
    pred_ab: torch.Tensor,
    true_ab: torch.Tensor,
    pixel_weights: torch.Tensor | None = None,
    max_threshold: int = AUC_MAX_THRESHOLD,
) -> float:
    """Area under :func:`accuracy_curve`, normalized to 0..100 %.

    The curve is averaged over the thresholds ``0..max_threshold`` (the paper's discrete
    area). A perfect prediction scores 100.
    """
    return auc_from_curve(accuracy_curve(pred_ab, true_ab, pixel_weights, max_threshold))


def psnr(pred_rgb: torch.Tensor, true_rgb: torch.Tensor, cap_db: float = PSNR_CAP_DB) -> float:
    """Peak signal-to-noise ratio of RGB images in [0, 1] (peak 1), in dB.

    Args:
        pred_rgb: ``(*, 3, H, W)`` float RGB in [0, 1].
        true_rgb: same shape.
        cap_db: the value returned for a perfect (or near-perfect) prediction; see
            :data:`PSNR_CAP_DB`.

    Returns:
        ``10 log10(1 / MSE)`` over all pixels and channels, at most ``cap_db``.
    """
    if pred_rgb.shape != true_rgb.shape:
        raise ValueError(f"shapes differ: {tuple(pred_rgb.shape)} and {tuple(true_rgb.shape)}")
    mse = float((pred_rgb.double() - true_rgb.double()).pow(2).mean())
    return min(cap_db, -10.0 * math.log10(max(mse, 10.0 ** (-cap_db / 10.0))))


def colorfulness(rgb: torch.Tensor) -> float:
    """Hasler and Suesstrunk (2003) colourfulness ``M`` of one RGB image.

    With ``rg = R - G`` and ``yb = (R + G) / 2 - B`` on the 0..255 scale,
    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)`` (population
    standard deviations over all pixels). 0 for a gray image; the paper calls about 15
    "slightly", 33 "moderately", 59 "quite" and 82 "highly" colourful.

    Args:
        rgb: ``(3, H, W)`` (or ``(1, 3, H, W)``) float RGB in [0, 1].
    """
    red, green, blue = (255.0 * rgb.double()).reshape(3, -1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = torch.sqrt(rg.var(unbiased=False) + yb.var(unbiased=False))
    offset = torch.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * offset)


def color_cast(pred_ab: torch.Tensor, true_ab: torch.Tensor) -> dict[str, float]:
    """The colour cast of a prediction: its mean ab minus the original's, and that vector's length.

    Args:
        pred_ab, true_ab: ``(1, 2, H, W)`` ab in Lab units.

    Returns:
        ``{"cast_a", "cast_b", "color_cast"}`` in Lab units (a gray prediction's cast is the
        chroma of the original's mean colour).
    """
    offset = pred_ab.double().mean(dim=(0, 2, 3)) - true_ab.double().mean(dim=(0, 2, 3))
    return {
        "cast_a": float(offset[0]),
        "cast_b": float(offset[1]),
        "color_cast": float(torch.linalg.vector_norm(offset)),
    }
