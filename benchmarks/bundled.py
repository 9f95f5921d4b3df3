"""The bundled model's own figures (issue 13): network time at 256x256, and int8 against float32.

- ``network``: the bundled network at 256x256, batch 1, median after warm-up: float32 eager
  PyTorch (the baseline), the shipped float32 and int8 ONNX files in ONNX Runtime. The
  target is float32 within 60 ms.
- ``int8``: on every photograph of ``../shared/data/val`` and ``val_people`` (skipped when
  absent), the mean ab distance (Lab units) between the int8 and the float32 network
  output, decoded as the Colorizer decodes it, at the network's resolution; target < 1.5.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

#: the bundled network in float32 at 256x256 must take at most this long (seconds)
NETWORK_TARGET_S = 0.060
#: int8 must stay this close to float32 (mean ab distance, Lab units)
INT8_TARGET_AB = 1.5


Timer = Callable[[Callable[[], object]], dict]


def bench_network(timer: Timer, size: int = 256) -> dict:
    """Network time of the bundled model: torch eager float32 vs the shipped ONNX files.

    ``timer`` is the harness's (warm-up, repeats, median): ``timer(function) -> {"median_s", ...}``.
    """
    import torch

    from masterpiece.models import create_model
    from masterpiece.models.bundled_onnx import bundled_onnx_path
    from masterpiece.models.onnx_backend import OnnxBackend

    rng = np.random.default_rng(0)
    lightness = rng.uniform(0, 100, (1, 1, size, size)).astype(np.float32)
    model = create_model("compact", download=False).eval()
    tensor = torch.from_numpy(lightness)

    def eager() -> object:
        with torch.inference_mode():
            return model.predict(tensor)

    rows = {"pytorch_fp32_eager": timer(eager)}
    for precision in ("fp32", "int8"):
        backend = OnnxBackend(bundled_onnx_path("compact", precision))
        rows[f"onnxruntime_{precision}_shipped"] = timer(lambda b=backend: b.run(lightness))
    baseline = rows["pytorch_fp32_eager"]["median_s"]
    for row in rows.values():
        row["speedup"] = baseline / row["median_s"]
    fastest_fp32 = min(rows["pytorch_fp32_eager"]["median_s"], rows["onnxruntime_fp32_shipped"]["median_s"])
    return {"size": size, "rows": rows, "fp32_s": fastest_fp32, "target_s": NETWORK_TARGET_S,
            "met": fastest_fp32 <= NETWORK_TARGET_S, "torch_threads": torch.get_num_threads()}


def bench_int8(folders: list[Path], size: int = 256, limit: int | None = None) -> dict:
    """Mean ab distance between the shipped int8 and float32 networks, per folder of photographs."""
    from masterpiece.pipeline.bands import network_lightness
    from masterpiece.pipeline.decoding import read_image
    from masterpiece.pipeline.folders import iter_image_files
    from masterpiece.pipeline.image import Colorizer

    exact = Colorizer("compact", precision="fp32", download=False)
    quantized = Colorizer("compact", precision="int8", download=False)
    result: dict = {"target_ab": INT8_TARGET_AB, "sets": {}}
    for folder in folders:
        if not folder.is_dir():
            result["sets"][folder.name] = {"skipped": f"{folder} is absent"}
            continue
        distances = []
        for path in list(iter_image_files(folder))[:limit]:
            loaded = read_image(path)
            network_l = network_lightness(loaded.pixels, size, loaded.is_grayscale)
            difference = quantized.network_ab(network_l) - exact.network_ab(network_l)
            distances.append(float(np.linalg.norm(difference, axis=1).mean()))
        values = np.array(distances)
        result["sets"][folder.name] = {
            "photos": len(values), "mean_ab": float(values.mean()), "max_image_mean_ab": float(values.max()),
            "share_above_target": float((values > INT8_TARGET_AB).mean()),
            "met": bool(values.mean() < INT8_TARGET_AB),
        }
    return result


def bench_bundled(shared_data: Path, timer: Timer, quick: bool = False) -> dict:
    """Both measurements (``quick``: a smoke run on a few photos)."""
    network = bench_network(timer)
    int8 = bench_int8([shared_data / "val", shared_data / "val_people"], limit=2 if quick else None)
    return {"network": network, "int8": int8}


def markdown_rows(section: dict) -> list[tuple[str, str, str, str, str]]:
    """``(measurement, baseline, Masterpiece, ratio, target)`` rows for BENCHMARKS.md."""
    rows = []
    network = section.get("network", {})
    if "rows" in network:
        eager = network["rows"]["pytorch_fp32_eager"]["median_s"]
        for name, timing in network["rows"].items():
            if name != "pytorch_fp32_eager":
                rows.append((f"bundled network {network['size']}x{network['size']}: {name}", f"{eager * 1000:.1f} ms",
                             f"{timing['median_s'] * 1000:.1f} ms", f"{timing['speedup']:.2f}x", "fp32 <= 60 ms"))
    for name, figures in section.get("int8", {}).get("sets", {}).items():
        if "mean_ab" in figures:
            rows.append((f"bundled int8 vs fp32, mean ab, {name} ({figures['photos']} photos)", "",
                         f"{figures['mean_ab']:.3f} (worst photo {figures['max_image_mean_ab']:.2f})", "", "< 1.5"))
    return rows
