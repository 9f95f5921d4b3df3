"""Quantized ab space: bin centres, soft encoding, class rebalancing and annealed-mean decoding.

The paper quantizes the ab plane on a grid of step 10 and keeps the bins sRGB colours fall
into. Each trained model stores its own bin centres (the published ECCV16 model keeps 313 in
its ``model_out`` layer); functions here take the centres as an argument.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from ..settings import DEFAULT_TEMPERATURE
from .annealed import MIN_TEMPERATURE, check_temperature
from .lab import rgb_to_lab

__all__ = [
    "MIN_TEMPERATURE",
    "BinLookup",
    "bin_histogram",
    "check_temperature",
    "decode_annealed_mean",
    "downsample_ab",
    "gamut_bin_centers",
    "nearest_bin",
    "rebalancing_weights",
    "smooth_prior",
    "soft_encode",
    "soft_encode_dense",
]

GRID_STEP = 10.0


@lru_cache(maxsize=4)
def _gamut_bin_centers(step: float, samples_per_channel: int) -> torch.Tensor:
    levels = torch.linspace(0.0, 1.0, samples_per_channel)
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    rgb = torch.stack((r, g, b)).reshape(3, -1, 1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).T
    cells = torch.round(ab / step).long()
    offset = int(cells.abs().max()) + 1
    keys = torch.unique((cells[:, 0] + offset) * (2 * offset + 1) + (cells[:, 1] + offset))  # sorted
    a, b = keys // (2 * offset + 1) - offset, keys % (2 * offset + 1) - offset
    return (torch.stack((a, b), dim=1) * step).float()


def gamut_bin_centers(step: float = GRID_STEP, samples_per_channel: int = 128) -> torch.Tensor:
    """The ab grid bins that some sRGB colour falls into (262 for the defaults).

    Samples the RGB cube on a regular grid (``samples_per_channel ** 3`` colours), converts
    to Lab and keeps each ab grid cell that received a sample. Deterministic and cached.

    Returns:
        ``(Q, 2)`` float32 centres in Lab units, sorted by ``a`` then ``b``.
    """
    return _gamut_bin_centers(float(step), int(samples_per_channel)).clone()


def _squared_distances(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)`` ab and ``(Q, 2)`` centres -> ``(B, H, W, Q)`` squared distances."""
    points = ab.movedim(1, -1)  # (B, H, W, 2)
    centers = centers.to(device=ab.device, dtype=ab.dtype)
    return (points.unsqueeze(-2) - centers).pow(2).sum(-1)


