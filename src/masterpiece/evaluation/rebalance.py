"""Class rebalancing for the evaluation: a colour prior over ab bins and per-pixel weights.

The class-rebalanced accuracy weights each pixel by the inverse prior probability of the ab
bin its ground-truth colour falls into, so that rare colours count as much as common ones.

Bins: the evaluation always uses :func:`~masterpiece.color.quantize.gamut_bin_centers` (262
cells of step 10 that sRGB colours reach), whatever the model under test predicts over: the
313 bins of the published ECCV16 model are only available with its weights, and one fixed set
of bins keeps the numbers comparable between models. The prior is the histogram of the
ground-truth ab of the evaluation images themselves unless one is given, smoothed by a
Gaussian of sigma 5 (as for training). The weights are ``((1 - mix) * prior + mix / Q) ** -1``
with ``mix = 0`` by default: the plain inverse prior.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ..color.quantize import (
    bin_histogram,
    gamut_bin_centers,
    nearest_bin,
    rebalancing_weights,
    smooth_prior,
)
from ..errors import InvalidInputError

#: Default ``mix`` (the paper's lambda) of the evaluation weights: 0 is the plain inverse prior.
EVAL_REBALANCE_MIX = 0.0
#: Smallest prior probability used when inverting, so a bin a given prior never saw does
#: not get an infinite weight.
PRIOR_FLOOR = 1e-12


def evaluation_bins() -> torch.Tensor:
    """``(Q, 2)`` ab bin centres of the evaluation prior (:func:`gamut_bin_centers`, Q = 262)."""
    return gamut_bin_centers()


def prior_from_ab(
    ab_maps: Iterable[torch.Tensor], bins: torch.Tensor | None = None
) -> torch.Tensor:
    """Smoothed colour prior of ground-truth ab maps.

    Args:
        ab_maps: ``(B, 2, H, W)`` ab tensors in Lab units (e.g. one per evaluation image).
        bins: ``(Q, 2)`` bin centres; :func:`evaluation_bins` when ``None``.

    Returns:
        ``(Q,)`` float64 probabilities summing to 1.
    """
    bins = evaluation_bins() if bins is None else bins
    counts = torch.zeros(bins.shape[0], dtype=torch.float64)
    for ab in ab_maps:
        counts += bin_histogram(ab.cpu(), bins)
    return smooth_prior(counts, bins)


def pixel_weights(
    true_ab: torch.Tensor,
    prior: torch.Tensor,
    bins: torch.Tensor | None = None,
    mix: float = EVAL_REBALANCE_MIX,
) -> torch.Tensor:
    """Per-pixel rebalancing weights from the ground truth's nearest bin.

    Args:
        true_ab: ``(B, 2, H, W)`` ground-truth ab in Lab units.
        prior: ``(Q,)`` probabilities over ``bins``.
        bins: ``(Q, 2)`` bin centres; :func:`evaluation_bins` when ``None``.
        mix: share of the uniform distribution mixed into the prior (0 = inverse prior).

    Returns:
        ``(B, H, W)`` float32 weights, their expectation under ``prior`` being 1.
    """
    bins = evaluation_bins() if bins is None else bins
    prior = prior.double()
    per_bin = rebalancing_weights(prior.clamp(min=PRIOR_FLOOR), mix).double()
    # normalized again under the prior itself: the floor lifts bins the prior never reaches,
    # and under the lifted prior those would hold part of the expectation (E[w] < 1)
    per_bin = (per_bin / (prior * per_bin).sum()).float().to(true_ab.device)
    return per_bin[nearest_bin(true_ab.float(), bins.to(true_ab.device))]


def check_prior(values: np.ndarray | torch.Tensor, source: str) -> torch.Tensor:
    """Validate a prior over :func:`evaluation_bins` and normalize it to sum 1.

    Raises:
        InvalidInputError: wrong length, negative or non-finite values, or all zero.
    """
    try:
        prior = torch.as_tensor(np.asarray(values, dtype=np.float64)).flatten()
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            f"the prior in {source} is not a list of numbers: {error}"
        ) from error
    expected = evaluation_bins().shape[0]
    if prior.numel() != expected:
        raise InvalidInputError(
            f"the prior in {source} has {prior.numel()} values; the evaluation bins "
            f"(gamut_bin_centers(), step 10) need {expected}"
        )
    if not bool(torch.isfinite(prior).all()) or bool((prior < 0).any()) or float(prior.sum()) <= 0:
        raise InvalidInputError(
            f"the prior in {source} must be non-negative finite numbers, not all zero"
        )
    return prior / prior.sum()


def load_prior(path: str | Path) -> torch.Tensor:
    """Read a colour prior over :func:`evaluation_bins` from a file.

    Accepted: a ``.npy`` array of Q numbers; a ``.json`` list of Q numbers; or a previous
    report's ``metrics.json`` (its ``prior.values``), to evaluate another data set against
    the same prior.

    Returns:
        ``(Q,)`` float64 probabilities summing to 1.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            values = data["prior"]["values"] if isinstance(data, dict) else data
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(
            f"cannot read a colour prior from {path}: {error}; give a .npy array, a JSON list "
            "or a metrics.json written by `masterpiece evaluate`"
        ) from error
    return check_prior(values, str(path))
