"""Masterpiece's speed and memory benchmarks (issue 6), with the baselines measured in the same run.

    python benchmarks/run.py            # the full run (several minutes on 2 cores); make bench
    python benchmarks/run.py --quick    # a smoke run on tiny inputs (seconds)

What it measures (medians of ``--repeats`` runs after warm-up; ratios against baselines
measured in the same run, see :mod:`baselines`):

- ``network``: the ECCV16 network at 256x256, batch 1: float32 eager PyTorch (the baseline),
  bfloat16 autocast, ONNX Runtime float32 and int8, OpenCV DNN (the seed's runtime); the
  best is also compared with the floor measured on the project's machine (REFERENCE.md 6).
- ``accuracy``: mean ab distance (Lab units) of each precision from float32, on the
  ``../shared/data/val`` photos with the bundled model's real weights (skipped when absent)
  and with the benchmark's random ECCV16.
- ``agreement``: Masterpiece (float32, T = 1) against the official pipeline, and Masterpiece's
  network against the seed's OpenCV DNN (T = 0.38, 224x224): mean ab distance, should be < 1.
- ``photo_12mp``: read, colorize and write a 12-megapixel JPEG, official pipeline vs Masterpiece;
  the same for an 8-bit PNG and a 16-bit grayscale TIFF (out in the same format and depth;
  issue 15, target 4x), with the output sizes.
- ``folder``: 200 photographs of mixed sizes: the official pipeline run in a loop over them
  (the baseline, issue 15: target 5x) vs ``masterpiece colorize FOLDER`` with ECCV16 (the same
  network) and with the bundled model (the default); a plain sequential ``colorize_file`` loop
  stays as a diagnostic (model loading included in all).
- ``scan_100mp``: peak resident memory (VmHWM) of ``masterpiece colorize`` on a 100-megapixel
  8-bit grayscale TIFF to JPEG (target 1.0 GB) and a 16-bit one to 16-bit TIFF (1.5 GB), in
  child processes, with each phase's own peak (:mod:`memory`).
- ``load``: building a Colorizer in a fresh process: ECCV16 from its ``.pth`` and the bundled
  model, cached (target < 1 s) against the first load with an empty cache (:mod:`load`).
- ``bundled``: the bundled model's network at 256x256 (float32 within 60 ms) and its shipped int8
  file against float32 on both validation sets (:mod:`bundled`).
- ``cold_start``: wall time of the ``masterpiece colorize small.png`` command (256 x 256): the
  median of 3 runs after a warm-up (``median_s``), and the very first run with an empty weights
  cache and an empty ``HOME`` (``first_run_s``); whether torch was imported (``imports_torch``).
  ``benchmarks/run.py --only cold_start`` (``make bench-cold``) runs this section alone.
- ``restoration``: restoring a 12 MP photograph's lightness (learned detector vs the classical
  baseline, same run), peak memory on a 30 MP scan, and the quality measurement on ``val``
  (:mod:`restoration`).

The ECCV16 weights are random, in the published layout (:func:`random_eccv16`), saved to a
temporary ``.pth``; the OpenCV baseline gets them as the Caffe release. Photos come from
``../shared/data/bw`` and ``val`` when present, else they are generated. Results go to
``benchmarks/results/<UTC time>.json`` (commit, versions, CPU flags) and ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests.support
from baselines import OfficialPipeline, SeedPipeline, official_forward
from bundled import bench_bundled as _bench_bundled
from load import bench_load as _bench_load
from memory import bench_scans as _bench_scans
from report import environment, markdown

from masterpiece.models.export import export_onnx
from masterpiece.models.runtime import OnnxColorizer, cpu_supports_bf16
from masterpiece.pipeline.image import Colorizer
from restoration import bench_restoration as _bench_restoration
from tests.support.caffe_writer import random_eccv16

logger = logging.getLogger("benchmarks")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
#: ECCV16 at 256x256 with ONNX Runtime int8, REFERENCE.md section 6 (this project's machine)
FLOOR_SECONDS = 0.13
TARGETS = {"network": 3.0, "photo_12mp": 6.0, "folder": 5.0, "cold_start_s": 1.5,
           "first_run_s": 2.0,
           "accuracy_ab": 1.5, "agreement_ab": 1.0, "floor_margin": 1.25}


@dataclass(frozen=True)
class Settings:
    """Sizes and repeats; ``--quick`` shrinks everything to a smoke run of a few seconds."""

    quick: bool
    repeats: int
    warmup: int
    precision: str
    network_size: int  # side of the network input (256 in the real run)
    photo_side: tuple[int, int]  # the "12-megapixel" photo
    folder_count: int
    folder_megapixels: tuple[float, float]
    scan_side: int
    accuracy_photos: int
    calibration_count: int
    fast_precisions: tuple[str, ...]  # compared with fp32 for accuracy

    @classmethod
    def make(cls, quick: bool, precision: str, repeats: int | None) -> Settings:
        if quick:
            return cls(True, repeats or 1, 1, precision, 64, (64, 64), 4, (0.003, 0.006), 256, 1, 2, ("bf16",))
        return cls(False, repeats or 5, 2, precision, 256, (4000, 3000), 200, (0.2, 4.0), 10_000, 20, 16,
                   ("bf16", "int8"))


def timed(function: Callable[[], object], settings: Settings, repeats: int | None = None) -> dict:
    """Median wall time of ``function`` after warm-up: ``{"median_s", "runs_s"}``."""
    for _ in range(settings.warmup):
        function()
    runs = []
    for _ in range(repeats or settings.repeats):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return {"median_s": statistics.median(runs), "runs_s": runs}


# --------------------------------------------------------------------------- inputs


def photo_sources() -> list[Path]:
    """Real photographs from the shared data (bw first), or none."""
    found = []
    for split in ("bw", "val"):
        folder = SHARED_DATA / split
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return found


def gray_photo(index: int, size: tuple[int, int]) -> Image.Image:
    """A grayscale photograph of ``size`` (width, height): a real one resized, else generated."""
    sources = photo_sources()
    if sources:
        with Image.open(sources[index % len(sources)]) as image:
            return image.convert("L").resize(size, Image.BILINEAR)
    rng = np.random.default_rng(index)
    rows, columns = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    pattern = 128 + 60 * np.sin(columns / rng.uniform(20, 200)) + 60 * np.cos(rows / rng.uniform(20, 200))
    return Image.fromarray(np.clip(pattern, 0, 255).astype(np.uint8), "L")


@dataclass
class Workspace:
    root: Path
    weights: Path
    model: torch.nn.Module
    size: int  # the network input side

    @classmethod
    def create(cls, root: Path, settings: Settings) -> Workspace:
        model = random_eccv16()
        weights = root / "eccv16-random.pth"
        torch.save(model.state_dict(), weights)
        return cls(root, weights, model, settings.network_size)

    def colorizer(self, precision: str, **options: object) -> Colorizer:
        return Colorizer("eccv16", weights=self.weights, precision=precision, download=False, size=self.size, **options)

    def warm(self, *precisions: str) -> None:
        """Make the ONNX exports (and the auto choice) once, where Colorizer finds them, before any
        timing: Colorizer calibrates int8 on generated images (what users get; the training
        photos would flatter it)."""
        for precision in precisions:
            self.colorizer(precision)

    def model_args(self, precision: str) -> list[str]:
        return ["--model", "eccv16", "--weights", str(self.weights), "--precision", precision, "--size", str(self.size)]


# --------------------------------------------------------------------------- measurements


def bench_network(ws: Workspace, settings: Settings) -> dict:
    side = settings.network_size
    lightness = torch.from_numpy(np.asarray(gray_photo(0, (side, side)), np.float32) * (100 / 255))[None, None]
    model = ws.model

    def eager(precision: str) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                return model.predict(lightness)
        return run

    float_onnx = OnnxColorizer(export_onnx(model, ws.root / "eccv16-fp32.onnx", size=64, overwrite=True))
    int8_onnx = OnnxColorizer(export_onnx(model, ws.root / "eccv16-int8.onnx", int8=True, overwrite=True,
                                          calibration_count=settings.calibration_count,
                                          size=side))
    seed = SeedPipeline(model, ws.root, size=side)
    rows = {
        "pytorch_fp32_eager": timed(eager("fp32"), settings),
        "pytorch_bf16_autocast": timed(eager("bf16"), settings),
        "onnxruntime_fp32": timed(lambda: float_onnx.predict(lightness), settings),
        "onnxruntime_int8": timed(lambda: int8_onnx.predict(lightness), settings),
        "opencv_dnn": timed(lambda: seed.network_ab(lightness[0, 0].numpy()), settings),
    }
    baseline = rows["pytorch_fp32_eager"]["median_s"]
    for row in rows.values():
        row["speedup"] = baseline / row["median_s"]
    best = min(rows, key=lambda name: rows[name]["median_s"])
    return {"size": side, "rows": rows, "best": best, "speedup": rows[best]["speedup"], "target_speedup": TARGETS["network"],
            "floor_s": FLOOR_SECONDS, "best_over_floor": rows[best]["median_s"] / FLOOR_SECONDS,
            "opencv_importer": seed.importer, "cpu_bf16": cpu_supports_bf16()}


def _ab_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Mean Euclidean ab distance (Lab units) between two float RGB images in [0, 1]."""
    import cv2

    lab = [cv2.cvtColor(np.ascontiguousarray(x, np.float32), cv2.COLOR_RGB2Lab) for x in (first, second)]
    return float(np.linalg.norm(lab[0][..., 1:] - lab[1][..., 1:], axis=-1).mean())


