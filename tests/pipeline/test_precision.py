"""``precision``: fp32 reproduces the reference computation; bf16 and int8 stay close to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from masterpiece.color.lab import lab_to_rgb, rgb_to_lightness
from masterpiece.errors import ConfigError
from masterpiece.models import runtime
from masterpiece.models.onnx_backend import OnnxBackend
from masterpiece.models.runtime import resolve_precision
from masterpiece.pipeline.image import Colorizer
from masterpiece.settings import precision as precision_from_env

pytestmark = pytest.mark.filterwarnings("ignore::Warning")


@pytest.fixture
def rgb(gray_photo: np.ndarray) -> np.ndarray:
    return np.repeat(gray_photo[..., None], 3, axis=2).astype(np.float32) / 255.0


def _reference(colorizer: Colorizer, rgb: np.ndarray) -> np.ndarray:
    """The pipeline as first written: whole image in float32, PyTorch colour conversion."""
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    lightness = rgb_to_lightness(image)
    small = rgb_to_lightness(
        F.interpolate(image, size=(colorizer.size,) * 2, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    )
    with torch.no_grad():
        ab = colorizer.model(small, temperature=colorizer.temperature)
    ab = F.interpolate(ab, size=rgb.shape[:2], mode="bilinear", align_corners=False)
    return lab_to_rgb(torch.cat((lightness, ab), dim=1))[0].permute(1, 2, 0).numpy()


def test_fp32_reproduces_the_reference(compact_weights: Path, rgb: np.ndarray) -> None:
    colorizer = Colorizer("compact", weights=compact_weights, size=64, precision="fp32")
    ours, reference = colorizer.colorize_rgb(rgb), _reference(colorizer, rgb)
    # the pipeline is NumPy, the reference PyTorch: float32 sums are rounded in another order,
    # which can flip one step of the gamut bisection on a pixel at the gamut's edge (1e-5 in RGB)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert np.mean(np.abs(ours - reference) > 1e-5) < 1e-3


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_fast_precisions_stay_close(compact_weights: Path, rgb: np.ndarray, precision: str) -> None:
    exact = Colorizer("compact", weights=compact_weights, size=64, precision="fp32").colorize_rgb(rgb)
    fast = Colorizer("compact", weights=compact_weights, size=64, precision=precision).colorize_rgb(rgb)
    assert fast.shape == exact.shape and fast.dtype == np.float32
    assert np.abs(fast - exact).mean() < 0.02


def test_int8_is_exported_once_into_the_cache(compact_weights: Path, isolated_cache: Path) -> None:
    first = Colorizer("compact", weights=compact_weights, size=64, precision="int8")
    assert isinstance(first.backend, OnnxBackend) and first.precision == "int8"
    exports = list((isolated_cache / "onnx").glob("compact-*-int8.onnx"))
    assert len(exports) == 1
    stamp = exports[0].stat().st_mtime_ns
    Colorizer("compact", weights=compact_weights, size=64, precision="int8")
    assert exports[0].stat().st_mtime_ns == stamp


def test_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: True)
    monkeypatch.setattr(runtime, "cpu_supports_int8", lambda: True)
    assert resolve_precision("auto", cpu) == "int8"  # VNNI and onnxruntime: int8
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: False)
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"  # without onnxruntime: native bfloat16
    monkeypatch.setattr(runtime, "onnxruntime_available", lambda: True)
    monkeypatch.setattr(runtime, "cpu_supports_int8", lambda: False)
    assert resolve_precision("auto", cpu) == "bf16"  # without VNNI int8 is not faster
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("int8", cpu) == "int8"


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512_vnni"})
    assert runtime.cpu_supports_int8()
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "fma"})
    assert not runtime.cpu_supports_int8()


def test_the_default_precision_is_auto_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, compact_weights: Path
) -> None:
    monkeypatch.delenv("MASTERPIECE_PRECISION")
    assert precision_from_env() == "auto"
    monkeypatch.setenv("MASTERPIECE_PRECISION", "BF16")
    assert precision_from_env() == "bf16"
    assert Colorizer("compact", weights=compact_weights, size=64).precision == "bf16"
    monkeypatch.setenv("MASTERPIECE_PRECISION", "fast")
    with pytest.raises(ConfigError, match="MASTERPIECE_PRECISION='fast' is not one of auto"):
        Colorizer("compact", weights=compact_weights, size=64)


def test_bad_precisions_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="precision must be one of"):
        resolve_precision("fp8", torch.device("cpu"))
    with pytest.raises(ConfigError, match="int8 runs on the CPU"):
        resolve_precision("int8", torch.device("cuda"))


def test_cli_precision_option(tmp_path: Path, compact_weights: Path, gray_photo: np.ndarray) -> None:
    from PIL import Image

    from masterpiece.cli.main import main

    source = tmp_path / "photo.png"
    Image.fromarray(gray_photo).save(source)
    command = ["colorize", str(source), "--model", "compact", "--weights", str(compact_weights), "--size", "64"]
    assert main([*command, "--precision", "bf16", "-o", str(tmp_path / "bf16.png")]) == 0
    assert main([*command, "--precision", "fp32", "-o", str(tmp_path / "fp32.png")]) == 0
    fast = np.asarray(Image.open(tmp_path / "bf16.png"), dtype=np.float32)
    exact = np.asarray(Image.open(tmp_path / "fp32.png"), dtype=np.float32)
    assert np.abs(fast - exact).mean() < 5.0
