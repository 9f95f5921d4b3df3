"""Measure colorization quality: the paper's metrics, simulated hints, the runner and its report.

::

    from masterpiece.evaluation import EvaluationSettings, evaluate, write_report

    result = evaluate("photos/", ["compact"], EvaluationSettings(limit=10))
    write_report(result, "report/")

The hint simulation (:func:`sample_hints`, :func:`sample_hints_batch`,
:func:`sample_hint_counts`) is shared with training.
"""

from .hints import sample_hint_counts, sample_hints, sample_hints_batch, sample_nested_hints
from .metrics import PSNR_CAP_DB, accuracy_auc, accuracy_curve, colorfulness, psnr
from .rebalance import load_prior, pixel_weights, prior_from_ab
from .report import write_report
from .results import EvaluationResult, EvaluationSettings, ImageScores, ModelEvaluation
from .runner import ModelSpec, evaluate, evaluate_candidates
from .statistics import Interval, bootstrap_interval

__all__ = [
    "PSNR_CAP_DB",
    "EvaluationResult",
    "EvaluationSettings",
    "ImageScores",
    "Interval",
    "ModelEvaluation",
    "ModelSpec",
    "accuracy_auc",
    "accuracy_curve",
    "bootstrap_interval",
    "colorfulness",
    "evaluate",
    "evaluate_candidates",
    "load_prior",
    "pixel_weights",
    "prior_from_ab",
    "psnr",
    "sample_hint_counts",
    "sample_hints",
    "sample_hints_batch",
    "sample_nested_hints",
    "write_report",
]
