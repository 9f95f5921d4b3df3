"""Simulated colour hints revealed from the ground truth (the SIGGRAPH 2017 protocol).

A simulated user clicks ``n`` points; each reveals the mean ab of a square patch of the
ground truth (side drawn uniformly from ``patch_sizes``, 1..9 pixels by default) at a
uniformly random location, and the whole patch is filled with that mean in the hint map and
set to 1 in the mask. Where patches overlap the later one wins. Training draws ``n`` from a
geometric distribution (:func:`sample_hint_counts`); the evaluation sweeps fixed counts with
:func:`sample_nested_hints`, where the hints for ``n`` are the first ``n`` of one sequence so
that adding hints never removes one.

Everything is vectorized over the batch and the points (patch means from an integral image,
patches written with one scatter), and reproducible from a ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..color.hint_maps import HintMaps

#: Patch sides of the SIGGRAPH 2017 training, in pixels.
DEFAULT_PATCH_SIZES: tuple[int, ...] = tuple(range(1, 10))
#: Parameter of the geometric distribution of the number of hints in training (mean 7).
DEFAULT_HINT_PROBABILITY = 1.0 / 8.0


@dataclass(frozen=True)
class HintPoints:
    """Square patches to reveal, as parallel ``(N,)`` int64 tensors.

    Attributes:
        batch_index: which image of the batch each patch belongs to.
        top: row of the patch's top-left pixel.
        left: column of the patch's top-left pixel.
        size: side of the square patch in pixels.
    """

    batch_index: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    size: torch.Tensor

    def __len__(self) -> int:
        return int(self.size.numel())

    def select(self, index: torch.Tensor) -> HintPoints:
        """The points at ``index`` (an int64 index or bool mask), in that order."""
        return HintPoints(
            self.batch_index[index], self.top[index], self.left[index], self.size[index]
        )


def _uniform(count: int, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else "cpu"
    return torch.rand(count, generator=generator, device=device, dtype=torch.float64).cpu()


def sample_hint_counts(
    batch: int,
    generator: torch.Generator | None = None,
    p: float = DEFAULT_HINT_PROBABILITY,
    max_points: int | None = None,
) -> torch.Tensor:
    """Numbers of hint points for training: geometric, ``P(n = k) = p (1 - p) ** k``, k >= 0.

    Args:
        batch: how many counts to draw.
        p: probability of stopping before each further point (1/8 in the paper: mean 7).
        max_points: clip the counts at this value, or ``None``.

    Returns:
        ``(batch,)`` int64 counts.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p}")
    if p == 1.0:
        return torch.zeros(batch, dtype=torch.int64)
    uniform = _uniform(batch, generator).clamp(min=1e-300)
    counts = torch.floor(
        torch.log(uniform) / torch.log1p(torch.tensor(-p, dtype=torch.float64))
    ).long()
    return counts if max_points is None else counts.clamp(max=max_points)


def sample_hint_points(
    counts: Sequence[int] | torch.Tensor,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
    patch_sizes: Sequence[int] = DEFAULT_PATCH_SIZES,
) -> HintPoints:
    """Draw patch sizes and locations for ``counts[b]`` points in image ``b`` of a batch.

    Sizes are drawn uniformly from ``patch_sizes`` (clipped to the image), locations
    uniformly among the positions where the whole patch fits. Points are ordered by image,
    then in the order drawn.

    Returns:
        :class:`HintPoints` on the CPU.
    """
    counts = torch.as_tensor(counts, dtype=torch.int64).flatten()
    if bool((counts < 0).any()):
        raise ValueError(f"hint counts must be non-negative, got {counts.tolist()}")
    sizes = torch.as_tensor(list(patch_sizes), dtype=torch.int64)
    if sizes.numel() == 0 or bool((sizes < 1).any()):
        raise ValueError(f"patch sizes must be positive integers, got {list(patch_sizes)}")
    total = int(counts.sum())
    batch_index = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    draws = _uniform(3 * total, generator).view(3, total)
    size = sizes[(draws[0] * sizes.numel()).long().clamp(max=sizes.numel() - 1)]
    size = size.clamp(max=min(height, width))
    top = (draws[1] * (height - size + 1)).long().clamp(max=height - size)
    left = (draws[2] * (width - size + 1)).long().clamp(max=width - size)
    return HintPoints(batch_index, top, left, size)


def _patch_means(ab: torch.Tensor, points: HintPoints) -> torch.Tensor:
    """``(N, 2)`` mean ab of each patch, from an integral image of ``(B, 2, H, W)`` ab."""
    integral = F.pad(ab.double().cumsum(-1).cumsum(-2), (1, 0, 1, 0))
    b, top, left, size = (
        t.to(ab.device) for t in (points.batch_index, points.top, points.left, points.size)
    )
    bottom, right = top + size, left + size
    sums = (
        integral[b, :, bottom, right]
        - integral[b, :, top, right]
        - integral[b, :, bottom, left]
        + integral[b, :, top, left]
    )
    return (sums / (size * size).unsqueeze(1)).to(ab.dtype)


