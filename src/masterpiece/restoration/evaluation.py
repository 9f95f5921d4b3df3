"""The restoration measurement: a fixed, seeded set of synthetic damage over the validation
photographs converted to gray (never trained on), every detector and filling scored on it.

::

    python -m masterpiece.restoration.evaluation                 # ../shared/data/val, learned and classical
    python -m masterpiece.restoration.evaluation --json out.json --limit 20
    python -m masterpiece.restoration.evaluation --cracks 1     # another set: with crack networks
    python -m masterpiece.restoration.evaluation --no-torn-corners   # the detector's marks alone

Photograph ``i`` (in name order) gets :func:`.damage.draw_damage` with ``seed = 17_000 + i`` and
the default :class:`.damage.DamageConfig`. Figures, pooled over every pixel of every photograph:

- ``f1``, ``precision``, ``recall`` of the detected mask against the drawn one (target F1 >= 0.8),
  and the recall of each damage kind;
- ``by_kind``: for each damage kind, its recall, its share of the damaged pixels and of the
  damaged input's and the restored image's squared error, and the PSNR of its pixels before and
  after (kinds can overlap: a pixel two kinds cover counts in both);
- ``psnr_damaged_db`` / ``psnr_restored_db``: PSNR (peak 100 L) over the damaged pixels (the
  drawn mask) of the damaged input and of the restored one against the clean photograph, and
  their difference ``psnr_gain_db`` (target >= 10 dB);
- ``clean_untouched``: on the clean photographs, the fraction of pixels the restorer leaves
  bit for bit as they were (target >= 99.5 %).

The rows: each detector with each filling (:data:`FILLS`: Navier-Stokes corrected by the learned
filler network; OpenCV Navier-Stokes or Telea, large textured regions corrected in tone; and
plain Telea inpainting), and the drawn mask with each filling (``oracle``: what the filling
alone can do). The baseline is the classical detector
with plain Telea inpainting (``classical/telea-plain``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..color.lab_np import gray_to_lightness
from ..errors import DataError
from .damage import DAMAGE_KINDS, DamageConfig, draw_damage
from .fill import fill_damage

__all__ = ["EVALUATION_SEED", "FILLS", "Tally", "evaluate", "validation_set"]

logger = logging.getLogger(__name__)

#: photograph i of the set is damaged with seed EVALUATION_SEED + i
EVALUATION_SEED = 17_000
TARGETS = {"f1": 0.8, "psnr_gain_db": 10.0, "clean_untouched": 0.995}
_DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "val"
#: the fillings scored: name -> fill_damage keywords
FILLS: dict[str, dict] = {"learned": {"method": "learned"}, "ns": {"method": "ns"}, "telea": {"method": "telea"},
                          "telea-plain": {"method": "telea", "keep_texture": False}}
#: components of the drawn mask up to this many pixels count as "small" in the by-size PSNR
SMALL_REGION_PIXELS = 64


def gray_lightness(path: Path) -> np.ndarray:
    """A photograph converted to gray (Pillow's ``L``), as (H, W) float32 CIE L in [0, 100]."""
    with Image.open(path) as image:
        gray = np.asarray(image.convert("L"), np.float32) / 255
    return gray_to_lightness(gray).astype(np.float32)


def validation_set(folder: Path = _DEFAULT_DATA, limit: int | None = None,
                   config: DamageConfig | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray,
                                                                      dict[str, np.ndarray]]]:
    """``(name, clean, damaged, mask, kinds)`` for each photograph of ``folder`` in name order.

    Raises:
        DataError: ``folder`` has no photographs.
    """
    paths = sorted(path for path in Path(folder).glob("*") if path.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        raise DataError(f"no photographs in {folder}; pass --data with the validation folder")
    for index, path in enumerate(paths[:limit]):
        clean = gray_lightness(path)
        damaged, mask, kinds = draw_damage(clean, EVALUATION_SEED + index, config, return_kinds=True)
        yield path.name, clean, damaged, mask, kinds


@dataclass
class Tally:
    """Pooled counts of one row (a detector with a filling)."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    squared_damaged: float = 0.0
    squared_restored: float = 0.0
    damaged_pixels: int = 0
    squared_by_size: dict[str, list[float]] = field(default_factory=lambda: {"small": [0.0, 0.0], "large": [0.0, 0.0]})
    #: kind -> [damaged pixels found, damaged pixels, squared error of the damaged input, of the restored]
    by_kind: dict[str, list[float]] = field(default_factory=lambda: {kind: [0, 0, 0.0, 0.0] for kind in DAMAGE_KINDS})
    clean_untouched: int = 0
    clean_pixels: int = 0
    seconds: float = 0.0
    megapixels: float = 0.0

    def add(self, clean: np.ndarray, damaged: np.ndarray, truth: np.ndarray, kinds: dict[str, np.ndarray],
            found: np.ndarray, restored: np.ndarray, small: np.ndarray) -> None:
        self.true_positive += int((found & truth).sum())
        self.false_positive += int((found & ~truth).sum())
        self.false_negative += int((~found & truth).sum())
        clean64 = clean.astype(np.float64)
        input_squared = (damaged - clean64) ** 2  # per pixel, once for every sum below
        restored_squared = (restored.astype(np.float64) - clean64) ** 2
        self.squared_damaged += float(input_squared[truth].sum())
        self.squared_restored += float(restored_squared[truth].sum())
        self.damaged_pixels += int(truth.sum())
        for size, region in (("small", truth & small), ("large", truth & ~small)):
            self.squared_by_size[size][0] += float(restored_squared[region].sum())
            self.squared_by_size[size][1] += int(region.sum())
        for kind, covered in kinds.items():
            damaged_by_kind = covered & truth
            tally = self.by_kind[kind]
            tally[0] += int((damaged_by_kind & found).sum())
            tally[1] += int(damaged_by_kind.sum())
            tally[2] += float(input_squared[damaged_by_kind].sum())
            tally[3] += float(restored_squared[damaged_by_kind].sum())

    def summary(self) -> dict:
        predicted, actual = self.true_positive + self.false_positive, self.true_positive + self.false_negative
        precision = self.true_positive / max(1, predicted)
        recall = self.true_positive / max(1, actual)
        damaged_db = _psnr(self.squared_damaged, self.damaged_pixels)
        restored_db = _psnr(self.squared_restored, self.damaged_pixels)
        result = {
            "f1": 2 * self.true_positive / max(1, predicted + actual), "precision": precision, "recall": recall,
            "psnr_damaged_db": damaged_db, "psnr_restored_db": restored_db, "psnr_gain_db": restored_db - damaged_db,
            "psnr_restored_by_size_db": {size: _psnr(*values) for size, values in self.squared_by_size.items()},
            "recall_by_kind": {kind: found / total for kind, (found, total, _, _) in self.by_kind.items() if total},
            "by_kind": {kind: {"recall": found / total, "pixel_share": total / max(1, self.damaged_pixels),
                               "damaged_error_share": damaged / max(self.squared_damaged, 1e-12),
                               "restored_error_share": restored / max(self.squared_restored, 1e-12),
                               "psnr_damaged_db": _psnr(damaged, total), "psnr_restored_db": _psnr(restored, total)}
                        for kind, (found, total, damaged, restored) in self.by_kind.items() if total},
            "seconds_per_megapixel": self.seconds / max(self.megapixels, 1e-9),
        }
        if self.clean_pixels:
            result["clean_untouched"] = self.clean_untouched / self.clean_pixels
        return result


def _psnr(squared: float, count: float) -> float:
    return float(10 * np.log10(100.0**2 / max(squared / max(count, 1), 1e-12)))


def small_regions(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of ``mask``'s connected components of at most 64 pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] <= SMALL_REGION_PIXELS
    small[0] = False
    return small[labels] if count > 1 else np.zeros(mask.shape, bool)


Detector = Callable[[np.ndarray], np.ndarray]


def evaluate(detectors: dict[str, Detector], folder: Path = _DEFAULT_DATA, limit: int | None = None,
             fills: Sequence[str] = tuple(FILLS), radius: float = 3.0, config: DamageConfig | None = None) -> dict:
    """Score each detector with each filling, and the drawn mask with each filling (``oracle/<fill>``).

    Args:
        detectors: name -> (H, W) float32 L -> (H, W) bool mask.
        folder: the validation photographs.
        limit: only the first ``limit`` photographs.
        config: the damage drawn (default :class:`.damage.DamageConfig`: the fixed measurement set).

    Returns:
        ``{"photos": n, "megapixels": ..., "rows": {"<detector>/<fill>": summary}, "targets": ...}``.
    """
    tallies: dict[str, Tally] = {}
    photos, megapixels = 0, 0.0
    config = DamageConfig() if config is None else config
    for name, clean, damaged, truth, kinds in validation_set(folder, limit, config):
        small = small_regions(truth)
        masks = {"oracle": (truth, 0.0)}
        for detector_name, detector in detectors.items():
            start = time.perf_counter()
            masks[detector_name] = (detector(damaged), time.perf_counter() - start)
        clean_masks = {detector_name: detector(clean) for detector_name, detector in detectors.items()}
        for detector_name, (found, seconds) in masks.items():
            for method in fills:
                start = time.perf_counter()
                restored = fill_damage(damaged, found, radius=radius, **FILLS[method])
                tally = tallies.setdefault(f"{detector_name}/{method}", Tally())
                tally.seconds += seconds + time.perf_counter() - start
                tally.megapixels += clean.size / 1e6
                tally.add(clean, damaged, truth, kinds, found, restored, small)
                if detector_name in clean_masks:
                    on_clean = fill_damage(clean, clean_masks[detector_name], radius=radius, **FILLS[method])
                    tally.clean_untouched += int((on_clean.view(np.uint32) == clean.view(np.uint32)).sum())
                    tally.clean_pixels += clean.size
        photos += 1
        megapixels += clean.size / 1e6
        logger.info("%s done", name)
    return {"photos": photos, "megapixels": megapixels, "folder": str(folder), "seed": EVALUATION_SEED,
            "damage": config.as_dict(), "targets": TARGETS,
            "rows": {name: tally.summary() for name, tally in tallies.items()}}


def kinds_table(row: dict) -> str:
    """One row's ``by_kind`` figures as a Markdown table."""
    header = ("| damage kind | share of damaged pixels | share of the input's squared error | recall "
              "| PSNR damaged (dB) | PSNR restored (dB) | share of the restored squared error |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for kind, figures in row["by_kind"].items():
        lines.append(f"| {kind} | {100 * figures['pixel_share']:.1f} % | {100 * figures['damaged_error_share']:.1f} % "
                     f"| {figures['recall']:.2f} | {figures['psnr_damaged_db']:.2f} | {figures['psnr_restored_db']:.2f} "
                     f"| {100 * figures['restored_error_share']:.1f} % |")
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    """The rows of :func:`evaluate` as a Markdown table."""
    header = ("| detector / filling | mask F1 | precision | recall | PSNR damaged (dB) | PSNR restored (dB) "
              "| gain (dB) | clean untouched |")
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for name, row in results["rows"].items():
        untouched = f"{100 * row['clean_untouched']:.2f} %" if "clean_untouched" in row else "-"
        lines.append(f"| {name} | {row['f1']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['psnr_damaged_db']:.2f} | {row['psnr_restored_db']:.2f} | {row['psnr_gain_db']:.2f} | "
                     f"{untouched} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m masterpiece.restoration.evaluation [--data DIR] [--limit N] [--json FILE] [--cracks N]``"""
    from . import Restorer

    parser = argparse.ArgumentParser(prog="python -m masterpiece.restoration.evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=_DEFAULT_DATA, help=f"validation photographs ({_DEFAULT_DATA})")
    parser.add_argument("--limit", type=int, help="only the first N photographs")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--detector", action="append", choices=("learned", "classical"),
                        help="detectors to score (repeatable; default both)")
    parser.add_argument("--no-torn-corners", action="store_true",
                        help="score the learned detector without growing its marks over torn corners (corners.py)")
    parser.add_argument("--cracks", type=float, default=0.0,
                        help="also draw crack networks (crazing), N per 512x512 pixels: another set than the "
                             "fixed measurement's, which has none")
    args = parser.parse_args(argv)
    if args.cracks < 0:
        parser.error(f"--cracks must be at least 0, not {args.cracks}")
    logging.basicConfig(level=logging.WARNING)
    corners = False if args.no_torn_corners else None
    detectors = {name: Restorer(name, torn_corners=corners).detect for name in (args.detector or ("learned", "classical"))}
    results = evaluate(detectors, args.data, args.limit, config=DamageConfig(cracks=args.cracks))
    print(markdown_table(results))
    for name in ("learned/learned", "learned/ns", "oracle/learned", "oracle/ns"):
        if name in results["rows"]:
            print(f"\n{name}, by damage kind:\n{kinds_table(results['rows'][name])}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
