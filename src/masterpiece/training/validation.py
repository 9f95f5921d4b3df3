"""The per-epoch validation pass, through the evaluation module (the same numbers as
``masterpiece evaluate`` at the same settings, without the hint sweep or report)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from ..evaluation.data import EvalImage, load_eval_images
from ..evaluation.results import EvaluationSettings
from ..evaluation.runner import Candidate, evaluate_candidates
from ..models import ColorizationModel
from ..pipeline.image import Colorizer


@dataclass
class ValidationResult:
    """Means over the validation images; ``gray_*`` is the ab = 0 baseline on the same images.

    AuC values are percentages (rebalanced with the plain inverse prior of the validation
    images, as in the paper), colorfulness is Hasler and Suesstrunk's.
    """

    auc_raw: float
    auc_rebalanced: float
    colorfulness: float
    gray_auc_raw: float
    gray_auc_rebalanced: float
    ground_truth_colorfulness: float
    images: int

    @property
    def score(self) -> float:
        """What checkpoint selection maximizes: rebalanced plus raw AuC."""
        return self.auc_raw + self.auc_rebalanced

    def to_dict(self) -> dict:
        return asdict(self) | {"score": self.score}


@lru_cache(maxsize=2)
def _validation_images(folder: str, limit: int, size: int) -> tuple[EvalImage, ...]:
    images, _ = load_eval_images(folder, size, limit)
    return tuple(images)


def validate(model: ColorizationModel, folder: str, limit: int = 90, size: int = 256) -> ValidationResult:
    """Colorize each validation image automatically (no hints) and score it against the original."""
    images = _validation_images(str(folder), limit, size)
    was_training = model.training
    device = next(model.parameters()).device
    settings = EvaluationSettings(eval_size=size, limit=limit, hint_sweep=False, resamples=1, device=str(device))
    colorizer = Colorizer(model, temperature=settings.temperature, device=device, precision="fp32")
    try:
        result = evaluate_candidates(images, [Candidate("model", colorizer)], settings)
    finally:
        model.train(was_training)
    summary, gray = result.models[0].summary, result.baseline.summary
    return ValidationResult(
        auc_raw=summary["raw_auc"].mean,
        auc_rebalanced=summary["rebalanced_auc"].mean,
        colorfulness=summary["colorfulness"].mean,
        gray_auc_raw=gray["raw_auc"].mean,
        gray_auc_rebalanced=gray["rebalanced_auc"].mean,
        ground_truth_colorfulness=result.ground_truth_colorfulness.mean,
        images=len(images),
    )
