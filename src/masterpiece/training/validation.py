"""The per-epoch validation pass: AuC of the model on a folder of colour photographs."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from ..color.lab import rgb_to_lab
from ..color.quantize import bin_histogram, gamut_bin_centers, nearest_bin, rebalancing_weights, smooth_prior
from ..errors import DataError, InvalidImageError
from ..evaluation.metrics import accuracy_auc
from ..models._base import ColorizationModel
from ..pipeline.io import iter_image_files, read_image

logger = logging.getLogger(__name__)


@dataclass
class ValidationResult:
    """Mean AuC (percent) over the validation images, and the gray baseline on the same images."""

    auc_raw: float
    auc_rebalanced: float
    gray_auc_raw: float
    gray_auc_rebalanced: float
    images: int

    @property
    def score(self) -> float:
        """What checkpoint selection maximizes: rebalanced plus raw AuC."""
        return self.auc_raw + self.auc_rebalanced

    def to_dict(self) -> dict:
        return asdict(self) | {"score": self.score}


@lru_cache(maxsize=2)
def _load_validation_lab(folder: str, limit: int, size: int) -> tuple[torch.Tensor, ...]:
    """Validation images as Lab ``(1, 3, h, w)`` tensors, long side ``size``, cached."""
    images = []
    for path in list(iter_image_files(Path(folder)))[:limit]:
        try:
            loaded = read_image(path)
        except InvalidImageError as error:
            logger.warning("validation: skipping %s", error)
            continue
        rgb = torch.from_numpy(loaded.rgb).permute(2, 0, 1)[None]
        scale = size / max(rgb.shape[-2:])
        rgb = F.interpolate(rgb, scale_factor=scale, mode="area", recompute_scale_factor=False)
        images.append(rgb_to_lab(rgb.clamp(0, 1)))
    if not images:
        raise DataError(f"no readable validation images in {folder}")
    return tuple(images)


@torch.no_grad()
def validate(model: ColorizationModel, folder: str, limit: int = 90, size: int = 256) -> ValidationResult:
    """Colorize each validation image automatically (no hints) and measure AuC against it.

    The rebalancing prior is computed from the validation images themselves.
    """
    images = _load_validation_lab(str(folder), limit, size)
    centers = gamut_bin_centers()
    prior = smooth_prior(sum(bin_histogram(lab[:, 1:], centers) for lab in images), centers)
    class_weights = rebalancing_weights(prior)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(4, dtype=torch.float64)
    for lab in images:
        lab = lab.to(device)
        lightness, true_ab = lab[:, :1], lab[:, 1:]
        network_input = F.interpolate(lightness, size=(size, size), mode="bilinear", align_corners=False)
        ab = model(network_input)
        ab = F.interpolate(ab, size=lab.shape[-2:], mode="bilinear", align_corners=False)
        pixel_weights = class_weights.to(device)[nearest_bin(true_ab, centers)]
        gray = torch.zeros_like(true_ab)
        sums += torch.tensor([
            accuracy_auc(ab, true_ab), accuracy_auc(ab, true_ab, pixel_weights),
            accuracy_auc(gray, true_ab), accuracy_auc(gray, true_ab, pixel_weights),
        ], dtype=torch.float64)
    model.train(was_training)
    means = (sums / len(images)).tolist()
    return ValidationResult(*means, images=len(images))
