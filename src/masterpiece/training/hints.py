"""Simulated user hints for training (SIGGRAPH 2017): revealed patches of the true colour."""

from __future__ import annotations

import torch


def reveal_patches(
    true_ab: torch.Tensor,
    counts: list[int],
    generator: torch.Generator,
    max_patch: int = 9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reveal the mean ab of random square patches of the ground truth.

    Args:
        true_ab: ``(B, 2, H, W)`` ground-truth ab (Lab units).
        counts: number of hint points for each image of the batch.
        generator: source of randomness (locations and sizes).
        max_patch: patch sides are uniform in ``1..max_patch`` pixels.

    Returns:
        ``(hint_ab (B, 2, H, W), hint_mask (B, 1, H, W))``: the patch mean ab where revealed, 0
        elsewhere, and 1 on revealed pixels.
    """
    batch, _, height, width = true_ab.shape
    hint_ab = torch.zeros_like(true_ab)
    hint_mask = true_ab.new_zeros(batch, 1, height, width)
    for index, count in enumerate(counts):
        for _ in range(count):
            side = int(torch.randint(1, max_patch + 1, (), generator=generator))
            top = int(torch.randint(0, height - side + 1, (), generator=generator))
            left = int(torch.randint(0, width - side + 1, (), generator=generator))
            patch = (slice(top, top + side), slice(left, left + side))
            hint_ab[index, :, patch[0], patch[1]] = true_ab[index, :, patch[0], patch[1]].mean(dim=(1, 2), keepdim=True)
            hint_mask[index, :, patch[0], patch[1]] = 1.0
    return hint_ab, hint_mask


def sample_hint_counts(
    batch: int, generator: torch.Generator, hint_probability: float = 0.5, geometric_p: float = 0.125
) -> list[int]:
    """How many hints each image gets: 0 with probability ``1 - hint_probability``, otherwise
    geometric with success probability ``geometric_p`` (support 1, 2, ...; mean ``1 / p``)."""
    counts = []
    for _ in range(batch):
        if float(torch.rand((), generator=generator)) >= hint_probability:
            counts.append(0)
            continue
        uniform = float(torch.rand((), generator=generator))
        counts.append(1 + int(torch.log1p(torch.tensor(-uniform)) / torch.log1p(torch.tensor(-geometric_p))))
    return counts
