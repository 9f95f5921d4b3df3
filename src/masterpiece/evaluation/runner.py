"""The evaluation loop: colorize the L of colour photographs and compare with the originals.

For every usable image (see :mod:`.data`), the gray baseline (ab = 0) and each model predict
ab from ``L`` alone, through :meth:`masterpiece.pipeline.image.Colorizer.predict_ab` (the
path users get); models that accept hints are also run with 1, 2, 5, ... hints revealed from
the ground truth (:mod:`.hints`). Per-image scores (:mod:`.metrics`, with the rebalancing of
:mod:`.rebalance`) are averaged over images with bootstrap intervals (:mod:`.statistics`);
the gain over gray is the paired per-image difference.

Aggregates are means over images (each image counts once whatever its size); the mean
accuracy curve is the mean of the per-image curves, so its area equals the mean AuC.
Deterministic: hints are seeded from ``seed`` and the image name, the bootstrap from ``seed``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from .._version import __version__
from ..color.hint_maps import HintMaps
from ..color.lab import lab_to_rgb
from ..color.quantize import check_temperature
from ..errors import ConfigError
from .data import EvalImage, SkippedFile, list_candidate_files, load_eval_images, resize_long_side
from .hints import sample_nested_hints
from .metrics import (
    AUC_MAX_THRESHOLD,
    accuracy_curve,
    auc_from_curve,
    color_cast,
    colorfulness,
    psnr,
)
from .provenance import git_commit
from .rebalance import pixel_weights, prior_from_ab
from .results import (
    BASELINE_LABEL,
    METRICS,
    EvaluationResult,
    EvaluationSettings,
    ImageRecord,
    ImageScores,
    ModelEvaluation,
    Provenance,
)
from .statistics import Interval, bootstrap_interval, resample_indices

logger = logging.getLogger(__name__)


class AbPredictor(Protocol):
    """Anything that predicts full-resolution ab from L (and optional hints), like ``Colorizer``."""

    def predict_ab(self, lightness: torch.Tensor, hints: HintMaps | None = None) -> torch.Tensor:
        """``(B, 1, H, W)`` L in [0, 100] (+ hint maps ``(B, 2, H, W)`` ab, ``(B, 1, H, W)`` mask,
        tensors) -> ``(B, 2, H, W)`` ab."""
        ...


class GrayPredictor:
    """The gray baseline: ab = 0 everywhere, whatever the input."""

    def predict_ab(self, lightness: torch.Tensor, hints: HintMaps | None = None) -> torch.Tensor:
        return lightness.new_zeros(lightness.shape[0], 2, *lightness.shape[-2:])


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate.

    Attributes:
        name: registry name (``masterpiece models list``).
        weights: a local weights file instead of the registered weights.
        pretrained: load weights at all (``False``: random initialization, for tests).
    """

    name: str
    weights: Path | None = None
    pretrained: bool = True


@dataclass
class Candidate:
    """A predictor under evaluation and what the report says about it."""

    label: str
    predictor: AbPredictor
    accepts_hints: bool = False
    model: str | None = None
    weights: str | None = None
    weights_sha256: str | None = None


def check_settings(settings: EvaluationSettings) -> None:
    """Raise :class:`ConfigError` for settings out of range."""
    check_temperature(settings.temperature)
    if settings.eval_size != 0 and settings.eval_size < 16:
        raise ConfigError(
            f"--eval-size must be 0 (original size) or at least 16 pixels, got {settings.eval_size}"
        )
    if settings.limit is not None and settings.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {settings.limit}")
    if any(n < 0 for n in settings.hint_counts) or len(set(settings.hint_counts)) != len(
        settings.hint_counts
    ):
        raise ConfigError(
            f"hint counts must be distinct non-negative integers, got {list(settings.hint_counts)}"
        )
    if settings.resamples < 1 or not 0.0 < settings.confidence < 1.0:
        raise ConfigError("the bootstrap needs at least 1 resample and a confidence in (0, 1)")
    if not 0.0 <= settings.rebalance_mix <= 1.0:
        raise ConfigError(f"rebalance mix must be in [0, 1], got {settings.rebalance_mix}")
    if settings.thumbnail_size < 8:
        raise ConfigError(
            f"thumbnail size must be at least 8 pixels, got {settings.thumbnail_size}"
        )


