"""Compare the compact model's two heads on a folder: annealed mean of the bin distribution
(the paper's decoding, the default) against the regression head trained beside it.

    .venv/bin/python docs/compare_decoders.py WEIGHTS DATA_DIR [--limit N]

Prints the evaluation summary of both decoders with the gray baseline (the numbers quoted in
MODEL_CARD.md) and writes the full report to ``reports/decoders``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from masterpiece.evaluation import EvaluationSettings, write_report
from masterpiece.evaluation.data import load_eval_images
from masterpiece.evaluation.runner import Candidate, evaluate_candidates
from masterpiece.models import create_model
from masterpiece.pipeline.image import Colorizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, default=Path("reports/decoders"))
    args = parser.parse_args()
    settings = EvaluationSettings(limit=args.limit)
    images, skipped = load_eval_images(args.data, settings.eval_size, args.limit)
    candidates = []
    for decoder in ("classification", "regression"):
        model = create_model("compact", weights=args.weights)
        model.decoder = decoder
        candidates.append(Candidate(f"compact ({decoder})", Colorizer(model), accepts_hints=True, model="compact"))
    result = evaluate_candidates(images, candidates, settings, skipped=skipped, data_dir=str(args.data), progress=True)
    write_report(result, args.out, overwrite=True)
    for evaluation in (result.baseline, *result.models):
        row = {name: interval.format() for name, interval in evaluation.summary.items()}
        print(evaluation.label, row)
        if evaluation.hint_sweep:
            print("   hints -> PSNR", {n: round(i.mean, 2) for n, i in evaluation.hint_sweep.items()})
    print("ground truth colorfulness", result.ground_truth_colorfulness.format())
    print("report:", args.out / "report.html")


if __name__ == "__main__":
    main()
