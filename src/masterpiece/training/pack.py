"""Packing training photographs small, for a machine that can take little data (a lent GPU).

::

    python -m masterpiece.training.pack ../shared/data/train ../shared/data/train_people \\
        --out packs/train176 --short-side 176 --budget-mb 24

The photographs are read as training reads them (:class:`.data.ColorPhotoDataset`: near-gray
ones skipped, each resized so that its short side is ``short_side``), then written as JPEG, one
quality for all: the highest of 95, 90, ..., 60 whose files, estimated on a seeded sample, fit
in ``budget_mb`` (which also holds ``sources.csv`` and ``pack.json``). Where even the lowest
does not fit, or the estimate was short, a seeded random subset is kept. Each source gets a
subfolder of its name (``train/``, ``train_people/``), the files keep the sources' order
(``00042_name.jpg``), so ``masterpiece train PACK`` and the damage detector's ``--data PACK``
read a pack as they read the originals. ``pack.json`` holds the settings and counts,
``sources.csv`` each file's source (the originals' terms apply to it).

The pack is built in a temporary folder beside ``out`` and renamed into place at the end: an
existing ``out`` is never touched, and an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import output_error, temporary_sibling
from ..errors import ConfigError, DataError, MasterpieceError, OutputError, OutputExistsError
from .data import ColorPhotoDataset, collect_image_paths

__all__ = ["PackResult", "pack_photos"]

#: the JPEG qualities tried, best first; below 60 the colours (subsampled 4:2:0) go blocky, so a
#: tighter budget keeps fewer photographs instead
QUALITIES = tuple(range(95, 55, -5))
#: photographs encoded to estimate each quality's size
_SAMPLE = 200
#: what the budget keeps for pack.json and the header of sources.csv
_FIXED_BYTES = 1_000


@dataclass
class PackResult:
    """What :func:`pack_photos` wrote."""

    out: str
    photos: int
    skipped: int  # near-gray or unreadable
    dropped: int  # left out to fit the budget
    quality: int
    short_side: int
    megabytes: float  # of the JPEG files
    budget_mb: float
    seed: int


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """(H, W, 3) uint8 sRGB -> JPEG bytes (4:2:0, optimized Huffman tables)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _choose_quality(images: Sequence[np.ndarray], budget: float, rng: np.random.Generator) -> int:
    """The best quality whose estimated total (mean size of a sample times the count) fits."""
    sample = [images[i] for i in rng.permutation(len(images))[:_SAMPLE]]
    for quality in QUALITIES:
        estimate = np.mean([len(_jpeg(rgb, quality)) for rgb in sample]) * len(images)
        if estimate <= budget:
            return quality
    return QUALITIES[-1]


