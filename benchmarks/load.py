"""Building a Colorizer (issue 15): ECCV16 from its published-layout ``.pth`` and the bundled model.

Each load runs in a fresh child process with its own weights cache; the time is that of
``Colorizer(...)`` after ``import masterpiece.pipeline.image`` (which imports no torch), so
it includes importing PyTorch where the load needs it:

- ``first_auto``: ``precision="auto"`` with an empty cache, the baseline: ECCV16 is exported
  to fp32 and int8 ONNX once and the candidates are timed; the bundled model's shipped files
  are timed;
- ``cached_auto``: the same again (median of ``repeats``): the cached choice and export,
  target under 1 s;
- ``eager_fp32`` (ECCV16): ``precision="fp32"``, the PyTorch model built from the ``.pth``
  (the load before issue 15).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

#: a cached load must take less than this (seconds)
TARGET_S = 1.0

_CHILD = """
import json, sys, time
from masterpiece.pipeline.image import Colorizer
start = time.perf_counter()
colorizer = Colorizer(**json.loads(sys.argv[1]))
print(json.dumps({"load_s": time.perf_counter() - start, "precision": colorizer.precision,
                  "backend": type(colorizer.backend).__name__, "imports_torch": "torch" in sys.modules}))
"""


def _load(options: dict, cache: Path) -> dict:
    environment = {**os.environ, "MASTERPIECE_CACHE": str(cache)}
    environment.pop("MASTERPIECE_PRECISION", None)
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(options)], capture_output=True, text=True,
                          env=environment, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _repeated(options: dict, cache: Path, repeats: int) -> dict:
    runs = [_load(options, cache) for _ in range(repeats)]
    return {**runs[-1], "load_s": statistics.median(run["load_s"] for run in runs), "runs_s": [r["load_s"] for r in runs]}


def bench_load(root: Path, weights: Path, size: int, repeats: int) -> dict:
    """The loads above for ECCV16 (``weights``, network ``size``) and the bundled model."""
    cases = {"eccv16": {"model": "eccv16", "weights": str(weights), "size": size, "download": False},
             "bundled": {"model": "compact", "download": False}}
    results: dict = {"target_s": TARGET_S, "models": {}}
    for label, options in cases.items():
        cache = root / f"load-cache-{label}"
        rows = {"first_auto": _load({**options, "precision": "auto"}, cache),
                "cached_auto": _repeated({**options, "precision": "auto"}, cache, repeats)}
        if label == "eccv16":
            rows["eager_fp32"] = _repeated({**options, "precision": "fp32"}, cache, repeats)
        choice = next((cache / "backends").glob("*.json"), None)
        results["models"][label] = {
            "rows": rows, "speedup_vs_first": rows["first_auto"]["load_s"] / rows["cached_auto"]["load_s"],
            "measured": json.loads(choice.read_text())["measured"] if choice else None,
        }
    return results


def markdown_rows(section: dict) -> list[tuple[str, str, str, str, str]]:
    """BENCHMARKS.md rows: (measurement, baseline, Masterpiece, ratio, target)."""
    lines = []
    for label, result in section.get("models", {}).items():
        rows = result["rows"]
        first, cached = rows["first_auto"], rows["cached_auto"]
        torch_note = ", imports torch" if cached["imports_torch"] else ""
        label_text = (f"load a Colorizer, {label}: cached auto ({cached['precision']}, {cached['backend']}{torch_note}) "
                      "vs the first load (empty cache)")
        lines.append((label_text,
                      f"{first['load_s']:.2f} s", f"{cached['load_s']:.3f} s", f"{result['speedup_vs_first']:.1f}x",
                      f"< {section['target_s']:.0f} s"))
        if "eager_fp32" in rows:
            lines.append((f"load a Colorizer, {label}: eager fp32 from the .pth (PyTorch)", "",
                          f"{rows['eager_fp32']['load_s']:.3f} s", "", ""))
    return lines