def build_candidate(spec: ModelSpec, settings: EvaluationSettings) -> Candidate:
    """Create the model of ``spec`` and wrap it in the user-facing ``Colorizer``."""
    from ..models import create_model, get_model_info, sha256_of
    from ..pipeline.image import Colorizer

    info = get_model_info(spec.name)
    model = create_model(spec.name, pretrained=spec.pretrained, weights=spec.weights)
    colorizer = Colorizer(
        model, size=info.input_size, temperature=settings.temperature, device=settings.device,
        spread_hints=info.spreads_hints,
    )
    if spec.weights is not None:
        weights, sha256 = str(spec.weights), sha256_of(spec.weights)
    elif spec.pretrained and info.weights is not None:
        weights, sha256 = info.weights.filename, info.weights.sha256
    else:
        weights, sha256 = "random initialization", None
    label = spec.name if spec.weights is None else f"{spec.name} ({Path(spec.weights).name})"
    return Candidate(
        label, colorizer, bool(getattr(model, "accepts_hints", False)), spec.name, weights, sha256
    )


def _unique_labels(candidates: Sequence[Candidate]) -> None:
    seen: dict[str, int] = {BASELINE_LABEL: 1}
    for candidate in candidates:
        count = seen.get(candidate.label, 0) + 1
        seen[candidate.label] = count
        if count > 1:
            candidate.label = f"{candidate.label} #{count}"