def reveal_hints(ab: torch.Tensor, points: HintPoints) -> HintMaps:
    """Fill each patch with the mean ground-truth ab inside it.

    Args:
        ab: ``(B, 2, H, W)`` ground-truth ab in Lab units.
        points: patches to reveal; where they overlap the later point wins.

    Returns:
        :class:`HintMaps` of tensors: ``(B, 2, H, W)`` ab (0 outside the patches) and
        ``(B, 1, H, W)`` mask (1 inside the patches, else 0), dtype and device of ``ab``.
    """
    batch, _, height, width = ab.shape
    hint_ab = torch.zeros(batch * height * width, 2, dtype=ab.dtype, device=ab.device)
    covered = torch.zeros(batch * height * width, dtype=torch.bool, device=ab.device)
    if len(points) > 0:
        means = _patch_means(ab, points)
        side = int(points.size.max())
        dy, dx = (
            o.flatten().to(ab.device)
            for o in torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        )
        b, top, left, size = (
            t.to(ab.device)[:, None]
            for t in (points.batch_index, points.top, points.left, points.size)
        )
        inside = (dy < size) & (dx < size)  # (N, side * side)
        pixel = ((b * height + top + dy) * width + left + dx)[inside]
        point_id = torch.arange(len(points), device=ab.device)[:, None].expand_as(inside)[inside]
        owner = torch.full((batch * height * width,), -1, dtype=torch.int64, device=ab.device)
        owner.scatter_reduce_(0, pixel, point_id, reduce="amax")
        covered = owner >= 0
        hint_ab[covered] = means[owner[covered]]
    hint_ab = hint_ab.view(batch, height, width, 2).permute(0, 3, 1, 2).contiguous()
    return HintMaps(hint_ab, covered.view(batch, 1, height, width).to(ab.dtype))


def sample_hints_batch(
    ab: torch.Tensor,
    n_points: int | Sequence[int] | torch.Tensor,
    generator: torch.Generator | None = None,
    patch_sizes: Sequence[int] = DEFAULT_PATCH_SIZES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated hints for a batch (training: pass ``sample_hint_counts(B, generator)``).

    Args:
        ab: ``(B, 2, H, W)`` ground-truth ab in Lab units.
        n_points: points per image: one int for all, or ``(B,)`` counts.
        generator: the source of randomness (any device), for reproducibility.
        patch_sizes: patch sides to draw from uniformly.

    Returns:
        :class:`HintMaps` ``(B, 2, H, W)`` ab and ``(B, 1, H, W)`` mask, like :func:`reveal_hints`.
    """
    batch, _, height, width = ab.shape
    counts = torch.as_tensor(n_points, dtype=torch.int64).flatten()
    if counts.numel() == 1:
        counts = counts.expand(batch)
    if counts.numel() != batch:
        raise ValueError(
            f"need one hint count per image: {counts.numel()} counts for {batch} images"
        )
    return reveal_hints(ab, sample_hint_points(counts, height, width, generator, patch_sizes))


def sample_hints(
    ab: torch.Tensor,
    n_points: int,
    generator: torch.Generator | None = None,
    patch_sizes: Sequence[int] = DEFAULT_PATCH_SIZES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated hints for one image.

    Args:
        ab: ``(2, H, W)`` ground-truth ab in Lab units.
        n_points: how many patches to reveal (>= 0).

    Returns:
        ``(hint_ab (2, H, W), hint_mask (1, H, W))``.
    """
    hint_ab, hint_mask = sample_hints_batch(ab.unsqueeze(0), n_points, generator, patch_sizes)
    return hint_ab[0], hint_mask[0]


def sample_nested_hints(
    ab: torch.Tensor,
    counts: Sequence[int],
    generator: torch.Generator | None = None,
    patch_sizes: Sequence[int] = DEFAULT_PATCH_SIZES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints for one image at several counts; the hints for ``n`` are the first ``n`` drawn.

    Args:
        ab: ``(2, H, W)`` (or ``(1, 2, H, W)``) ground-truth ab in Lab units.
        counts: ``K`` numbers of points, e.g. the sweep ``(0, 1, 2, 5, 10, 20, 50, 100)``.

    Returns:
        :class:`HintMaps` ``(K, 2, H, W)`` ab and ``(K, 1, H, W)`` mask: row ``k`` reveals ``counts[k]``
        points.
    """
    ab = ab.reshape(1, *ab.shape[-3:])
    height, width = ab.shape[-2:]
    drawn = sample_hint_points([max(counts, default=0)], height, width, generator, patch_sizes)
    order = (
        torch.cat([torch.arange(n) for n in counts])
        if counts
        else torch.zeros(0, dtype=torch.int64)
    )
    rows = torch.repeat_interleave(
        torch.arange(len(counts)), torch.as_tensor(list(counts), dtype=torch.int64)
    )
    chosen = drawn.select(order)
    points = HintPoints(rows, chosen.top, chosen.left, chosen.size)
    return reveal_hints(ab.expand(len(counts), -1, -1, -1), points)
