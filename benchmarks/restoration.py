"""Restoration figures (issue 17): speed, memory and quality, the classical baseline in the same run.

- ``speed_12mp``: :meth:`Restorer.restore` on the lightness of a 4000x3000 photograph with the
  measurement's synthetic damage: the learned detector with the default filling (OpenCV
  Navier-Stokes corrected by the learned filler network) against the baseline (classical top-hat
  detector, plain OpenCV Telea inpainting); target <= 3 s.
- ``memory_30mp``: peak resident memory (VmHWM) of a child process that loads a 6720x4480
  float32 lightness plane (120 MB, included) and restores it; target <= 1536 MB, ours and the
  baseline (as for the speed).
- ``quality``: :func:`masterpiece.restoration.evaluation.evaluate` on ``../shared/data/val``
  (mask F1, PSNR gain on the damaged pixels, clean pixels untouched), every detector x filling
  and the drawn mask (oracle); skipped when the folder is absent.

``python benchmarks/run.py --only restoration`` runs this section alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

SPEED_TARGET_S = 3.0
MEMORY_TARGET_MB = 1536
SCAN_SIZE = (6720, 4480)
PHOTO_SIZE = (4000, 3000)

Timer = Callable[[Callable[[], object]], dict]

_PEAK_CHILD = """
import json, resource, sys
import numpy as np
from masterpiece.restoration import Restorer
lightness = np.load(sys.argv[1])
if sys.argv[2] == "learned":
    restorer = Restorer("learned")
else:  # the baseline: the classical detector with plain OpenCV Telea inpainting
    restorer = Restorer("classical", fill_method="telea", keep_texture=False)
result = restorer.restore(lightness)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"vmhwm_mb": int(status["VmHWM"].split()[0]) / 1024, "masked": float(result.mask.mean())}))
"""


def damaged_photo(data_root: Path, size: tuple[int, int], seed: int) -> np.ndarray:
    """(H, W) float32 L: a validation photograph (or a generated one) resized to ``size``
    (width, height) with the measurement's synthetic damage drawn at that size."""
    from masterpiece.color.lab_np import gray_to_lightness
    from masterpiece.restoration.damage import draw_damage

    photos = sorted((data_root / "val").glob("*.png")) + sorted((data_root / "val").glob("*.jpg"))
    if photos:
        with Image.open(photos[seed % len(photos)]) as image:
            gray = np.asarray(image.convert("L").resize(size, Image.BILINEAR), np.float32) / 255
    else:
        rows, columns = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
        gray = 0.5 + 0.25 * np.sin(columns / 97.0) * np.cos(rows / 61.0)
    clean = gray_to_lightness(gray).astype(np.float32)
    return draw_damage(clean, seed)[0]


def bench_speed(timer: Timer, lightness: np.ndarray) -> dict:
    from masterpiece.restoration import Restorer

    rows = {}
    for detector in ("classical", "learned"):
        restorer = Restorer(detector) if detector == "learned" else Restorer(detector, fill_method="telea",
                                                                             keep_texture=False)
        rows[detector] = {**timer(lambda r=restorer: r.restore(lightness)),
                          "masked": float(restorer.detect(lightness).mean())}
    baseline = rows["classical"]["median_s"]
    for row in rows.values():
        row["ratio_to_baseline"] = row["median_s"] / baseline
    return {"megapixels": lightness.size / 1e6, "rows": rows, "target_s": SPEED_TARGET_S,
            "met": rows["learned"]["median_s"] <= SPEED_TARGET_S}


def bench_memory(lightness: np.ndarray) -> dict:
    rows = {}
    with tempfile.TemporaryDirectory(prefix="masterpiece-restore-") as folder:
        path = Path(folder) / "scan.npy"
        np.save(path, lightness)
        for detector in ("classical", "learned"):
            done = subprocess.run([sys.executable, "-c", _PEAK_CHILD, str(path), detector], capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"the {detector} memory child failed: {done.stderr[-2000:]}")
            rows[detector] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"megapixels": lightness.size / 1e6, "input_mb": lightness.nbytes / 2**20, "rows": rows,
            "target_mb": MEMORY_TARGET_MB, "met": rows["learned"]["vmhwm_mb"] <= MEMORY_TARGET_MB}


def bench_quality(data_root: Path, limit: int | None) -> dict:
    from masterpiece.restoration import Restorer
    from masterpiece.restoration.evaluation import evaluate

    folder = data_root / "val"
    if not folder.is_dir():
        return {"skipped": f"{folder} is absent"}
    detectors = {name: Restorer(name).detect for name in ("learned", "classical")}
    return evaluate(detectors, folder, limit)


def bench_restoration(data_root: Path, timer: Timer, quick: bool) -> dict:
    """The three measurements; ``quick`` shrinks the images to a smoke run."""
    photo = damaged_photo(data_root, (256, 192) if quick else PHOTO_SIZE, 1)
    scan = damaged_photo(data_root, (320, 256) if quick else SCAN_SIZE, 2)
    return {"speed_12mp": bench_speed(timer, photo), "memory_30mp": bench_memory(scan),
            "quality": bench_quality(data_root, 2 if quick else None)}


def markdown_rows(section: dict) -> list[tuple[str, str, str, str, str]]:
    """``(label, baseline, ours, ratio, target)`` rows for BENCHMARKS.md."""
    rows: list[tuple[str, str, str, str, str]] = []
    speed = section.get("speed_12mp", {})
    if "rows" in speed:
        classical, learned = speed["rows"]["classical"], speed["rows"]["learned"]
        label = (f"restore {speed['megapixels']:.1f} MP (L plane): learned detector + learned filling; baseline "
                 "classical top-hat + Telea")
        rows.append((label, f"{classical['median_s']:.3g} s", f"{learned['median_s']:.3g} s",
                     f"{learned['ratio_to_baseline']:.2f}x the baseline's time", f"<= {SPEED_TARGET_S:g} s"))
    memory = section.get("memory_30mp", {})
    if "rows" in memory:
        label = f"restore {memory['megapixels']:.0f} MP scan: peak memory (input {memory['input_mb']:.0f} MB included)"
        rows.append((label, f"{memory['rows']['classical']['vmhwm_mb']:.0f} MB",
                     f"{memory['rows']['learned']['vmhwm_mb']:.0f} MB", "", f"<= {MEMORY_TARGET_MB} MB"))
    quality = section.get("quality", {})
    if "rows" in quality:
        learned, classical = quality["rows"]["learned/learned"], quality["rows"]["classical/telea-plain"]
        photos = quality["photos"]
        rows.append((f"damage mask F1, {photos} val photos (synthetic, seeded)", f"{classical['f1']:.3f}",
                     f"{learned['f1']:.3f}", "", ">= 0.8"))
        rows.append(("PSNR gain on the damaged pixels over the damaged input (dB)",
                     f"{classical['psnr_gain_db']:.2f}", f"{learned['psnr_gain_db']:.2f}",
                     f"drawn mask: {quality['rows']['oracle/learned']['psnr_gain_db']:.2f}", ">= 10"))
        rows.append(("clean photographs: pixels untouched", f"{100 * classical['clean_untouched']:.2f} %",
                     f"{100 * learned['clean_untouched']:.2f} %", "", ">= 99.5 %"))
    return rows
