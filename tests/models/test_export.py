"""ONNX export (float32 and int8) and the ONNX Runtime model, on random weights at small sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from masterpiece.cli.main import EXIT_OK, EXIT_OUTPUT, main
from masterpiece.errors import ConfigError, OutputExistsError, WeightsError
from masterpiece.models import create_model, list_models
from masterpiece.models.export import export_onnx, generated_calibration_images
from masterpiece.models.runtime import OnnxColorizer

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # tracer and quantizer chatter


def _seeded(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, pretrained=False)


@pytest.mark.parametrize("name", list_models())
def test_float_export_matches_pytorch_at_other_sizes(name: str, tmp_path: Path) -> None:
    model = _seeded(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx", name=name, size=64)
    assert not model.training  # the exporter must not leave the model in training mode
    runtime = OnnxColorizer(path)
    assert runtime.model_name == name and runtime.accepts_hints == model.accepts_hints
    for height, width in ((64, 64), (96, 128)):  # dynamic height and width
        lightness = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(1)) * 100
        with torch.no_grad():
            expected, actual = model.predict(lightness), runtime.predict(lightness)
            for field in ("logits", "ab"):
                if getattr(expected, field) is None:
                    assert getattr(actual, field) is None
                else:
                    torch.testing.assert_close(getattr(actual, field), getattr(expected, field), atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(runtime(lightness, temperature=0.38), model(lightness, temperature=0.38), atol=1e-3, rtol=1e-3)


def test_hint_inputs_are_used(tmp_path: Path) -> None:
    model = _seeded("compact")
    runtime = OnnxColorizer(export_onnx(model, tmp_path / "c.onnx", size=64))
    lightness = torch.full((1, 1, 64, 64), 50.0)
    hint_ab, hint_mask = torch.zeros(1, 2, 64, 64), torch.zeros(1, 1, 64, 64)
    hint_ab[:, 0, 20:30, 20:30], hint_mask[:, :, 20:30, 20:30] = 60.0, 1.0
    with torch.no_grad():
        expected = model.predict(lightness, hint_ab, hint_mask).ab
        actual = runtime.predict(lightness, hint_ab, hint_mask).ab
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_int8_export_is_smaller_and_close(tmp_path: Path) -> None:
    model = _seeded("compact")
    float_path = export_onnx(model, tmp_path / "f.onnx", size=64)
    int8_path = export_onnx(model, tmp_path / "q.onnx", size=64, int8=True, calibration_count=3)
    assert int8_path.stat().st_size < float_path.stat().st_size / 2
    runtime = OnnxColorizer(int8_path)
    assert runtime.precision == "int8"
    lightness = torch.from_numpy(generated_calibration_images(1, 64)[0])
    with torch.no_grad():
        difference = (runtime(lightness, temperature=1.0) - model(lightness, temperature=1.0)).abs().mean()
    assert difference < 2.0  # Lab units


@pytest.mark.parametrize("name", list_models())
def test_int8_keeps_the_full_resolution_layers_and_heads_in_float(name: str, tmp_path: Path) -> None:
    import onnx

    model = _seeded(name)
    path = export_onnx(model, tmp_path / "q.onnx", name=name, size=64, int8=True, calibration_count=2)
    graph = onnx.load(str(path)).graph
    float_convolutions = [node for node in graph.node if node.op_type == "Conv"]
    int8_convolutions = [node for node in graph.node if node.op_type == "QLinearConv"]
    in_float_modules = [n for n in float_convolutions if any(n.name.startswith(f"/{m}/") for m in model.int8_float_modules)]
    assert in_float_modules  # the full-resolution layers stayed float32
    assert any(set(n.output) & {"logits", "ab"} for n in float_convolutions)  # and the output layer
    assert not any(any(n.name.startswith(f"/{m}/") for m in model.int8_float_modules) for n in int8_convolutions)
    assert len(int8_convolutions) >= len(float_convolutions)  # most of the network is int8


def test_runtime_threads_can_change_without_changing_results(tmp_path: Path) -> None:
    runtime = OnnxColorizer(export_onnx(_seeded("eccv16"), tmp_path / "e.onnx", size=64), threads=2)
    lightness = torch.from_numpy(generated_calibration_images(1, 64)[0])
    before = runtime.predict(lightness).logits
    runtime.set_threads(1)
    assert runtime.threads == 1
    torch.testing.assert_close(runtime.predict(lightness).logits, before, atol=1e-4, rtol=1e-4)


def test_calibration_feeds_hints_to_hint_models() -> None:
    from masterpiece.models.export import _CalibrationReader

    reader = _CalibrationReader(generated_calibration_images(4, 32), accepts_hints=True)
    feeds = list(iter(reader.get_next, None))
    assert [float(feed["hint_mask"].sum()) > 0 for feed in feeds] == [False, True, False, True]
    assert all(set(feed) == {"lightness"} for feed in _CalibrationReader(generated_calibration_images(2, 32), False)._feeds)


def test_generated_calibration_is_the_same_every_time() -> None:
    first, second = generated_calibration_images(3, 32), generated_calibration_images(3, 32)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert all(image.shape == (1, 1, 32, 32) and image.dtype == np.float32 for image in first)
    assert 0.0 <= min(image.min() for image in first) and max(image.max() for image in first) <= 100.0


def test_calibration_from_a_folder(tmp_path: Path, gray_photo: np.ndarray) -> None:
    from PIL import Image

    from masterpiece.cli.models import calibration_from_folder

    Image.fromarray(gray_photo).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not an image")
    images = calibration_from_folder(tmp_path, 5, 32)
    assert len(images) == 1 and images[0].shape == (1, 1, 32, 32) and images[0].dtype == np.float32
    assert 0.0 <= images[0].min() and images[0].max() <= 100.001
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no readable image"):
        calibration_from_folder(tmp_path / "empty", 5, 32)


def test_int8_export_takes_the_callers_calibration_images(tmp_path: Path) -> None:
    images = generated_calibration_images(2, 64)
    path = export_onnx(_seeded("compact"), tmp_path / "q.onnx", size=64, int8=True, calibration=images)
    assert OnnxColorizer(path).precision == "int8"
    with pytest.raises(TypeError, match="not a folder"):
        export_onnx(_seeded("compact"), tmp_path / "r.onnx", size=64, int8=True, calibration=tmp_path)
    with pytest.raises(ConfigError, match="at least one image"):
        export_onnx(_seeded("compact"), tmp_path / "r.onnx", size=64, int8=True, calibration=[])


def test_quantizer_chatter_stays_off_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    export_onnx(_seeded("eccv16"), tmp_path / "q.onnx", size=64, int8=True, calibration_count=1)
    out, err = capfd.readouterr()
    assert "histogram" not in out + err and "Percentile" not in out + err


def test_existing_output_is_refused_and_a_foreign_file_is_named(tmp_path: Path) -> None:
    target = tmp_path / "exists.onnx"
    target.write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        export_onnx(_seeded("compact"), target, size=64)
    assert target.read_bytes() == b"x"
    with pytest.raises(WeightsError, match="cannot be loaded"):
        OnnxColorizer(target)
    with pytest.raises(WeightsError, match="not found"):
        OnnxColorizer(tmp_path / "missing.onnx")


def test_cli_export(tmp_path: Path, compact_weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models" / "compact.onnx"
    command = ["models", "export", "compact", "--weights", str(compact_weights), "--format", "onnx", "-o", str(out)]
    assert main(command) == EXIT_OK
    assert "wrote" in capsys.readouterr().out and OnnxColorizer(out).model_name == "compact"
    assert main(command) == EXIT_OUTPUT
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.parent.iterdir()] == ["compact.onnx"]  # no temporary left


def test_cli_export_int8_calibrated_on_a_folder(
    tmp_path: Path, compact_weights: Path, gray_photo: np.ndarray, capfd: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.fromarray(gray_photo).save(tmp_path / "photos" / "a.png")
    out = tmp_path / "q.onnx"
    command = ["models", "export", "compact", "--weights", str(compact_weights), "--int8",
               "--calibration", str(tmp_path / "photos"), "-o", str(out)]
    assert main(command) == EXIT_OK
    printed = capfd.readouterr().out
    assert "wrote" in printed and "histogram" not in printed and OnnxColorizer(out).precision == "int8"


@pytest.mark.parametrize(("weight", "tint"), [(1.0, 0.0), (0.6, 0.0), (0.0, 0.0), (1.0, 0.7), (0.8, 0.5)])
def test_blended_decoding_is_the_same_in_pytorch_and_onnx_runtime(weight: float, tint: float, tmp_path: Path) -> None:
    """``annealed_weight`` mixes the annealed mean with the regression head and ``regression_tint``
    moves the image's mean ab to the regression head's, in both backends."""
    from masterpiece.color.quantize import decode_annealed_mean
    from masterpiece.models.onnx_backend import OnnxBackend

    model = _seeded("compact").eval()
    model.annealed_weight, model.regression_tint = weight, tint
    backend = OnnxBackend(export_onnx(model, tmp_path / "c.onnx", size=64))
    assert (backend.annealed_weight, backend.regression_tint) == (weight, tint)
    lightness = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(2)) * 100
    with torch.no_grad():
        prediction = model.predict(lightness)
        annealed = decode_annealed_mean(prediction.logits, model.bin_centers, 0.38)
        expected = weight * annealed + (1 - weight) * prediction.ab
        mean = lambda ab: ab.mean(dim=(2, 3), keepdim=True)
        expected = expected + tint * (mean(prediction.ab) - mean(expected))
        torch.testing.assert_close(model(lightness, temperature=0.38), expected, atol=1e-5, rtol=1e-5)
    actual = backend.network_ab(lightness.numpy(), None, 0.38)
    np.testing.assert_allclose(actual, expected.numpy(), atol=1e-3, rtol=1e-3)


def _with_random_statistics(name: str) -> torch.nn.Module:
    """A seeded model whose batch norms have non-trivial statistics and affine parameters."""
    model = _seeded(name).eval()
    generator = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.randn(channels, generator=generator))
            module.running_var.copy_(torch.rand(channels, generator=generator) + 0.05)
            module.weight.data.copy_(torch.randn(channels, generator=generator))
            module.bias.data.copy_(torch.randn(channels, generator=generator))
    return model


def test_batch_norms_are_folded_in_float64_and_predict_the_same() -> None:
    """Every batch norm after a convolution goes into that convolution, computed in float64
    and rounded once (the exporter's float32 folding rounds differently on other CPUs)."""
    from masterpiece.models.export import fold_batch_norms

    model = _with_random_statistics("compact")
    folded = fold_batch_norms(model)
    assert not any(isinstance(module, torch.nn.BatchNorm2d) for module in folded.modules())
    assert any(isinstance(module, torch.nn.BatchNorm2d) for module in model.modules())  # a copy
    conv, bn = model.stage1[0][0], model.stage1[0][1]
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    expected_weight = (conv.weight.double() * scale[:, None, None, None]).float()
    expected_bias = (bn.bias.double() - bn.running_mean.double() * scale).float()
    assert torch.equal(folded.stage1[0][0].weight, expected_weight)
    assert torch.equal(folded.stage1[0][0].bias, expected_bias)
    lightness = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        before, after = model.predict(lightness), folded.predict(lightness)
    assert torch.allclose(before.logits, after.logits, atol=1e-3, rtol=1e-4)
    assert torch.allclose(before.ab, after.ab, atol=1e-3)


def test_the_exported_graph_holds_the_float64_folded_weights(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    from masterpiece.models.export import fold_batch_norms

    model = _with_random_statistics("compact")
    path = export_onnx(model, tmp_path / "compact.onnx", size=64)
    graph = onnx.load(str(path)).graph
    assert "BatchNormalization" not in {node.op_type for node in graph.node}
    stored = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    folded = {f"model.{name}": value.numpy() for name, value in fold_batch_norms(model).state_dict().items()}
    parameters = [name for node in graph.node if node.op_type == "Conv" for name in node.input[1:]]
    unfolded = [name for name in parameters if name not in folded]  # the exporter's own float32 folds
    assert parameters and not unfolded, unfolded
    assert all(np.array_equal(stored[name], folded[name]) for name in parameters)


def test_folding_covers_convolutions_with_a_bias_groups_and_plain_batch_norms() -> None:
    """The branches compact does not use: a convolution with its own bias and groups, a batch
    norm without affine parameters; left alone: a batch norm that follows no convolution."""
    from masterpiece.models.export import fold_batch_norms

    torch.manual_seed(4)
    block = torch.nn.Sequential(
        torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=True), torch.nn.BatchNorm2d(6, affine=False),
        torch.nn.ReLU(), torch.nn.BatchNorm2d(6),
    )
    for norm in (block[1], block[3]):
        norm.running_mean.copy_(torch.randn(6))
        norm.running_var.copy_(torch.rand(6) + 0.1)
    block.eval()
    folded = fold_batch_norms(block)
    assert isinstance(folded[1], torch.nn.Identity) and isinstance(folded[3], torch.nn.BatchNorm2d)
    inputs = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(folded(inputs), block(inputs), atol=1e-5, rtol=1e-5)
