"""Peak memory on 100-megapixel scans (issues 6 and 15), each case in child processes.

- ``gray8``: an 8-bit grayscale TIFF in, JPEG out (target 1.0 GB);
- ``gray16``: a 16-bit grayscale TIFF in, 16-bit RGB TIFF out (target 1.5 GB).

``masterpiece colorize`` runs in a child whose peak resident set (``VmHWM``) is the figure.
A second child runs the same steps one by one (load the model, read, colorize, write) and
resets the peak between them (``/proc/self/clear_refs``), which says where the peak comes
from: ``phases_mb`` gives each step's own peak and ``held_mb`` what stays resident after it.
Linux only (``/proc``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

#: case -> (bit depth of the scan, output extension, target peak in MB)
CASES = {"gray8": (8, ".jpg", 1024), "gray16": (16, ".tiff", 1536)}

_PEAK_CHILD = """
import json, resource, sys
from masterpiece.cli.main import main
code = main(sys.argv[1:])
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"code": code, "vmhwm_mb": int(status["VmHWM"].split()[0]) / 1024,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_PHASES_CHILD = """
import json, sys
import numpy as np

def memory():
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return {key: int(status[key].split()[0]) / 1024 for key in ("VmHWM", "VmRSS")}

def phase(name):
    measured = memory()
    phases[name], held[name] = measured["VmHWM"], measured["VmRSS"]
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak starts again from what is resident now

phases, held = {}, {}
source, destination, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
from masterpiece.pipeline.image import Colorizer
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.encoding import write_image
colorizer = Colorizer(**options)
phase("load_model")
loaded = read_image(source, max_pixels=None)
phase("read")
depth = loaded.bit_depth
rgb = colorizer.colorize_loaded(loaded, dtype=np.uint16 if depth == 16 else np.uint8)
del loaded
phase("colorize")
write_image(destination, rgb, bit_depth=depth, overwrite=True)
phase("write")
print(json.dumps({"phases_mb": phases, "held_mb": held, "precision": colorizer.precision,
                  "imports_torch": "torch" in sys.modules}))
"""


def _last_json(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the memory child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_scan(path: Path, gray: Image.Image, bit_depth: int) -> Path:
    """``gray`` saved as an 8-bit or 16-bit (``I;16``, as scanners write) grayscale TIFF."""
    if bit_depth == 16:
        Image.fromarray(np.asarray(gray, np.uint16) * 257).save(path)
    else:
        gray.save(path)
    return path


def bench_scans(
    root: Path, gray: Callable[[int], Image.Image], side: int, cli_model_args: list[str], colorizer_options: dict
) -> dict:
    """Both cases on a ``side`` x ``side`` scan.

    Args:
        root: a scratch folder.
        gray: ``side -> `` a grayscale photograph of ``side`` x ``side``.
        cli_model_args: the model options of ``masterpiece colorize``.
        colorizer_options: the same as :class:`~masterpiece.pipeline.image.Colorizer` keywords
            (the phases child).
    """
    photo = gray(side)
    results: dict = {"megapixels": side * side / 1e6, "cases": {}}
    for case, (bit_depth, extension, target_mb) in CASES.items():
        scan = make_scan(root / f"scan{bit_depth}.tif", photo, bit_depth)
        out = root / f"scan{bit_depth}_out{extension}"
        command = [sys.executable, "-c", _PEAK_CHILD, "colorize", str(scan), "-o", str(out), "--overwrite",
                   "--max-pixels", "0", *cli_model_args]
        start = time.perf_counter()
        measured = _last_json(command)
        seconds = time.perf_counter() - start
        phases = _last_json([sys.executable, "-c", _PHASES_CHILD, str(scan), str(out),
                             json.dumps({**colorizer_options, "max_pixels": None})])
        results["cases"][case] = {"bit_depth": bit_depth, "output": extension, "seconds": seconds, **measured,
                                  **phases, "output_mb": out.stat().st_size / 1e6, "target_mb": target_mb}
        scan.unlink()
    return results


def markdown_rows(section: dict) -> list[tuple[str, str, str, str, str]]:
    """BENCHMARKS.md rows: (measurement, baseline, Masterpiece, ratio, target)."""
    rows = []
    for result in section.get("cases", {}).values():
        phases = ", ".join(f"{name} {peak:.0f}" for name, peak in result.get("phases_mb", {}).items())
        label = (f"{section['megapixels']:.0f} MP {result['bit_depth']}-bit gray TIFF -> {result['output']}: "
                 f"peak memory (phase peaks, MB: {phases})")
        rows.append((label, "",
                     f"{result['vmhwm_mb']:.0f} MB ({result['seconds']:.1f} s)", "", f"<= {result['target_mb']} MB"))
    return rows