def hint_seed(seed: int, image_name: str) -> int:
    """Seed of the simulated hints of one image: stable across runs, subsets and platforms."""
    digest = hashlib.sha256(f"{seed}:{image_name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def thumbnail(rgb: torch.Tensor, size: int) -> np.ndarray:
    """``(1, 3, H, W)`` RGB in [0, 1] -> ``(h, w, 3)`` uint8 with long side ``size`` (or less)."""
    small = resize_long_side(rgb, min(size, max(rgb.shape[-2:])))
    return (small[0].clamp(0.0, 1.0) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()


def _to_rgb(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    return lab_to_rgb(torch.cat((lightness, ab.to(lightness)), dim=1))


@dataclass
class _Accumulator:
    """Per-image scores and curve sums of one candidate while the loop runs."""

    candidate: Candidate
    sweep_counts: tuple[int, ...]
    scores: list[ImageScores] = field(default_factory=list)
    thumbnails: list[np.ndarray] = field(default_factory=list)
    raw_sum: torch.Tensor = field(
        default_factory=lambda: torch.zeros(AUC_MAX_THRESHOLD + 1, dtype=torch.float64)
    )
    rebalanced_sum: torch.Tensor = field(
        default_factory=lambda: torch.zeros(AUC_MAX_THRESHOLD + 1, dtype=torch.float64)
    )

    def predict(self, image: EvalImage, hints: HintMaps | None = None) -> torch.Tensor:
        batch = 1 if hints is None else hints.ab.shape[0]
        lightness = image.lightness.expand(batch, -1, -1, -1)
        with torch.inference_mode():
            ab = self.candidate.predictor.predict_ab(lightness, hints).float().cpu()
        if ab.shape != (batch, 2, *lightness.shape[-2:]):
            raise RuntimeError(
                f"{self.candidate.label} returned ab of shape {tuple(ab.shape)} for L of shape {tuple(lightness.shape)}"
            )
        return ab

    def add(self, image: EvalImage, weights: torch.Tensor, settings: EvaluationSettings) -> None:
        pred_ab = self.predict(image)
        pred_rgb = _to_rgb(image.lightness, pred_ab)
        raw = accuracy_curve(pred_ab, image.ab)
        rebalanced = accuracy_curve(pred_ab, image.ab, weights)
        self.raw_sum += raw
        self.rebalanced_sum += rebalanced
        scores = ImageScores(
            raw_auc=auc_from_curve(raw),
            rebalanced_auc=auc_from_curve(rebalanced),
            psnr=psnr(pred_rgb, image.rgb),
            colorfulness=colorfulness(pred_rgb),
            **color_cast(pred_ab, image.ab),
        )
        if self.sweep_counts:
            scores.hint_psnr = self._hint_psnr(image, scores.psnr, settings.seed)
        self.scores.append(scores)
        self.thumbnails.append(thumbnail(pred_rgb, settings.thumbnail_size))

    def _hint_psnr(self, image: EvalImage, automatic_psnr: float, seed: int) -> dict[int, float]:
        """PSNR per hint count; 0 hints is the automatic prediction already made."""
        hinted = [n for n in self.sweep_counts if n > 0]
        by_count = {0: automatic_psnr}
        if hinted:
            generator = torch.Generator().manual_seed(hint_seed(seed, image.name))
            pred_ab = self.predict(image, sample_nested_hints(image.ab, hinted, generator))
            pred_rgb = _to_rgb(image.lightness.expand(len(hinted), -1, -1, -1), pred_ab)
            by_count.update({n: psnr(pred_rgb[k : k + 1], image.rgb) for k, n in enumerate(hinted)})
        return {n: by_count[n] for n in self.sweep_counts}

    def finish(self, indices: np.ndarray, settings: EvaluationSettings) -> ModelEvaluation:
        n_images = len(self.scores)
        evaluation = ModelEvaluation(
            label=self.candidate.label,
            model=self.candidate.model,
            weights=self.candidate.weights,
            weights_sha256=self.candidate.weights_sha256,
            accepts_hints=self.candidate.accepts_hints,
            scores=self.scores,
            raw_curve=(self.raw_sum / n_images).numpy(),
            rebalanced_curve=(self.rebalanced_sum / n_images).numpy(),
            summary={},
            thumbnails=self.thumbnails,
        )
        evaluation.summary = {
            m: _interval(evaluation.values(m), indices, settings) for m in METRICS
        }
        if self.sweep_counts:
            evaluation.hint_sweep = {
                n: _interval(np.array([s.hint_psnr[n] for s in self.scores]), indices, settings)
                for n in self.sweep_counts
            }
        return evaluation


def _interval(values: np.ndarray, indices: np.ndarray, settings: EvaluationSettings) -> Interval:
    return bootstrap_interval(values, indices, settings.confidence)


def _sweep_counts(candidate: Candidate, settings: EvaluationSettings) -> tuple[int, ...]:
    if settings.hint_sweep is False or not candidate.accepts_hints:
        if settings.hint_sweep and candidate.label != BASELINE_LABEL:
            logger.warning("%s does not accept colour hints: no hint sweep for it", candidate.label)
        return ()
    return tuple(sorted(settings.hint_counts))


def evaluate_candidates(
    images: Sequence[EvalImage],
    candidates: Sequence[Candidate],
    settings: EvaluationSettings | None = None,
    *,
    prior: torch.Tensor | None = None,
    prior_source: str | None = None,
    skipped: Sequence[SkippedFile] = (),
    data_dir: str = "",
    progress: bool = False,
) -> EvaluationResult:
    """Score the gray baseline and ``candidates`` on already loaded images.

    Args:
        images: the evaluation images (at least one).
        candidates: the predictors to compare; labels are made unique in place.
        settings: see :class:`EvaluationSettings` (defaults when ``None``); ``eval_size`` and
            ``limit`` are recorded but the images are taken as given.
        prior: ``(Q,)`` colour prior over the evaluation bins; from ``images`` when ``None``.
        prior_source: how the prior was obtained, for the report.
        skipped: files passed over while loading, for the report.
        data_dir: the folder the images came from, for the report.
        progress: show a progress bar (on a terminal).

    Returns:
        The :class:`EvaluationResult`.
    """
    settings = settings or EvaluationSettings()
    check_settings(settings)
    if not images:
        raise ValueError("evaluate_candidates needs at least one image")
    _unique_labels(candidates)
    if prior is None:
        prior, prior_source = prior_from_ab(image.ab for image in images), "the evaluation images"
    baseline = Candidate(BASELINE_LABEL, GrayPredictor())
    accumulators = [_Accumulator(c, _sweep_counts(c, settings)) for c in (baseline, *candidates)]
    with tqdm(
        total=len(images), unit="image", desc="evaluate", disable=None if progress else True
    ) as bar:
        for image in images:
            weights = pixel_weights(image.ab, prior, mix=settings.rebalance_mix)
            for accumulator in accumulators:
                accumulator.add(image, weights, settings)
            bar.update()
    indices = resample_indices(len(images), settings.resamples, settings.seed)
    evaluations = [a.finish(indices, settings) for a in accumulators]
    for evaluation in evaluations[1:]:
        evaluation.gain = {
            m: _interval(evaluation.values(m) - evaluations[0].values(m), indices, settings)
            for m in METRICS
        }
    records = [_record(image, settings.thumbnail_size) for image in images]
    commit, dirty = git_commit()
    return EvaluationResult(
        data_dir=data_dir,
        settings=settings,
        images=records,
        skipped=list(skipped),
        ground_truth_colorfulness=_interval(
            np.array([r.colorfulness for r in records]), indices, settings
        ),
        baseline=evaluations[0],
        models=evaluations[1:],
        provenance=Provenance(
            __version__, commit, dirty, prior_source or "given", prior.double().numpy()
        ),
    )


def _record(image: EvalImage, thumbnail_size: int) -> ImageRecord:
    height, width = image.rgb.shape[-2:]
    return ImageRecord(
        name=image.name,
        original_size=image.original_size,
        eval_size=(int(width), int(height)),
        colorfulness=colorfulness(image.rgb),
        thumbnail=thumbnail(image.rgb, thumbnail_size),
    )


def evaluate(
    data_dir: str | Path,
    models: Sequence[ModelSpec | str],
    settings: EvaluationSettings | None = None,
    *,
    prior: torch.Tensor | None = None,
    prior_source: str | None = None,
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate registered models on the colour photographs of ``data_dir``.

    The folder is checked first, then the models are created (and their weights verified),
    then the images are read: a bad folder, model name or weights file fails at once.

    Args:
        data_dir: folder of colour photographs (see :mod:`.data` for what is skipped).
        models: registry names or :class:`ModelSpec` (at least one).
        settings: see :class:`EvaluationSettings` (defaults when ``None``).
        prior: ``(Q,)`` colour prior (e.g. from :func:`.rebalance.load_prior`); computed
            from the evaluation images when ``None``.
        prior_source: where ``prior`` came from, for the report.
        progress: show a progress bar.

    Raises:
        ConfigError: settings out of range or no model.
        InvalidInputError: ``data_dir`` is not a folder.
        DataError: no usable image.
        ModelError: unknown model, missing or wrong weights.
    """
    settings = settings or EvaluationSettings()
    check_settings(settings)
    if not models:
        raise ConfigError("name at least one model to evaluate (--model NAME)")
    specs = [ModelSpec(m) if isinstance(m, str) else m for m in models]
    list_candidate_files(data_dir)  # a missing or empty folder fails before any model loads
    candidates = [build_candidate(spec, settings) for spec in specs]
    images, skipped = load_eval_images(data_dir, settings.eval_size, settings.limit)
    logger.info("evaluating %d images (%d skipped) from %s", len(images), len(skipped), data_dir)
    return evaluate_candidates(
        images,
        candidates,
        settings,
        prior=prior,
        prior_source=prior_source,
        skipped=skipped,
        data_dir=str(data_dir),
        progress=progress,
    )
