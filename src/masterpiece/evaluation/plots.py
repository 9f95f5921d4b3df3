"""The report's figures, drawn with matplotlib's object API (no pyplot state, no display).

Each function takes an :class:`~.results.EvaluationResult` and writes one PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MasterpieceError
from .results import EvaluationResult, ModelEvaluation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: SIGGRAPH 2017 mean RGB PSNR (dB) with N hints on 1000 ImageNet images at 256x256
#: (section 2 of the reference notes); drawn for context, not re-measured here.
SIGGRAPH17_PAPER_PSNR: dict[int, float] = {0: 24.43, 1: 25.37, 5: 27.39, 10: 28.42, 100: 31.13}
_GRAY_STYLE = {"color": "0.45", "linestyle": "--"}
_DPI = 110


def require_matplotlib() -> None:
    """Fail early, with the install hint, when matplotlib (the ``eval`` extra) is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise MasterpieceError(
            "the evaluation report needs matplotlib; install it with `pip install 'masterpiece[eval]'`"
        ) from error


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _styles(result: EvaluationResult) -> list[tuple[ModelEvaluation, dict[str, object]]]:
    """The baseline (dashed gray) and each model (colour ``C<k>``), with their line style."""
    return [(result.baseline, dict(_GRAY_STYLE))] + [
        (e, {"color": f"C{k}"}) for k, e in enumerate(result.models)
    ]


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def plot_accuracy_curves(result: EvaluationResult, path: Path) -> Path:
    """Raw and class-rebalanced accuracy versus ab threshold, every model and gray."""
    figure = _figure(10.0, 4.0)
    panels = figure.subplots(1, 2, sharey=True)
    for axes, curve_name, metric, title in (
        (panels[0], "raw_curve", "raw_auc", "Raw accuracy"),
        (panels[1], "rebalanced_curve", "rebalanced_auc", "Class-rebalanced accuracy"),
    ):
        for evaluation, style in _styles(result):
            curve = getattr(evaluation, curve_name) * 100.0
            label = f"{evaluation.label} (AuC {evaluation.summary[metric].mean:.1f})"
            axes.plot(np.arange(curve.size), curve, label=label, **style)
        axes.set(
            title=title, xlabel="threshold on ab error (Lab units)", xlim=(0, 150), ylim=(0, 100)
        )
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize="small")
    panels[0].set_ylabel("pixels within threshold (%)")
    return _save(figure, path)


def _colorfulness_bars(axes: Axes, result: EvaluationResult) -> None:
    rows = [("ground truth", result.ground_truth_colorfulness)]
    rows += [(e.label, e.summary["colorfulness"]) for e in result.evaluations]
    means = np.array([interval.mean for _, interval in rows])
    errors = np.array([[i.mean - i.low for _, i in rows], [i.high - i.mean for _, i in rows]])
    colors = ["black", "0.6", *[f"C{k}" for k in range(len(result.models))]]
    axes.bar(range(len(rows)), means, yerr=errors, capsize=4, color=colors)
    axes.set_xticks(range(len(rows)), [name for name, _ in rows], rotation=20, ha="right")
    axes.set(title="Mean colorfulness (95% interval)", ylabel="Hasler-Suesstrunk colorfulness")
    axes.grid(axis="y", alpha=0.3)


def _colorfulness_scatter(axes: Axes, result: EvaluationResult) -> None:
    truth = np.array([image.colorfulness for image in result.images])
    for k, evaluation in enumerate(result.models):
        axes.scatter(
            truth,
            evaluation.values("colorfulness"),
            s=14,
            alpha=0.7,
            color=f"C{k}",
            label=evaluation.label,
        )
    top = max(
        1.0, float(truth.max()), *(float(e.values("colorfulness").max()) for e in result.models)
    )
    axes.plot([0, top], [0, top], label="as colorful as the original", **_GRAY_STYLE)
    axes.set(
        title="Per image",
        xlabel="original",
        ylabel="prediction",
        xlim=(0, top * 1.05),
        ylim=(0, top * 1.05),
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")


def plot_colorfulness(result: EvaluationResult, path: Path) -> Path:
    """Mean colourfulness of originals, gray and models, and per-image prediction vs original."""
    figure = _figure(10.0, 4.0)
    bars, scatter = figure.subplots(1, 2)
    _colorfulness_bars(bars, result)
    _colorfulness_scatter(scatter, result)
    return _save(figure, path)


def plot_hint_sweep(result: EvaluationResult, path: Path) -> Path | None:
    """PSNR versus number of revealed hints for the models that had a sweep (else ``None``)."""
    swept = [e for e in result.models if e.hint_sweep]
    if not swept:
        return None
    figure = _figure(6.5, 4.0)
    axes = figure.subplots()
    for k, evaluation in enumerate(result.models):
        if not evaluation.hint_sweep:
            continue
        counts = np.array(list(evaluation.hint_sweep))
        intervals = list(evaluation.hint_sweep.values())
        axes.plot(
            counts, [i.mean for i in intervals], marker="o", color=f"C{k}", label=evaluation.label
        )
        axes.fill_between(
            counts,
            [i.low for i in intervals],
            [i.high for i in intervals],
            color=f"C{k}",
            alpha=0.2,
        )
    axes.axhline(result.baseline.summary["psnr"].mean, label="gray (no colour)", **_GRAY_STYLE)
    paper = list(SIGGRAPH17_PAPER_PSNR.items())
    axes.plot(
        *zip(*paper), linestyle=":", marker="s", color="0.2", label="SIGGRAPH17 paper (ImageNet)"
    )
    axes.set_xscale("symlog", linthresh=1.0)
    axes.set_xticks(list(swept[0].hint_sweep), [str(n) for n in swept[0].hint_sweep])
    axes.set(
        title="Hint sweep: hints revealed from the ground truth",
        xlabel="number of hints",
        ylabel="PSNR (dB)",
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _save(figure, path)