def _precision_distances(make: Callable[[str], Colorizer], photos: list[np.ndarray], settings: Settings) -> dict:
    """Per precision: mean ab distance from fp32 of the network output (at its resolution) and of
    the final image (which also has the fast colour conversion of the non-fp32 paths)."""
    from masterpiece.pipeline.bands import network_lightness

    exact = make("fp32")
    inputs = [network_lightness(photo, exact.size) for photo in photos]
    references = [(exact.network_ab(x), exact.colorize_rgb(photo)) for x, photo in zip(inputs, photos)]
    result = {}
    for precision in settings.fast_precisions:
        colorizer = make(precision)
        network = [float(np.linalg.norm(colorizer.network_ab(x) - ab, axis=1).mean()) for x, (ab, _) in zip(inputs, references)]
        images = [_ab_distance(colorizer.colorize_rgb(p), rgb) for p, (_, rgb) in zip(photos, references)]
        result[precision] = {"network_mean_ab": float(np.mean(network)), "mean_ab": float(np.mean(images)),
                             "max_image_mean_ab": float(np.max(images))}
    return result


def bench_accuracy(ws: Workspace, settings: Settings) -> dict:
    from masterpiece.errors import WeightsError
    from masterpiece.models import create_model
    from masterpiece.pipeline.decoding import read_image

    val = SHARED_DATA / "val"
    paths = sorted(val.iterdir())[: settings.accuracy_photos] if val.is_dir() else []
    photos = [read_image(p).rgb for p in paths] or [np.asarray(gray_photo(0, (256, 192)).convert("RGB"), np.float32) / 255]
    result: dict = {"photos": len(photos), "source": str(val) if paths else "generated"}
    try:
        create_model("compact", download=False)  # the bundled weights are there (its int8 file ships)
        result["bundled"] = _precision_distances(
            lambda p: Colorizer("compact", precision=p, download=False), photos, settings)
    except WeightsError as error:
        result["bundled"] = {"skipped": f"bundled weights absent: {error}"}
    ws.warm(*settings.fast_precisions)
    result["eccv16_random"] = _precision_distances(ws.colorizer, photos, settings)
    return result


