"""The report of a benchmark run: the machine it ran on and the BENCHMARKS.md table.

:func:`environment` records the commit, the CPU model, its count and the SIMD flags that
decide the backends' speed (:func:`masterpiece.models.backend_choice.cpu_description`), and
the library versions; :func:`markdown` turns a run's JSON into the table, one row a figure,
the baseline measured in the same run beside it.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch
from bundled import markdown_rows as _bundled_rows
from load import markdown_rows as _load_rows
from memory import markdown_rows as _memory_rows
from PIL import Image

from masterpiece.models.backend_choice import cpu_description
from restoration import markdown_rows as _restoration_rows


def environment(repo: Path) -> dict:
    import cv2
    import onnxruntime
    import skimage

    import masterpiece

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    cpu, flags = cpu_description()
    return {
        "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")),
        "cpu": cpu, "cpus": os.cpu_count(), "cpu_flags": flags, "torch_threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "masterpiece": masterpiece.__version__,
                     "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__,
                     "numpy": np.__version__, "scikit-image": skimage.__version__, "pillow": Image.__version__},
    }


def _cell(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def markdown(results: dict, targets: dict, floor_seconds: float) -> str:
    env, sections = results["environment"], results["sections"]
    lines = [
        "# Benchmarks", "",
        (f"Run {results['started']} on {env['cpu']} ({env['cpus']} CPUs; {', '.join(env['cpu_flags'])}), "
         f"commit {env['commit'][:10]}{' (dirty)' if env['dirty'] else ''}, precision `{results['settings']['precision']}`"
         f"{', QUICK smoke run: not the real sizes' if results['settings']['quick'] else ''}. "
         "Produced by `make bench` (benchmarks/run.py); medians, baselines from the same run."), "",
        "| measurement | baseline | Masterpiece | ratio | target |", "|---|---|---|---|---|",
    ]
    def row(label: str, baseline: str, ours: str, ratio: str, target: str) -> None:
        lines.append(f"| {label} | {baseline} | {ours} | {ratio} | {target} |")

    network = sections.get("network", {})
    if "rows" in network:
        rows, side = network["rows"], network["size"]
        eager = f"{_cell(rows['pytorch_fp32_eager']['median_s'])} s"
        for name, timing in rows.items():
            if name != "pytorch_fp32_eager":
                row(f"network {side}x{side}: {name}", eager, f"{_cell(timing['median_s'])} s",
                    f"{timing['speedup']:.2f}x", ">= 3x")
        row(f"network: best ({network['best']}) vs the floor {floor_seconds} s", "",
            f"{_cell(rows[network['best']]['median_s'])} s", f"{network['best_over_floor']:.2f} of floor", "<= 1.25")
    photo = sections.get("photo_12mp", {})
    for name, timing in photo.get("rows", {}).items():
        if name != "official":
            row(f"{photo['megapixels']:.1f} MP JPEG end to end: {name}", f"{_cell(photo['rows']['official']['median_s'])} s",
                f"{_cell(timing['median_s'])} s", f"{timing['speedup']:.2f}x", ">= 6x")
    for fmt, result in photo.get("formats", {}).items():
        official_s = result["rows"]["official"]["median_s"]
        for name, timing in result["rows"].items():
            if name != "official":
                row(f"{photo['megapixels']:.1f} MP {fmt.upper()} end to end: {name} ({result['output_mb']:.1f} MB; "
                    f"official {result['official_output_mb']:.1f} MB)", f"{_cell(official_s)} s",
                    f"{_cell(timing['median_s'])} s", f"{timing['speedup']:.2f}x", f">= {result['target_speedup']:.0f}x")
    folder = sections.get("folder", {})
    for label, result in folder.get("models", {}).items():
        rows, network = result["rows"], "same network" if label == "eccv16" else "the default model"
        row(f"folder of {folder['images']} photos, {label} ({result.get('precision')}, {network}) vs the official "
            "pipeline in a loop (ECCV16)", f"{folder['official_loop']['images_per_s']:.2f} img/s",
            f"{rows['masterpiece_colorize']['images_per_s']:.2f} img/s", f"{result['speedup']:.2f}x",
            f">= {folder['target_speedup']:.0f}x")
        row(f"folder, {label}: diagnostic, vs a plain colorize_file loop",
            f"{rows['sequential_loop']['images_per_s']:.2f} img/s", "", f"{result['speedup_vs_sequential_loop']:.2f}x", "")
    for memory_row in _memory_rows(sections.get("scan_100mp", {})):
        row(*memory_row)
    for load_row in _load_rows(sections.get("load", {})):
        row(*load_row)
    for bundled_row in _bundled_rows(sections.get("bundled", {})):
        row(*bundled_row)
    for restoration_row in _restoration_rows(sections.get("restoration", {})):
        row(*restoration_row)
    cold = sections.get("cold_start", {})
    if "median_s" in cold:
        row(f"cold start `masterpiece colorize small.png` ({cold['model']}), median of 3", "",
            f"{_cell(cold['median_s'])} s", "", f"< {targets['cold_start_s']} s")
        if "first_run_s" in cold:
            row("first run, empty cache and HOME", "", f"{_cell(cold['first_run_s'])} s", "",
                f"< {targets['first_run_s']} s")
    accuracy = sections.get("accuracy", {})
    for model in ("bundled", "eccv16_random"):
        for precision, distance in accuracy.get(model, {}).items():
            if isinstance(distance, dict):
                row(f"mean ab distance from fp32: {model} {precision} ({accuracy['photos']} photos)", "",
                    f"network {distance['network_mean_ab']:.3f}, image {distance['mean_ab']:.3f}", "", "< 1.5")
    agreement = sections.get("agreement", {})
    if "official_t1_mean_ab" in agreement:
        row("agreement with the official pipeline (T = 1), mean ab: whole pipeline; same network input", "",
            f"{agreement['official_t1_mean_ab']:.3f}; {agreement['official_same_network_input_t1_mean_ab']:.3f}",
            "", "< 1")
        effect = agreement.get("resize_effect_bundled_t1", {})
        if "mean_ab" in effect:
            row(f"the resize alone (ours vs official), bundled model's real weights, T = 1 ({effect['photos']} photos), mean ab",
                "", f"{effect['mean_ab']:.3f}", "", "< 1")
        row("agreement with the seed's network (OpenCV DNN, T = 0.38), mean ab", "",
            f"{agreement['seed_network_t038_mean_ab']:.4f}", "", "< 1")
    failed = {name: section["error"].splitlines()[-1] for name, section in sections.items() if "error" in section}
    if failed:
        lines += ["", "Failed sections: " + "; ".join(f"{k}: {v}" for k, v in failed.items())]
    return "\n".join(lines) + "\n"
