"""Simulated user hints for training (SIGGRAPH 2017), on top of the evaluation's simulation."""

from __future__ import annotations

import torch

from ..color.hint_maps import HintMaps
from ..evaluation.hints import sample_hint_counts, sample_hints_batch


def simulate_hints(
    true_ab: torch.Tensor,
    generator: torch.Generator,
    hint_probability: float = 0.5,
    geometric_p: float = 0.125,
    max_patch: int = 9,
) -> HintMaps:
    """Random hints for a training batch.

    Each image gets no hint with probability ``1 - hint_probability`` (so the automatic mode
    keeps being trained), otherwise ``1 + G`` hints with ``G`` geometric of parameter
    ``geometric_p`` (mean ``1 / p``); each reveals the mean ab of a square patch of side
    ``1..max_patch`` of the ground truth.

    Args:
        true_ab: ``(B, 2, H, W)`` ground-truth ab (Lab units).

    Returns:
        :class:`HintMaps` of tensors: ``(B, 2, H, W)`` ab and ``(B, 1, H, W)`` mask.
    """
    batch = true_ab.shape[0]
    hinted = torch.rand(batch, generator=generator) < hint_probability
    counts = torch.where(hinted, 1 + sample_hint_counts(batch, generator, geometric_p), 0)
    return sample_hints_batch(true_ab, counts, generator, tuple(range(1, max_patch + 1)))