def nearest_bin(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin centre: ``(B, 2, H, W)`` ab -> ``(B, H, W)`` int64."""
    return _squared_distances(ab, centers).argmin(-1)


def soft_encode(
    ab: torch.Tensor, centers: torch.Tensor, neighbors: int = 5, sigma: float = 5.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-encode ab over its nearest bins with a Gaussian kernel (the paper's target).

    Args:
        ab: ``(B, 2, H, W)`` ab in Lab units.
        centers: ``(Q, 2)`` bin centres.
        neighbors: how many nearest centres share the mass (5 in the paper).
        sigma: Gaussian kernel width in ab units (5 in the paper).

    Returns:
        ``(indices, weights)``, both ``(B, neighbors, H, W)``: the bin indices and their
        weights, which sum to 1 over dim 1. Use :func:`soft_encode_dense` for the full
        ``(B, Q, H, W)`` distribution.
    """
    distances = _squared_distances(ab, centers)
    nearest_sq, indices = distances.topk(neighbors, dim=-1, largest=False)
    weights = torch.softmax(-nearest_sq / (2 * sigma**2), dim=-1)
    return indices.movedim(-1, 1), weights.movedim(-1, 1)


def soft_encode_dense(
    ab: torch.Tensor, centers: torch.Tensor, neighbors: int = 5, sigma: float = 5.0
) -> torch.Tensor:
    """Like :func:`soft_encode`, as a dense ``(B, Q, H, W)`` distribution."""
    indices, weights = soft_encode(ab, centers, neighbors, sigma)
    batch, _, height, width = ab.shape
    dense = torch.zeros(batch, centers.shape[0], height, width, dtype=weights.dtype, device=ab.device)
    return dense.scatter_(1, indices, weights)


class BinLookup:
    """Precomputed nearest bins on a 1-unit ab grid: fast soft encoding for training.

    ``soft_encode`` searches all ``Q`` centres for every pixel; this table stores, for each
    integer ab in [-128, 127], its ``neighbors`` nearest centres, so a lookup replaces the
    search (exact up to the rounding of ab to integers). Weights use exact distances.

    Args:
        centers: ``(Q, 2)`` bin centres in Lab units.
        neighbors: how many nearest centres each table entry keeps.
    """

    EXTENT = 128

    def __init__(self, centers: torch.Tensor, neighbors: int = 5) -> None:
        self.centers = centers.float()
        grid = torch.arange(-self.EXTENT, self.EXTENT, dtype=torch.float32)
        a, b = torch.meshgrid(grid, grid, indexing="ij")
        points = torch.stack((a, b)).unsqueeze(0)  # (1, 2, 256, 256)
        self.table = _squared_distances(points, self.centers).topk(neighbors, dim=-1, largest=False).indices[0]

    def neighbors_of(self, ab: torch.Tensor) -> torch.Tensor:
        """``(B, 2, H, W)`` ab -> ``(B, neighbors, H, W)`` bin indices, nearest first."""
        cells = (ab.round().long() + self.EXTENT).clamp(0, 2 * self.EXTENT - 1)
        return self.table.to(ab.device)[cells[:, 0], cells[:, 1]].movedim(-1, 1)

    def soft_encode(self, ab: torch.Tensor, sigma: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Same result as :func:`soft_encode` (up to integer rounding of the neighbour search)."""
        indices = self.neighbors_of(ab)
        nearest_centers = self.centers.to(ab.device)[indices].movedim(-1, 1)  # (B, 2, k, H, W)
        squared = (nearest_centers - ab.unsqueeze(2)).pow(2).sum(1)
        return indices, torch.softmax(-squared / (2 * sigma**2), dim=1)


def decode_annealed_mean(
    logits: torch.Tensor, centers: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE
) -> torch.Tensor:
    """Annealed mean of a distribution over ab bins (PyTorch; the NumPy version used at
    inference is :func:`masterpiece.color.annealed.annealed_mean`).

    ``f_T(z) = softmax(log z / T)``, then the expectation over the bin centres; with logits
    this is ``softmax(logits / T)``. ``T = 1`` is the plain mean, ``T -> 0`` the mode.

    Args:
        logits: ``(B, Q, H, W)`` unnormalized log-probabilities.
        centers: ``(Q, 2)`` bin centres in Lab units.
        temperature: in (0, 10].

    Returns:
        ``(B, 2, H, W)`` ab in Lab units.
    """
    temperature = check_temperature(temperature)
    probabilities = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", probabilities, centers.to(probabilities))


def bin_histogram(ab: torch.Tensor, centers: torch.Tensor, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Count pixels per nearest bin: ``(B, 2, H, W)`` ab -> ``(Q,)`` float64 counts."""
    indices = nearest_bin(ab, centers).flatten()
    weights = None if pixel_weights is None else pixel_weights.flatten().double()
    return torch.bincount(indices, weights=weights, minlength=centers.shape[0]).double()


def smooth_prior(counts: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Normalize bin counts and smooth them with a Gaussian over ab (sigma in ab units).

    Returns:
        ``(Q,)`` float64 probabilities summing to 1.
    """
    counts = counts.double()
    if float(counts.sum()) <= 0:
        raise ValueError("cannot build a colour prior from zero pixels")
    probabilities = counts / counts.sum()
    centers = centers.double()
    kernel = torch.exp(-torch.cdist(centers, centers).pow(2) / (2 * sigma**2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    smoothed = kernel.T @ probabilities
    return smoothed / smoothed.sum()


def rebalancing_weights(prior: torch.Tensor, mix: float = 0.5) -> torch.Tensor:
    """Class-rebalancing weights from a smoothed prior (the paper's lambda = ``mix``).

    ``w ∝ ((1 - mix) * prior + mix / Q) ** -1``, normalized so that ``sum(prior * w) = 1``.

    Returns:
        ``(Q,)`` float32 weights.
    """
    prior = prior.double()
    weights = 1.0 / ((1.0 - mix) * prior + mix / prior.numel())
    weights = weights / (prior * weights).sum()
    return weights.float()


def downsample_ab(ab: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool ``(B, 2, H, W)`` ab by ``factor`` (the targets at the network's output size)."""
    return ab if factor == 1 else F.avg_pool2d(ab, factor)
