"""Typed results of an evaluation run, and their machine-readable form.

:class:`EvaluationResult` holds, for the gray baseline and each model, the per-image scores,
the mean accuracy curves, means with bootstrap intervals, the paired gain over gray and the
hint sweep; :meth:`EvaluationResult.to_dict` is what ``metrics.json`` contains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..settings import DEFAULT_TEMPERATURE
from .data import SkippedFile
from .statistics import Interval

#: The per-image metrics, in report order: raw and class-rebalanced AuC (%), RGB PSNR (dB),
#: colourfulness of the prediction (Hasler and Suesstrunk), and the colour cast: the image's
#: mean predicted a and b minus the original's (``cast_a``, ``cast_b``, Lab units) and the
#: length of that vector (``color_cast``; for the gray baseline, the chroma of the mean colour).
METRICS: tuple[str, ...] = ("raw_auc", "rebalanced_auc", "psnr", "colorfulness", "color_cast", "cast_a", "cast_b")
#: Human-readable names of :data:`METRICS`.
METRIC_TITLES: dict[str, str] = {
    "raw_auc": "AuC raw (%)",
    "rebalanced_auc": "AuC rebalanced (%)",
    "psnr": "PSNR (dB)",
    "colorfulness": "Colorfulness",
    "color_cast": "Colour cast |mean Δab|",
    "cast_a": "Cast Δa",
    "cast_b": "Cast Δb",
}
#: Metrics where a higher value is better (colourfulness should rather match the original's).
HIGHER_IS_BETTER: frozenset[str] = frozenset({"raw_auc", "rebalanced_auc", "psnr"})
#: Metrics where a lower value is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"color_cast"})
#: Label of the gray baseline (ab = 0).
BASELINE_LABEL = "gray"


@dataclass(frozen=True)
class EvaluationSettings:
    """Everything that determines the numbers of a run (recorded in ``metrics.json``).

    Attributes:
        eval_size: long side, in pixels, every image is resized to before measuring (0: the
            original size). 256 matches the networks' input and the SIGGRAPH 2017 protocol.
        temperature: annealed-mean temperature of classification models.
        seed: seeds the simulated hints and the bootstrap.
        limit: evaluate at most this many usable images (``None``: all).
        hint_sweep: run the hint sweep for models that accept hints; ``None`` means yes.
        hint_counts: numbers of revealed hints in the sweep.
        resamples: bootstrap resamples per interval.
        confidence: coverage of the intervals.
        rebalance_mix: share of the uniform distribution in the rebalancing prior
            (0: the plain inverse prior).
        device: torch device the models run on.
        thumbnail_size: long side of the thumbnails kept for the report.
    """

    eval_size: int = 256
    temperature: float = DEFAULT_TEMPERATURE
    seed: int = 0
    limit: int | None = None
    hint_sweep: bool | None = None
    hint_counts: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100)
    resamples: int = 2000
    confidence: float = 0.95
    rebalance_mix: float = 0.0
    device: str = "cpu"
    thumbnail_size: int = 192

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hint_counts"] = list(self.hint_counts)
        return data


@dataclass
class ImageScores:
    """One model's scores on one image (see :data:`METRICS`).

    ``hint_psnr`` maps a number of revealed hints to the PSNR with them (empty without a
    hint sweep).
    """

    raw_auc: float
    rebalanced_auc: float
    psnr: float
    colorfulness: float
    color_cast: float = 0.0
    cast_a: float = 0.0
    cast_b: float = 0.0
    hint_psnr: dict[int, float] = field(default_factory=dict)

    def metric(self, name: str) -> float:
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: self.metric(name) for name in METRICS}
        if self.hint_psnr:
            data["hint_psnr"] = {str(n): value for n, value in self.hint_psnr.items()}
        return data


@dataclass
class ModelEvaluation:
    """Results of one colorizer (or the gray baseline) over all images.

    Attributes:
        label: unique name in the report (the registry name, with the weights file when
            several runs share a name; ``"gray"`` for the baseline).
        model: registry name, or ``None`` for the baseline.
        weights: where the weights came from (a path, a registered file name, or
            ``"random initialization"``), ``None`` for the baseline.
        weights_sha256: sha256 of those weights, when there is a file.
        accepts_hints: whether the model takes colour hints.
        scores: one :class:`ImageScores` per evaluated image, in image order.
        raw_curve: ``(151,)`` mean raw accuracy per threshold 0..150, in [0, 1].
        rebalanced_curve: ``(151,)`` mean class-rebalanced accuracy per threshold.
        summary: mean and interval of each metric of :data:`METRICS`.
        gain: paired mean difference to the gray baseline per metric (``None`` for gray).
        hint_sweep: PSNR mean and interval per number of hints (``None`` without a sweep).
        thumbnails: ``(h, w, 3)`` uint8 prediction per image, for the report only.
    """

    label: str
    model: str | None
    weights: str | None
    weights_sha256: str | None
    accepts_hints: bool
    scores: list[ImageScores]
    raw_curve: np.ndarray
    rebalanced_curve: np.ndarray
    summary: dict[str, Interval]
    gain: dict[str, Interval] | None = None
    hint_sweep: dict[int, Interval] | None = None
    thumbnails: list[np.ndarray] = field(default_factory=list, repr=False)

    def values(self, metric: str) -> np.ndarray:
        """``(n_images,)`` float64 values of one metric."""
        return np.array([s.metric(metric) for s in self.scores], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "accepts_hints": self.accepts_hints,
            "summary": {name: interval.to_dict() for name, interval in self.summary.items()},
            "gain_over_gray": None
            if self.gain is None
            else {k: v.to_dict() for k, v in self.gain.items()},
            "hint_sweep": None
            if self.hint_sweep is None
            else [
                {"hints": n, "psnr": interval.to_dict()} for n, interval in self.hint_sweep.items()
            ],
            "accuracy_curve": {
                "thresholds": list(range(len(self.raw_curve))),
                "raw": [float(v) for v in self.raw_curve],
                "rebalanced": [float(v) for v in self.rebalanced_curve],
            },
        }


@dataclass
class ImageRecord:
    """An evaluated image.

    Attributes:
        name: path relative to the data folder.
        original_size: ``(width, height)`` of the file.
        eval_size: ``(width, height)`` it was measured at.
        colorfulness: colourfulness of the ground truth.
        thumbnail: ``(h, w, 3)`` uint8 ground truth, for the report only.
    """

    name: str
    original_size: tuple[int, int]
    eval_size: tuple[int, int]
    colorfulness: float
    thumbnail: np.ndarray = field(repr=False)


@dataclass
class Provenance:
    """What produced the numbers: package version, git commit, prior."""

    package_version: str
    commit: str | None
    commit_dirty: bool | None
    prior_source: str
    prior: np.ndarray = field(repr=False)


@dataclass
class EvaluationResult:
    """Everything an evaluation run measured; :meth:`to_dict` is ``metrics.json``.

    Attributes:
        data_dir: the folder evaluated.
        settings: the settings used.
        images: the evaluated images, in order (scores are aligned with it).
        skipped: files passed over, with the reason.
        ground_truth_colorfulness: mean and interval of the originals' colourfulness.
        baseline: the gray prediction (ab = 0) on the same images.
        models: the models, in the order given.
        provenance: version, commit and colour prior.
    """

    data_dir: str
    settings: EvaluationSettings
    images: list[ImageRecord]
    skipped: list[SkippedFile]
    ground_truth_colorfulness: Interval
    baseline: ModelEvaluation
    models: list[ModelEvaluation]
    provenance: Provenance

    def ground_truth_summary(self) -> dict[str, str]:
        """The metrics that apply to the originals themselves, formatted (colourfulness only)."""
        return {"colorfulness": self.ground_truth_colorfulness.format()}

    @property
    def evaluations(self) -> list[ModelEvaluation]:
        """The baseline followed by the models."""
        return [self.baseline, *self.models]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (plain lists, dicts, strings and finite floats)."""
        evaluations = self.evaluations
        return {
            "package": {"name": "masterpiece", "version": self.provenance.package_version},
            "commit": self.provenance.commit,
            "commit_dirty": self.provenance.commit_dirty,
            "settings": self.settings.to_dict(),
            "data": {
                "dir": self.data_dir,
                "evaluated": len(self.images),
                "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
            },
            "prior": {
                "source": self.provenance.prior_source,
                "bins": "masterpiece.color.quantize.gamut_bin_centers() (ab grid step 10)",
                "mix": self.settings.rebalance_mix,
                "values": [float(v) for v in self.provenance.prior],
            },
            "ground_truth": {"colorfulness": self.ground_truth_colorfulness.to_dict()},
            "baseline": self.baseline.to_dict(),
            "models": [m.to_dict() for m in self.models],
            "images": [
                {
                    "name": image.name,
                    "original_size": list(image.original_size),
                    "eval_size": list(image.eval_size),
                    "colorfulness_true": image.colorfulness,
                    "scores": {e.label: e.scores[i].to_dict() for e in evaluations},
                }
                for i, image in enumerate(self.images)
            ],
        }