def _file_name(index: int, source: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", source.stem)[:40].strip("_") or "photo"
    return f"{index:05d}_{stem}.jpg"


def _source_folders(sources: Sequence[Path]) -> list[tuple[Path, str]]:
    """Each source folder and the subfolder its photographs go to: its name (``photos`` for
    folders without a usable one, such as ``.``; list files and single files go there too)."""
    folders = []
    for source in sources:
        if source.is_dir():
            name = Path(os.path.abspath(source)).name
            folders.append((source, name if name and not name.startswith(".") else "photos"))
    return folders


def _subfolder(path: Path, folders: Sequence[tuple[Path, str]]) -> str:
    return next((name for source, name in folders if path.is_relative_to(source)), "photos")


def pack_photos(
    sources: Sequence[str | Path], out: str | Path, *, short_side: int = 176, budget_mb: float = 24.0,
    quality: int | None = None, seed: int = 0, min_chroma: float = 4.0,
) -> PackResult:
    """Write the colour photographs of ``sources`` into the folder ``out``, small (module docstring).

    Args:
        sources: folders (searched recursively) or list files of colour photographs.
        out: the pack's folder; it must not exist.
        short_side: each photograph's short side in pixels (the training crop: 176 for
            ``compact``); smaller photographs are enlarged to it, as training does.
        budget_mb: the most the pack may hold, its JPEG files, ``sources.csv`` and ``pack.json``
            together (megabytes, 10^6 bytes).
        quality: a JPEG quality (1-95) instead of the best that fits the budget.
        seed: the sample that estimates the sizes and the subset dropped to fit.
        min_chroma: photographs whose mean chroma (ab units) is below it are skipped, as
            training skips them.

    Raises:
        OutputExistsError: ``out`` exists.
        ConfigError: a side under 16, a budget not positive, a quality outside 1-95.
        DataError: no source or no usable colour photograph.
        OutputError: ``out``'s folder cannot be written.
    """
    out = Path(out)
    if os.path.lexists(out):
        raise OutputExistsError(f"{out} exists; give --out a new folder (a pack is never written over)")
    if (short_side < 16 or not (math.isfinite(budget_mb) and budget_mb > 0) or seed < 0
            or (quality is not None and not 1 <= quality <= 95)):
        raise ConfigError(f"pack settings: short side {short_side} (at least 16), budget {budget_mb} MB (above 0), "
                          f"quality {quality} (1-95), seed {seed} (0 or more)")
    source_paths = [Path(source) for source in sources]
    paths = collect_image_paths(source_paths)
    dataset = ColorPhotoDataset(paths, short_side, min_chroma=min_chroma, max_side=short_side, seed=seed)
    rng = np.random.default_rng(seed)
    budget = budget_mb * 1e6
    chosen = quality if quality is not None else _choose_quality(dataset.images, budget, rng)
    encoded = [_jpeg(rgb, chosen) for rgb in dataset.images]
    folders = _source_folders(source_paths)
    names = [Path(_subfolder(path, folders)) / _file_name(index, path) for index, path in enumerate(dataset.paths)]
    # each photograph costs its JPEG file and its row of sources.csv; pack.json about 300 bytes
    costs = [len(data) + len(f"{name.as_posix()},{path}\r\n".encode()) for data, name, path in
             zip(encoded, names, dataset.paths)]
    keep = np.ones(len(encoded), bool)
    total = sum(costs) + _FIXED_BYTES
    for index in rng.permutation(len(encoded)):  # drop a seeded random subset until it fits
        if total <= budget:
            break
        keep[index] = False
        total -= costs[index]
    if not keep.any():
        raise DataError(f"not one photograph fits in {budget_mb} MB at quality {chosen}; raise --budget-mb")
    result = PackResult(str(out), int(keep.sum()), len(dataset.skipped), int((~keep).sum()), chosen, short_side,
                        round(sum(len(encoded[i]) for i in np.flatnonzero(keep)) / 1e6, 3), budget_mb, seed)
    partial = temporary_sibling(out)
    try:
        partial.mkdir(parents=True)
        with open(partial / "sources.csv", "w", newline="", encoding="utf-8") as listing:
            writer = csv.writer(listing)
            writer.writerow(["file", "source"])
            for index, (path, data, name) in enumerate(zip(dataset.paths, encoded, names)):
                if not keep[index]:
                    continue
                (partial / name.parent).mkdir(exist_ok=True)
                (partial / name).write_bytes(data)
                writer.writerow([name.as_posix(), str(path)])
        (partial / "pack.json").write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
        if os.path.lexists(out):  # made by someone else meanwhile
            raise OutputExistsError(f"{out} appeared while packing; give --out a new folder")
        os.rename(partial, out)
    except OutputError:
        raise
    except OSError as error:
        raise output_error(out, error) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m masterpiece.training.pack SOURCE... --out DIR``"""
    parser = argparse.ArgumentParser(prog="python -m masterpiece.training.pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="folders or list files of colour photographs")
    parser.add_argument("--out", type=Path, required=True, help="the pack's folder (must not exist)")
    parser.add_argument("--short-side", type=int, default=176, help="short side of each photograph (default 176)")
    parser.add_argument("--budget-mb", type=float, default=24.0, help="most megabytes the pack holds (default 24)")
    parser.add_argument("--quality", type=int, help="JPEG quality instead of the best that fits the budget")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        result = pack_photos(args.sources, args.out, short_side=args.short_side, budget_mb=args.budget_mb,
                             quality=args.quality, seed=args.seed)
    except MasterpieceError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    print(f"packed {result.photos} photographs ({result.skipped} skipped as near-gray or unreadable, "
          f"{result.dropped} left out to fit) at JPEG quality {result.quality}: "
          f"{result.megabytes:.1f} MB in {result.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
