"""Video benchmark (issue 8): flicker and colourfulness against per-frame colorization, and speed.

    python benchmarks/video.py            # about three minutes on 2 cores
    python benchmarks/video.py --quick    # a smoke run (seconds)

What it measures, with the bundled ``compact`` model (trained weights, offline):

- ``quality``: on the generated test clips (``tests/video/clips.py``: a pan and zoom across
  the astronaut photograph, moving shapes, a hard cut between two photographs; 320 x 240,
  48 frames, 24 fps), ``colorize_video`` with stabilisation and without (every frame on its
  own, the baseline, same model, same run), each written as H.264 and read back; then the
  flicker (:func:`masterpiece.video.measure_flicker`: all, static and moving pixels) and the
  mean Hasler-Suesstrunk colourfulness of each output, and their ratios.
- ``speed``: frames per second of the whole command path (decode, colorize, stabilise,
  encode H.264) at 480p (854 x 480) and 720p (1280 x 720), stabilised and per-frame, median
  of ``--repeats`` runs after one warm-up; at 480p also batch sizes 1, 4 and 8.

Writes ``benchmarks/results/video.json`` (with the commit, versions and thread count) and
prints a table. Other processes on the machine slow the speed figures down; the ratios are
measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from masterpiece.evaluation.metrics import colorfulness
from masterpiece.pipeline.image import Colorizer
from masterpiece.video import colorize_video, measure_flicker

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "video.json"

_spec = importlib.util.spec_from_file_location("video_clips", REPO / "tests" / "video" / "clips.py")
clips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clips)

CLIPS = {
    "pan-zoom": lambda size, count: clips.pan_zoom(clips.astronaut(), size, count),
    "moving-shapes": lambda size, count: clips.moving_shapes(size, count),
    "hard-cut": lambda size, count: clips.hard_cut(size, count, count // 2),
}
SPEED_SIZES = {"480p": (854, 480), "720p": (1280, 720)}


def _colourfulness(frames: list[np.ndarray]) -> float:
    return float(
        np.mean(
            [colorfulness(torch.from_numpy(f).permute(2, 0, 1).float() / 255.0) for f in frames]
        )
    )


def measure_quality(colorizer: Colorizer, folder: Path, size: tuple[int, int], count: int) -> dict:
    results = {}
    for name, make in CLIPS.items():
        source = clips.write_clip(folder / f"{name}.mp4", make(size, count), audio=True)
        row = {}
        for mode, stabilise in (("per_frame", False), ("stabilised", True)):
            out = colorize_video(
                source, folder / f"{name}-{mode}.mp4", colorizer, stabilise=stabilise
            )
            frames = clips.read_frames(out.path)
            flicker = measure_flicker(frames)
            row[mode] = {
                "flicker": flicker.mean,
                "flicker_static": flicker.static,
                "flicker_moving": flicker.moving,
                "colourfulness": _colourfulness(frames),
                "cuts": list(out.cuts),
            }
        row["flicker_ratio"] = row["stabilised"]["flicker"] / row["per_frame"]["flicker"]
        row["colourfulness_ratio"] = (
            row["stabilised"]["colourfulness"] / row["per_frame"]["colourfulness"]
        )
        results[name] = row
    return results


def _timed(source: Path, destination: Path, colorizer: Colorizer, **options) -> float:
    destination.unlink(missing_ok=True)
    started = time.perf_counter()
    result = colorize_video(source, destination, colorizer, **options)
    elapsed = time.perf_counter() - started
    return result.frames / elapsed


def measure_speed(
    colorizer: Colorizer, folder: Path, count: int, repeats: int, quick: bool
) -> dict:
    results = {}
    for label, size in SPEED_SIZES.items():
        source = clips.write_clip(
            folder / f"{label}.mp4", clips.pan_zoom(clips.astronaut(), size, count), audio=True
        )
        runs = {"stabilised": {"stabilise": True}, "per_frame": {"stabilise": False}}
        if label == "480p" and not quick:
            runs.update({f"batch_{n}": {"batch_size": n} for n in (1, 4, 8)})
        row = {}
        for run, options in runs.items():
            _timed(source, folder / "out.mp4", colorizer, **options)  # warm-up
            fps = [_timed(source, folder / "out.mp4", colorizer, **options) for _ in range(repeats)]
            row[run] = {"fps_median": statistics.median(fps), "fps_runs": fps}
        results[label] = {"size": list(size), "frames": count, **row}
    return results


def _provenance() -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", True
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def print_table(report: dict) -> None:
    print(
        "\nflicker (mean motion-compensated |delta ab|, Lab units) and colourfulness, H.264 files"
    )
    print(f"{'clip':<15}{'per-frame':>10}{'stabilised':>11}{'ratio':>7}{'colourful.':>11}  cuts")
    for name, row in report["quality"].items():
        print(
            f"{name:<15}{row['per_frame']['flicker']:>10.3f}{row['stabilised']['flicker']:>11.3f}"
            f"{row['flicker_ratio']:>7.2f}{row['colourfulness_ratio']:>10.1%}  {row['stabilised']['cuts']}"
        )
    print("\nframes per second (decode + colorize + encode), median")
    for label, row in report["speed"].items():
        runs = ", ".join(
            f"{run} {value['fps_median']:.1f}"
            for run, value in row.items()
            if isinstance(value, dict)
        )
        print(f"{label:<6} {runs}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny clips, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    size, count, speed_frames = ((160, 120), 12, 6) if args.quick else ((320, 240), 48, 48)
    repeats = 1 if args.quick else args.repeats
    colorizer = Colorizer("compact")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        report = {
            "provenance": _provenance(),
            "settings": {
                "quality_clip_size": list(size),
                "quality_frames": count,
                "repeats": repeats,
            },
            "quality": measure_quality(colorizer, folder, size, count),
            "speed": measure_speed(colorizer, folder, speed_frames, repeats, args.quick),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
