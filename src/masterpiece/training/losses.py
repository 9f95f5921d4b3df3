"""The paper's objective: rebalanced cross-entropy on soft-encoded ab, plus a regression term."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..color.quantize import (
    BinLookup,
    bin_histogram,
    downsample_ab,
    rebalancing_weights,
    smooth_prior,
)
from ..models import AB_SCALE, ColorPrediction


def class_prior_from_ab(ab_batches: list[torch.Tensor], centers: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """The smoothed empirical distribution of ab over the bins.

    Args:
        ab_batches: ``(B, 2, H, W)`` ab tensors covering the training data.
        centers: ``(Q, 2)`` bin centres.
        sigma: Gaussian smoothing width in ab units (5 in the paper).

    Returns:
        ``(Q,)`` float64 prior summing to 1.
    """
    counts = sum(bin_histogram(ab, centers) for ab in ab_batches)
    return smooth_prior(counts, centers, sigma)


class ColorizationLoss(nn.Module):
    """Class-rebalanced multinomial cross-entropy with soft targets, plus smooth-L1 on ab.

    Args:
        centers: ``(Q, 2)`` bin centres of the model.
        prior: ``(Q,)`` smoothed prior of the training data.
        rebalance_mix: lambda of the rebalancing (1/2 in the paper); 1 disables rebalancing.
        neighbors, sigma: soft-encoding parameters (5 bins, sigma 5).
        regression_weight: weight of the smooth-L1 term on the regression head (0 = off).
    """

    def __init__(
        self,
        centers: torch.Tensor,
        prior: torch.Tensor,
        rebalance_mix: float = 0.5,
        neighbors: int = 5,
        sigma: float = 5.0,
        regression_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.register_buffer("centers", centers.float())
        self.register_buffer("class_weights", rebalancing_weights(prior, rebalance_mix))
        self.lookup = BinLookup(centers, neighbors)
        self.sigma = sigma
        self.regression_weight = regression_weight

    def forward(self, prediction: ColorPrediction, true_ab: torch.Tensor) -> dict[str, torch.Tensor]:
        """Losses for ``true_ab`` ``(B, 2, H, W)`` at the input resolution.

        Returns:
            ``{"loss": total, "classification": ..., "regression": ...}`` scalars.
        """
        losses: dict[str, torch.Tensor] = {}
        total = true_ab.new_zeros(())
        if prediction.logits is not None:
            logits = prediction.logits.float()
            target_ab = downsample_ab(true_ab, true_ab.shape[-1] // logits.shape[-1])
            indices, weights = self.lookup.soft_encode(target_ab, self.sigma)
            log_probabilities = F.log_softmax(logits, dim=1)
            cross_entropy = -(log_probabilities.gather(1, indices) * weights).sum(1)  # (B, h, w)
            pixel_weights = self.class_weights[indices[:, 0]]
            losses["classification"] = (cross_entropy * pixel_weights).mean()
            total = total + losses["classification"]
        if prediction.ab is not None and self.regression_weight > 0:
            predicted = prediction.ab.float()
            target_ab = downsample_ab(true_ab, true_ab.shape[-1] // predicted.shape[-1])
            losses["regression"] = F.smooth_l1_loss(predicted / AB_SCALE, target_ab / AB_SCALE, beta=1 / 11)
            total = total + self.regression_weight * losses["regression"]
        losses["loss"] = total
        return losses
