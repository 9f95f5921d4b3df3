"""``masterpiece evaluate``: measure colorization quality on colour photographs.

::

    masterpiece evaluate [--model NAME [--weights FILE] ...] --data DIR
                         [--out REPORT_DIR] [--limit N] [--eval-size PX] [--seed S]
                         [--temperature T] [--hint-sweep | --no-hint-sweep] [--prior FILE]
                         [--device DEV] [--overwrite]

Each photograph is turned to gray, colorized and compared with the original; the gray
baseline runs on the same images. Without ``--model`` the default model is evaluated, the one
``colorize`` uses (the best whose weights are on this machine), and its name is printed.
Writes ``metrics.json``, ``metrics.csv`` and ``report.html`` into the report folder and
prints a summary table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..settings import DEFAULT_TEMPERATURE
from .main import EXIT_OK

if TYPE_CHECKING:
    from ..evaluation.results import EvaluationResult

DEFAULT_OUT = "evaluation-report"


class _ModelAction(argparse.Action):
    """``--model NAME``: append ``[NAME, None]`` to the list of ``(name, weights)`` pairs."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(
            namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), [values, None]]
        )


class _WeightsAction(argparse.Action):
    """``--weights FILE``: attach ``FILE`` to the ``--model`` given just before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        pairs = getattr(namespace, self.dest, None)
        if not pairs:
            parser.error("--weights FILE must follow the --model NAME it belongs to")
        if pairs[-1][1] is not None:
            parser.error(
                f"--model {pairs[-1][0]} has two --weights; give one weights file per --model"
            )
        pairs[-1][1] = Path(values)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` verb."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure colorization quality against colour originals, write a report",
        description="Turn colour photographs to gray, colorize them and compare with the originals: "
        "raw and class-rebalanced AuC, PSNR, colorfulness, a hint sweep for hint models, all against "
        "the gray baseline, with bootstrap 95% intervals.",
    )
    parser.set_defaults(func=run)
    parser.add_argument(
        "--model",
        dest="model_specs",
        action=_ModelAction,
        metavar="NAME",
        help="a registered model (see `masterpiece models list`); repeat to compare several "
        "(default: the best model whose weights are present, as for colorize)",
    )
    parser.add_argument(
        "--weights",
        dest="model_specs",
        action=_WeightsAction,
        metavar="FILE",
        help="a local weights file for the --model just before it, instead of its registered weights",
    )
    parser.add_argument(
        "--data", required=True, type=Path, metavar="DIR", help="folder of colour photographs"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_OUT),
        metavar="REPORT_DIR",
        help=f"folder for metrics.json, metrics.csv and report.html (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a report already in --out"
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="evaluate only the first N usable images"
    )
    parser.add_argument(
        "--eval-size",
        type=int,
        default=256,
        metavar="PX",
        help="resize each image so its long side is PX before measuring; 0 keeps the original size (default: 256)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the simulated hints and the bootstrap (default: 0)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        help=f"annealed-mean temperature (default: {DEFAULT_TEMPERATURE}, the paper's)",
    )
    parser.add_argument(
        "--hint-sweep",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="PSNR with 0, 1, 2, 5, 10, 20, 50 and 100 hints from the ground truth (default: on for hint models)",
    )
    parser.add_argument(
        "--prior",
        type=Path,
        metavar="FILE",
        help="colour prior for the rebalanced AuC (.npy, JSON list, or a previous metrics.json); "
        "default: computed from the evaluation images",
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)"
    )


def _summary_lines(result: EvaluationResult) -> list[str]:
    """The summary table printed at the end: one row per model, means and 95% intervals."""
    from ..evaluation.results import METRIC_TITLES, METRICS

    header = ["", *(METRIC_TITLES[m] for m in METRICS), "gain rebal. AuC"]
    truth = result.ground_truth_summary()
    rows = [["ground truth", *(truth.get(m, "") for m in METRICS), ""]]
    for evaluation in result.evaluations:
        gain = evaluation.gain["rebalanced_auc"].format(signed=True) if evaluation.gain else ""
        rows.append([evaluation.label, *(evaluation.summary[m].format() for m in METRICS), gain])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *rows]
    ]


def model_specs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """The ``(name, weights)`` pairs to evaluate: those given, else the default model (the
    one ``colorize`` uses), announced on stdout.

    Raises:
        WeightsNotFoundError: no ``--model`` and no model has its weights on this machine.
    """
    if args.model_specs:
        return [(name, weights) for name, weights in args.model_specs]
    from ..models.selection import default_model_name

    name = default_model_name()
    print(f"evaluating model {name} (the default; --model NAME for another)", flush=True)
    return [(name, None)]


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the report, print the summary; returns the exit code."""
    from ..evaluation.plots import require_matplotlib
    from ..evaluation.rebalance import load_prior
    from ..evaluation.report import check_report_dir, write_report
    from ..evaluation.results import EvaluationSettings
    from ..evaluation.runner import ModelSpec, evaluate

    require_matplotlib()
    check_report_dir(args.out, args.overwrite)  # fail before a long run, not after
    settings = EvaluationSettings(
        eval_size=args.eval_size,
        temperature=args.temperature,
        seed=args.seed,
        limit=args.limit,
        hint_sweep=args.hint_sweep,
        device=args.device,
    )
    prior = load_prior(args.prior) if args.prior is not None else None
    specs = [ModelSpec(name, weights) for name, weights in model_specs(args)]
    result = evaluate(
        args.data,
        specs,
        settings,
        prior=prior,
        prior_source=str(args.prior) if args.prior else None,
        progress=True,
    )
    paths = write_report(result, args.out, overwrite=args.overwrite)
    print("\n".join(_summary_lines(result)))
    if result.skipped:
        print(f"{len(result.skipped)} files skipped (listed in the report)")
    print(f"report: {paths.html}")
    return EXIT_OK
