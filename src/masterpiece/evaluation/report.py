"""Write an evaluation report folder: ``metrics.json``, ``metrics.csv``, ``report.html``.

Next to the page: ``plots/*.png`` (matplotlib) and ``thumbnails/*.jpg`` (the input, each
model's prediction and the ground truth of the best and worst images of each model, ranked
by PSNR). The page is static, self-describing HTML with relative links: open it in any
browser, or copy the folder elsewhere.
"""

from __future__ import annotations

import csv
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputError, OutputExistsError
from . import plots
from .results import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRIC_TITLES,
    METRICS,
    EvaluationResult,
    ModelEvaluation,
)
from .statistics import Interval

logger = logging.getLogger(__name__)

JSON_NAME = "metrics.json"
CSV_NAME = "metrics.csv"
HTML_NAME = "report.html"
#: Best and worst images shown per model.
DEFAULT_EXAMPLES = 4
#: The metric that ranks images for the examples.
RANKING_METRIC = "psnr"
_JPEG_QUALITY = 85


@dataclass(frozen=True)
class ReportPaths:
    """The files of a written report."""

    directory: Path
    json: Path
    csv: Path
    html: Path


def check_report_dir(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuse a folder that already holds a report unless ``overwrite`` (call before a long run).

    Raises:
        OutputExistsError: a report is there and ``overwrite`` is false.
        OutputError: the path exists and is not a folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder; choose another --out")
    existing = [name for name in (JSON_NAME, CSV_NAME, HTML_NAME) if (out_dir / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out_dir} already holds a report ({', '.join(existing)}); pass --overwrite or choose another --out"
        )
    return out_dir


def write_json(result: EvaluationResult, path: Path) -> Path:
    """``metrics.json``: :meth:`EvaluationResult.to_dict`, strict JSON (no NaN or infinity)."""
    path.write_text(
        json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return path


def write_csv(result: EvaluationResult, path: Path) -> Path:
    """``metrics.csv``: one row per image and model (the baseline is the model ``gray``).

    ``colorfulness`` is the prediction's, ``colorfulness_true`` the original's;
    ``psnr_hints_N`` is filled for the models that had a hint sweep.
    """
    counts = sorted({n for e in result.models if e.hint_sweep for n in e.hint_sweep})
    header = ["image", "model", *METRICS, "colorfulness_true", *(f"psnr_hints_{n}" for n in counts)]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for index, image in enumerate(result.images):
            for evaluation in result.evaluations:
                scores = evaluation.scores[index]
                hinted = [scores.hint_psnr.get(n, "") for n in counts]
                writer.writerow(
                    [
                        image.name,
                        evaluation.label,
                        *(scores.metric(m) for m in METRICS),
                        image.colorfulness,
                        *hinted,
                    ]
                )
    return path


def _save_jpeg(pixels: np.ndarray, path: Path) -> str:
    Image.fromarray(pixels).save(path, format="JPEG", quality=_JPEG_QUALITY)
    return f"{path.parent.name}/{path.name}"


def ranked_examples(evaluation: ModelEvaluation, count: int) -> tuple[list[int], list[int]]:
    """Indices of the ``count`` best and worst images by :data:`RANKING_METRIC` (no overlap)."""
    order = np.argsort(-evaluation.values(RANKING_METRIC), kind="stable").tolist()
    best = order[:count]
    worst = [i for i in reversed(order) if i not in best][:count]
    return best, worst


def _figure_html(pixels: np.ndarray, path: Path, caption: str) -> str:
    src, text = html.escape(_save_jpeg(pixels, path)), html.escape(caption)
    return f'<figure><img src="{src}" alt="{text}"><figcaption>{text}</figcaption></figure>'


def _example_row(result: EvaluationResult, index: int, folder: Path) -> str:
    """Input, every model's prediction side by side, then the ground truth, of one image."""
    image = result.images[index]
    figures = [
        _figure_html(
            result.baseline.thumbnails[index], folder / f"{index:04d}_input.jpg", "input (L only)"
        )
    ]
    for k, evaluation in enumerate(result.models):
        scores = evaluation.scores[index]
        caption = (
            f"{evaluation.label}: {scores.psnr:.1f} dB, rebal. AuC {scores.rebalanced_auc:.1f}, "
            f"cast {scores.color_cast:.1f} (Δa {scores.cast_a:+.1f}, Δb {scores.cast_b:+.1f})"
        )
        figures.append(
            _figure_html(
                evaluation.thumbnails[index], folder / f"{index:04d}_model{k}.jpg", caption
            )
        )
    figures.append(_figure_html(image.thumbnail, folder / f"{index:04d}_truth.jpg", "ground truth"))
    gray = result.baseline.scores[index]
    facts = (
        f"gray: {gray.psnr:.1f} dB, rebal. AuC {gray.rebalanced_auc:.1f}, cast {gray.color_cast:.1f} · "
        f"colorfulness of the original {image.colorfulness:.1f}"
    )
    return f'<div class="example"><h4>{html.escape(image.name)}</h4><p>{html.escape(facts)}</p>{"".join(figures)}</div>'


def _examples_section(result: EvaluationResult, folder: Path, count: int) -> str:
    parts = [
        "<h2>Best and worst images</h2>",
        f"<p>For each model, its {count} best and worst images by PSNR; every model's prediction is shown.</p>",
    ]
    for evaluation in result.models:
        best, worst = ranked_examples(evaluation, count)
        for title, indices in (("best", best), ("worst", worst)):
            if indices:
                rows = "".join(_example_row(result, i, folder) for i in indices)
                parts.append(
                    f'<h3>{html.escape(evaluation.label)}: {title}</h3><div class="examples">{rows}</div>'
                )
    return "\n".join(parts)


def _summary_table(result: EvaluationResult) -> str:
    header = "".join(f"<th>{html.escape(METRIC_TITLES[m])}</th>" for m in METRICS)
    truth = "".join(f"<td>{result.ground_truth_summary().get(m, '')}</td>" for m in METRICS)
    rows = [f"<tr><th>ground truth</th>{truth}</tr>"]
    for evaluation in result.evaluations:
        cells = "".join(f"<td>{evaluation.summary[m].format()}</td>" for m in METRICS)
        rows.append(f"<tr><th>{html.escape(evaluation.label)}</th>{cells}</tr>")
        if evaluation.gain is not None:
            gains = "".join(
                f'<td class="gain">{_gain_html(m, evaluation.gain[m])}</td>' for m in METRICS
            )
            rows.append(f'<tr class="gain"><th>gain over gray</th>{gains}</tr>')
    return f"<table><tr><th></th>{header}</tr>{''.join(rows)}</table>"


def _gain_html(metric: str, gain: Interval) -> str:
    """The gain with a verdict where higher (or, for the colour cast, lower) is better.

    Colourfulness should rather match the original's, and the signed cast components have
    no better direction: they get no verdict.
    """
    if metric not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return gain.format(signed=True)
    better, worse = (gain.low > 0, gain.high < 0) if metric in HIGHER_IS_BETTER else (gain.high < 0, gain.low > 0)
    verdict = "better" if better else "worse" if worse else "within noise"
    return f"{gain.format(signed=True)} <small>{verdict}</small>"


def _headline(result: EvaluationResult) -> str:
    cards = []
    for evaluation in result.models:
        if evaluation.gain is None:
            continue
        gain = evaluation.gain["rebalanced_auc"]
        cards.append(
            f'<div class="card"><div class="model">{html.escape(evaluation.label)}</div>'
            f'<div class="big">{gain.mean:+.1f}</div><div>rebalanced AuC points over gray '
            f"(95% interval {gain.low:+.1f} to {gain.high:+.1f})</div>"
            f'<div class="small">PSNR {evaluation.summary["psnr"].mean:.2f} dB vs gray '
            f"{result.baseline.summary['psnr'].mean:.2f} dB · colour cast "
            f"{evaluation.summary['color_cast'].mean:.1f} vs gray "
            f"{result.baseline.summary['color_cast'].mean:.1f}</div></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _plots_section(result: EvaluationResult, folder: Path) -> str:
    figures = [
        ("Accuracy versus threshold", plots.plot_accuracy_curves(result, folder / "accuracy.png")),
        ("Colorfulness", plots.plot_colorfulness(result, folder / "colorfulness.png")),
        ("Hint sweep", plots.plot_hint_sweep(result, folder / "hint_sweep.png")),
    ]
    parts = []
    for title, path in figures:
        if path is not None:
            src = html.escape(f"{folder.name}/{path.name}")
            parts.append(f'<h2>{title}</h2><img class="plot" src="{src}" alt="{title}">')
    return "\n".join(parts)


def _models_section(result: EvaluationResult) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(e.label)}</td><td>{html.escape(str(e.model))}</td>"
        f"<td>{html.escape(str(e.weights))}</td><td><code>{html.escape(str(e.weights_sha256))}</code></td></tr>"
        for e in result.models
    )
    return (
        f"<table><tr><th>label</th><th>model</th><th>weights</th><th>sha256</th></tr>{rows}</table>"
    )


def _skipped_section(result: EvaluationResult) -> str:
    if not result.skipped:
        return "<p>No file was skipped.</p>"
    items = "".join(
        f"<li><code>{html.escape(s.name)}</code>: {html.escape(s.reason)}</li>"
        for s in result.skipped
    )
    return f"<p>{len(result.skipped)} files were skipped:</p><ul>{items}</ul>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}tr.gain td,tr.gain th{color:#555;font-size:.9em;background:#fafafa}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:8px;padding:1em;min-width:14em}
.big{font-size:2.4em;font-weight:bold}.model{font-weight:bold}.small{color:#666;font-size:.9em}
img.plot{max-width:100%}.examples{display:flex;flex-direction:column;gap:.8em}
.example figure{display:inline-block;margin:0 .4em 0 0;text-align:center}
.example figcaption{font-size:.8em;color:#555}.example h4{margin:.2em 0}.example p{margin:.2em 0;font-size:.9em}
code{font-size:.85em}
"""


def write_html(result: EvaluationResult, out_dir: Path, examples: int = DEFAULT_EXAMPLES) -> Path:
    """``report.html`` with its plots and thumbnails, written into ``out_dir``."""
    plot_dir, thumb_dir = out_dir / "plots", out_dir / "thumbnails"
    plot_dir.mkdir(exist_ok=True)
    thumb_dir.mkdir(exist_ok=True)
    settings = result.settings
    provenance = result.provenance
    commit = provenance.commit or "not a git checkout"
    if provenance.commit_dirty:
        commit += " (with uncommitted changes)"
    size = "original size" if settings.eval_size == 0 else f"long side {settings.eval_size} px"
    body = f"""<h1>Colorization quality</h1>
<p>{len(result.images)} colour photographs from <code>{html.escape(result.data_dir)}</code>, turned to gray
({html.escape(size)}), colorized and compared with the originals. Means over images with
{settings.confidence:.0%} bootstrap intervals; the gray baseline (ab = 0) ran on the same images.</p>
{_headline(result)}
<h2>Summary</h2>{_summary_table(result)}
<p class="small">AuC: share of pixels whose ab error is within 0..150 Lab units, averaged over the
thresholds; rebalanced: pixels weighted by the inverse frequency of their true colour in
{html.escape(provenance.prior_source)}. PSNR on RGB (capped at 100 dB). Colorfulness: Hasler and Suesstrunk 2003.</p>
{_plots_section(result, plot_dir)}
{_examples_section(result, thumb_dir, examples)}
<h2>Models</h2>{_models_section(result)}
<h2>Skipped files</h2>{_skipped_section(result)}
<h2>Reproduce</h2>
<p>masterpiece {html.escape(provenance.package_version)}, commit <code>{html.escape(commit)}</code>.
Settings: <code>{html.escape(json.dumps(settings.to_dict()))}</code>.
Numbers: <a href="{JSON_NAME}">{JSON_NAME}</a>, <a href="{CSV_NAME}">{CSV_NAME}</a>.</p>"""
    path = out_dir / HTML_NAME
    title = "Masterpiece evaluation: " + ", ".join(e.label for e in result.models)
    path.write_text(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n",
        encoding="utf-8",
    )
    return path


def write_report(
    result: EvaluationResult,
    out_dir: str | Path,
    overwrite: bool = False,
    examples: int = DEFAULT_EXAMPLES,
) -> ReportPaths:
    """Write the JSON, CSV and HTML report of ``result`` into ``out_dir`` (created if needed).

    Raises:
        OutputExistsError: ``out_dir`` already holds a report and ``overwrite`` is false.
        OutputError: the files cannot be written.
    """
    plots.require_matplotlib()
    out_dir = check_report_dir(out_dir, overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(
            directory=out_dir,
            json=write_json(result, out_dir / JSON_NAME),
            csv=write_csv(result, out_dir / CSV_NAME),
            html=write_html(result, out_dir, examples),
        )
    except OSError as error:
        raise OutputError(f"cannot write the report into {out_dir}: {error}") from error
    logger.info("report written to %s", paths.html)
    return paths