def bench_agreement(ws: Workspace, settings: Settings) -> dict:
    side = settings.network_size
    photos = [np.asarray(gray_photo(i, (side * 5 // 4, side)).convert("RGB")) for i in range(3)]
    official = OfficialPipeline(ws.model, size=side)
    ours = ws.colorizer("fp32", temperature=1.0)
    references = [official.colorize_array(p) for p in photos]
    against_official = [_ab_distance(ours.colorize_pixels(p), r) for p, r in zip(photos, references)]  # uint8 in, as read
    same_input = [_ab_distance(_ours_on(ours, official.network_input(p), p), r) for p, r in zip(photos, references)]
    seed_side = side if settings.quick else 224  # the seed's input size
    seed = SeedPipeline(ws.model, ws.root, size=seed_side)
    lightness = np.asarray(gray_photo(0, (seed_side, seed_side)), np.float32) * (100 / 255)
    with torch.inference_mode():
        network = ws.model(torch.from_numpy(lightness)[None, None], temperature=0.38)[0].permute(1, 2, 0).numpy()
    against_seed = float(np.linalg.norm(seed.network_ab(lightness) - network, axis=-1).mean())
    with torch.inference_mode():
        head = official_forward(ws.model, torch.from_numpy(lightness)[None, None])
        decoded = torch.nn.functional.interpolate(ws.model(torch.from_numpy(lightness)[None, None], temperature=1.0),
                                                  scale_factor=4, mode="bilinear", align_corners=False)
    return {"official_t1_mean_ab": float(np.mean(against_official)),
            "official_same_network_input_t1_mean_ab": float(np.mean(same_input)),
            "resize_effect_bundled_t1": _resize_effect_bundled(official, settings),
            "official_head_vs_decode_t1_mean_ab": float((head - decoded).norm(dim=1).mean()),
            "seed_network_t038_mean_ab": against_seed, "seed_importer": seed.importer,
            "target_ab": TARGETS["agreement_ab"]}


def _resize_effect_bundled(official: OfficialPipeline, settings: Settings) -> dict:
    """How much the one deliberate difference from the official pipeline, the resize to the
    network (ours: antialiased bilinear on ``L``; theirs: PIL bicubic on RGB), moves the output
    of a trained network: the bundled model's real weights at T = 1 on the validation photos.
    (The random ECCV16 weights amplify any input difference without bound.)"""
    from masterpiece.errors import WeightsError
    from masterpiece.pipeline.decoding import read_image

    val = SHARED_DATA / "val"
    paths = sorted(val.iterdir())[: settings.accuracy_photos] if val.is_dir() else []
    photos = [read_image(p).pixels for p in paths] or [np.asarray(gray_photo(0, (320, 256)))]
    photos = [np.repeat(p[..., None], 3, axis=2) if p.ndim == 2 else p for p in photos if p.dtype == np.uint8]
    try:
        bundled = Colorizer("compact", precision="fp32", temperature=1.0, download=False)
    except WeightsError as error:
        return {"skipped": f"bundled weights absent: {error}"}
    distances = [_ab_distance(bundled.colorize_rgb(p.astype(np.float32) / 255),
                              _ours_on(bundled, official.network_input(p), p)) for p in photos]
    return {"photos": len(photos), "mean_ab": float(np.mean(distances)), "max_image_mean_ab": float(np.max(distances))}


def _ours_on(colorizer: Colorizer, network_l: torch.Tensor, rgb: np.ndarray) -> np.ndarray:
    """Masterpiece's output for ``rgb`` (uint8) when its network sees ``network_l``: isolates
    the decoding, upsampling and colour conversion from the choice of resize."""
    from masterpiece.pipeline.bands import band_lightness, lab_band_to_rgb, upsample_ab

    ab = upsample_ab(colorizer.network_ab(network_l)[0], rgb.shape[:2])
    return lab_band_to_rgb(band_lightness(rgb), ab * np.float32(colorizer.saturation), fast=colorizer.precision != "fp32")


#: the photo_12mp cases beyond JPEG (issue 15): in and out the same format
PHOTO_FORMATS = {"png": (".png", 8), "tiff16": (".tiff", 16)}  # matplotlib knows no ".tif"
TARGETS["photo_12mp_lossless"] = 4.0


def _photo_source(root: Path, settings: Settings, extension: str, bit_depth: int) -> Path:
    """The 12-megapixel grayscale photo as ``extension`` (16-bit: ``I;16``, as scanners write)."""
    source = root / f"photo{bit_depth}{extension}"
    gray = gray_photo(0, settings.photo_side)
    if bit_depth == 16:
        Image.fromarray(np.asarray(gray, np.uint16) * 257).save(source)
    else:
        gray.convert("RGB").save(source, **({"quality": 95} if extension == ".jpg" else {}))
    return source


def _photo_rows(ws: Workspace, settings: Settings, source: Path, precisions: dict) -> dict:
    """Official pipeline and Masterpiece on ``source``, written in its own format; speedups."""
    official = OfficialPipeline(ws.model, size=ws.size)
    out = source.suffix
    rows = {"official": timed(lambda: official.colorize_file(source, ws.root / f"official{out}"), settings,
                              repeats=min(settings.repeats, 3))}
    for precision in precisions:
        colorizer = ws.colorizer(precision)
        rows[f"masterpiece_{precision}"] = timed(
            lambda colorizer=colorizer: colorizer.colorize_file(source, ws.root / f"ours{out}", overwrite=True),
            settings)
    baseline = rows["official"]["median_s"]
    for row in rows.values():
        row["speedup"] = baseline / row["median_s"]
    return rows


def bench_photo(ws: Workspace, settings: Settings) -> dict:
    ws.warm(settings.precision, *settings.fast_precisions[1:])
    precisions = dict.fromkeys((settings.precision, *settings.fast_precisions[1:]))
    source = _photo_source(ws.root, settings, ".jpg", 8)
    formats = {}
    for name, (extension, bit_depth) in PHOTO_FORMATS.items():
        lossless = _photo_source(ws.root, settings, extension, bit_depth)
        formats[name] = {"rows": _photo_rows(ws, settings, lossless, precisions),
                         "phases_s": _photo_phases(ws.colorizer(settings.precision), lossless,
                                                   ws.root / f"phases{extension}", bit_depth),
                         "output_mb": (ws.root / f"ours{extension}").stat().st_size / 1e6,
                         "official_output_mb": (ws.root / f"official{extension}").stat().st_size / 1e6,
                         "target_speedup": TARGETS["photo_12mp_lossless"]}
    return {"megapixels": settings.photo_side[0] * settings.photo_side[1] / 1e6,
            "rows": _photo_rows(ws, settings, source, precisions),
            "phases_s": _photo_phases(ws.colorizer(settings.precision), source, ws.root / "phases.jpg"),
            "target_speedup": TARGETS["photo_12mp"], "formats": formats}


def _photo_phases(colorizer: Colorizer, source: Path, destination: Path, bit_depth: int = 8) -> dict:
    """One run of Masterpiece's end-to-end path, phase by phase (where the time goes)."""
    from masterpiece.pipeline.decoding import read_image
    from masterpiece.pipeline.encoding import write_image

    phases, start = {}, time.perf_counter()
    loaded = read_image(source)
    phases["read"], start = time.perf_counter() - start, time.perf_counter()
    rgb = colorizer.colorize_loaded(loaded, dtype=np.uint16 if bit_depth == 16 else np.uint8)
    phases["colorize"], start = time.perf_counter() - start, time.perf_counter()
    write_image(destination, rgb, bit_depth=bit_depth, overwrite=True)
    phases["write"] = time.perf_counter() - start
    return phases


def _make_folder(root: Path, settings: Settings) -> Path:
    folder = root / "folder"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(settings.folder_count):
        megapixels = rng.uniform(*settings.folder_megapixels)
        aspect = rng.uniform(0.6, 1.6)
        width = max(16, int((megapixels * 1e6 * aspect) ** 0.5))
        height = max(16, int(megapixels * 1e6 / width))
        gray_photo(index, (width, height)).save(folder / f"photo{index:03d}.jpg", quality=90)
    return folder


def bench_folder(ws: Workspace, settings: Settings) -> dict:
    """Folder throughput against a plain loop, with ECCV16 (random weights) and with the bundled
    model (the default model offline). The network's share of the time decides how much
    overlapping the other work can gain: ECCV16's forward pass already uses both cores fully."""
    from masterpiece.cli.main import main

    folder = _make_folder(ws.root, settings)
    files = sorted(folder.iterdir())
    models = {
        "eccv16": (lambda: ws.colorizer(settings.precision), ws.model_args(settings.precision)),
        "bundled": (lambda: Colorizer("compact", precision=settings.precision, download=False),
                    ["--model", "compact", "--precision", settings.precision]),
    }
    once = dataclasses.replace(settings, repeats=1, warmup=0)  # long runs; all include loading the model

    def official_loop() -> None:
        out = ws.root / "official-folder"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        pipeline = OfficialPipeline(ws.model, size=ws.size)
        for file in files:
            pipeline.colorize_file(file, out / file.name)

    official = timed(official_loop, once)
    official["images_per_s"] = len(files) / official["median_s"]
    results: dict = {"images": len(files), "target_speedup": TARGETS["folder"], "official_loop": official,
                     "models": {}}
    for label, (make, arguments) in models.items():
        make()  # an int8 export happens once, before either timing

        def sequential(make: Callable[[], Colorizer] = make) -> None:
            out = ws.root / "sequential"
            shutil.rmtree(out, ignore_errors=True)
            colorizer = make()
            for file in files:
                colorizer.colorize_file(file, out / file.name)

        def command(arguments: list[str] = arguments) -> None:
            out = ws.root / "command"
            shutil.rmtree(out, ignore_errors=True)
            code = main(["colorize", str(folder), "-o", str(out), *arguments])
            if code != 0:
                raise RuntimeError(f"masterpiece colorize exited {code}")

        rows = {"sequential_loop": timed(sequential, once), "masterpiece_colorize": timed(command, once)}
        for row in rows.values():
            row["images_per_s"] = len(files) / row["median_s"]
        ours = rows["masterpiece_colorize"]["median_s"]
        results["models"][label] = {"rows": rows, "speedup": official["median_s"] / ours,
                                    "speedup_vs_sequential_loop": rows["sequential_loop"]["median_s"] / ours,
                                    "precision": make().precision}
    return results


def bench_scan(ws: Workspace, settings: Settings) -> dict:
    """Peak memory on 100 MP 8-bit and 16-bit scans (:mod:`memory`); the ONNX export and the auto
    choice are made first, so the children measure colorizing, not exporting."""
    ws.warm(settings.precision)
    options = {"model": "eccv16", "weights": str(ws.weights), "precision": settings.precision, "size": ws.size,
               "download": False}
    return _bench_scans(ws.root, lambda side: gray_photo(1, (side, side)), settings.scan_side,
                        ws.model_args(settings.precision), options)


def bench_cold_start(ws: Workspace, settings: Settings) -> dict:
    from masterpiece.models.selection import available_models

    small = ws.root / "small.png"
    gray_photo(2, (256, 256)).save(small)
    executable = Path(sys.executable).with_name("masterpiece")
    program = [str(executable)] if executable.exists() else [sys.executable, "-m", "masterpiece.cli"]
    bundled = "compact" in available_models()
    model = [] if bundled else ws.model_args(settings.precision)
    command = [*program, "colorize", str(small), "-o", str(ws.root / "small_out.png"), "--overwrite", *model]

    def run(environment: dict[str, str] | None = None) -> None:
        subprocess.run(command, check=True, capture_output=True, env=environment)

    home = ws.root / "empty-home"
    home.mkdir(exist_ok=True)
    fresh = {**os.environ, "HOME": str(home), "MASTERPIECE_CACHE": str(home / "cache"),
             "XDG_CACHE_HOME": str(home / ".cache")}
    start = time.perf_counter()
    run(fresh)  # the very first run: nothing cached, no home directory contents
    first = time.perf_counter() - start
    probe = [sys.executable, "-c", ("import sys; from masterpiece.cli.main import main; code = main(sys.argv[1:]); "
                                    "print('torch' in sys.modules, file=sys.stderr); sys.exit(code)"),
             *command[len(program):]]
    imports_torch = subprocess.run(probe, capture_output=True, text=True, check=True).stderr.strip().endswith("True")
    return {"model": "default (bundled)" if bundled else "eccv16 (random weights)",
            **timed(run, settings, repeats=3), "first_run_s": first, "imports_torch": imports_torch,
            "target_s": TARGETS["cold_start_s"], "first_run_target_s": TARGETS["first_run_s"]}


def bench_bundled(ws: Workspace, settings: Settings) -> dict:
    """The bundled model's network time and int8 accuracy on both validation sets (:mod:`bundled`)."""
    # the network takes milliseconds: 20 repeats (2 in a quick run) for a stable median
    return _bench_bundled(SHARED_DATA, lambda f: timed(f, settings, repeats=2 if settings.quick else 20), settings.quick)


def bench_load(ws: Workspace, settings: Settings) -> dict:
    """Building a Colorizer in fresh processes, cached vs first load (:mod:`load`)."""
    return _bench_load(ws.root, ws.weights, ws.size, repeats=1 if settings.quick else 3)


def bench_restoration(ws: Workspace, settings: Settings) -> dict:
    """Restoration (issue 17): 12 MP time, 30 MP peak memory and quality, classical baseline (:mod:`restoration`)."""
    return _bench_restoration(SHARED_DATA, lambda f: timed(f, settings), settings.quick)


SECTIONS: dict[str, Callable[[Workspace, Settings], dict]] = {
    "network": bench_network, "accuracy": bench_accuracy, "agreement": bench_agreement,
    "photo_12mp": bench_photo, "folder": bench_folder, "scan_100mp": bench_scan, "cold_start": bench_cold_start,
    "bundled": bench_bundled, "restoration": bench_restoration, "load": bench_load,
}


# --------------------------------------------------------------------------- reporting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repeat: a smoke run")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "int8"),
                        help="Masterpiece's precision for the end-to-end measurements (default: auto)")
    parser.add_argument("--repeats", type=int, help="timed repeats (default: 5, quick: 1)")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results", help="JSON folder")
    parser.add_argument("--markdown", type=Path,
                        help="table file (default: BENCHMARKS.md; quick runs and --only: beside the JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = Settings.make(args.quick, args.precision, args.repeats)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    results = {"started": started, "settings": asdict(settings), "environment": environment(REPO), "sections": {}}
    with tempfile.TemporaryDirectory(prefix="masterpiece-bench-") as temporary:
        os.environ["MASTERPIECE_CACHE"] = str(Path(temporary) / "cache")  # int8 exports land here, not in the user's cache
        workspace = Workspace.create(Path(temporary), settings)
        for name in args.only or SECTIONS:
            logger.info("running %s", name)
            start = time.perf_counter()
            try:
                results["sections"][name] = SECTIONS[name](workspace, settings)
            except Exception:  # one failed section must not lose the others: recorded in the JSON
                results["sections"][name] = {"error": traceback.format_exc()}
                logger.exception("section %s failed", name)
            results["sections"][name]["section_s"] = time.perf_counter() - start
            # every figure carries the machine it was measured on
            results["sections"][name]["cpu"] = {key: results["environment"][key] for key in ("cpu", "cpus", "cpu_flags")}
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if settings.quick else ""
    json_path = args.results / f"{started}{suffix}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    partial = settings.quick or args.only  # a smoke run or some sections: never over BENCHMARKS.md
    markdown_path = args.markdown or (args.results / f"{started}{suffix}.md" if partial else REPO / "BENCHMARKS.md")
    markdown_path.write_text(markdown(results, TARGETS, FLOOR_SECONDS))
    print(f"wrote {json_path} and {markdown_path}")
    return 1 if any("error" in section for section in results["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
