"""Export a registered model to ONNX (float32, or int8 by static quantization).

The exported graph is the model's :meth:`~masterpiece.models.ColorizationModel.predict`:

- inputs ``lightness`` ``(B, 1, H, W)`` float32 ``L`` in [0, 100], and for hint models also
  ``hint_ab`` ``(B, 2, H, W)`` (Lab units) and ``hint_mask`` ``(B, 1, H, W)`` in {0, 1};
  ``B``, ``H`` and ``W`` are dynamic (``H`` and ``W`` multiples of 16);
- outputs ``logits`` ``(B, Q, H/4, W/4)`` and/or ``ab`` ``(B, 2, H/4, W/4)``, whichever the
  model produces.

Decoding (the annealed mean at any temperature) is not in the graph: the bin centres and the
model's settings travel in the file's metadata (:data:`METADATA_PREFIX` keys), and
:class:`~masterpiece.models.runtime.OnnxColorizer` decodes as the PyTorch model does.

int8: ``onnxruntime.quantization.quantize_static`` in operator format (``QLinearConv``: 5 %
faster than QDQ here, as accurate), per-channel int8 weights and uint8 activations (the VNNI path), calibrated on ``L`` images given
by the caller (made above this layer, e.g. from a folder of photographs by ``masterpiece models
export --calibration DIR``) or, without them, on generated images (fixed seeds: the same
weights give the same file). Only convolutions and matrix products are quantized,
and not the full-resolution first layers (:attr:`ColorizationModel.int8_float_modules`) nor
the last convolution (the bin logits): the annealed mean divides the logits by T = 0.38,
which amplifies their rounding errors. Activation ranges are the 99.9999th percentile of
the calibration values (:data:`CALIBRATION_PERCENTILE`). On the bundled model int8 stays
within about 1 ab of float32 on average, with and without hints (2.2 when everything was
quantized with min-max ranges), at the same speed.

:func:`export_bundled` builds the ONNX files that ship next to a bundled model's safetensors
(``masterpiece models bundle``; the manifest format is :mod:`masterpiece.models.bundled_onnx`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path, output_error, scratch_sibling
from ..errors import ConfigError, ModelError
from ..settings import DEFAULT_SIZE
from ._base import ColorizationModel
from ._weights import refuse_overwrite
from .backend_choice import generated_lightness
from .bundled_onnx import (
    BUNDLED_PRECISIONS,
    BundledOnnxFile,
    bundled_dir,
    file_sha256,
    onnx_filename,
    write_manifest_entry,
)

logger = logging.getLogger(__name__)

#: metadata keys written into the exported file start with this
METADATA_PREFIX = "masterpiece."
INPUT_NAMES = ("lightness", "hint_ab", "hint_mask")
OUTPUT_NAMES = ("logits", "ab")
#: ONNX opset of the exported graphs
OPSET = 17
_Module = TypeVar("_Module", bound=nn.Module)
_INSTALL_HINT = "install the ONNX extras: pip install 'masterpiece[onnx]' (onnx and onnxruntime)"


def require_onnx() -> None:
    """Raise :class:`ConfigError` with an install hint unless onnx and onnxruntime import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise ConfigError(f"ONNX export and int8 inference need onnx and onnxruntime; {_INSTALL_HINT}") from error


class _PredictGraph(nn.Module):
    """``predict`` as a module returning a tuple of tensors (what ONNX export can trace).

    Build it in eval mode: the exporter restores the wrapper's mode afterwards, recursively,
    so a wrapper left in training mode would switch the wrapped model to training.
    """

    def __init__(self, model: ColorizationModel, outputs: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.outputs = outputs

    def forward(self, lightness: torch.Tensor, *hints: torch.Tensor) -> tuple[torch.Tensor, ...]:
        prediction = self.model.predict(lightness, *hints) if hints else self.model.predict(lightness)
        return tuple(getattr(prediction, name) for name in self.outputs)


def example_inputs(model: ColorizationModel, size: int = DEFAULT_SIZE, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Inputs of ``model``'s graph: ``L`` (and zero hints for hint models) at ``size`` x ``size``."""
    lightness = torch.linspace(0.0, 100.0, size * size).reshape(1, 1, size, size).repeat(batch, 1, 1, 1)
    if not model.accepts_hints:
        return (lightness,)
    return lightness, torch.zeros(batch, 2, size, size), torch.zeros(batch, 1, size, size)


def _present_outputs(model: ColorizationModel, inputs: tuple[torch.Tensor, ...]) -> tuple[str, ...]:
    with torch.inference_mode():
        prediction = model.predict(*inputs)
    return tuple(name for name in OUTPUT_NAMES if getattr(prediction, name) is not None)


def model_metadata(
    model: ColorizationModel, name: str, precision: str, source_sha256: str | None = None
) -> dict[str, str]:
    """What :class:`~masterpiece.models.runtime.OnnxColorizer` needs to decode: all strings.

    ``source_sha256`` (the sha256 of the weights file the model was loaded from) is written
    as ``masterpiece.source_sha256`` when given, so a file can be traced back to its weights.
    """
    centers = model.bin_centers
    source = {} if source_sha256 is None else {f"{METADATA_PREFIX}source_sha256": source_sha256}
    return {
        f"{METADATA_PREFIX}model": name,
        f"{METADATA_PREFIX}precision": precision,
        f"{METADATA_PREFIX}accepts_hints": json.dumps(bool(model.accepts_hints)),
        f"{METADATA_PREFIX}decoder": model.decoder,
        f"{METADATA_PREFIX}annealed_weight": json.dumps(float(model.annealed_weight)),
        f"{METADATA_PREFIX}regression_tint": json.dumps(float(model.regression_tint)),
        f"{METADATA_PREFIX}bin_centers": json.dumps(
            None if centers is None else centers.detach().cpu().float().tolist()
        ),
        **source,
    }


def export_onnx(
    model: ColorizationModel,
    output: str | Path,
    *,
    name: str | None = None,
    int8: bool = False,
    calibration: Sequence[np.ndarray] | None = None,
    calibration_count: int = 16,
    size: int = DEFAULT_SIZE,
    overwrite: bool = False,
    source_sha256: str | None = None,
) -> Path:
    """Export ``model`` to an ONNX file with dynamic batch, height and width (atomically).

    Args:
        model: any :class:`ColorizationModel` (its weights as loaded).
        output: the ``.onnx`` file to write.
        name: the registered name stored in the metadata (default: the class name).
        int8: quantize to int8 (static, calibrated) instead of float32.
        calibration: the int8 calibration images, each ``(1, 1, S, S)`` float32 ``L`` in
            [0, 100] (as the pipeline feeds the network); ``None``: ``calibration_count``
            generated images (:func:`generated_calibration_images`).
        calibration_count: how many images to generate when ``calibration`` is ``None``.
        size: side of the tracing and generated calibration images (multiple of 16).
        source_sha256: sha256 of the weights file, written into the metadata when given.

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is false (checked first).
        ConfigError: onnx/onnxruntime are not installed, or ``size`` is not a multiple of 16.
        ModelError: the export failed.
        OutputError: ``output`` cannot be written.
    """
    output = Path(output)
    refuse_overwrite(output, overwrite)
    require_onnx()
    if size < 32 or size % 16:
        raise ConfigError(f"export size must be a multiple of 16 and at least 32, got {size}")
    if isinstance(calibration, (str, Path)):
        raise TypeError("calibration takes L images, not a folder; read them above the models layer")
    if calibration is not None and not len(calibration):
        raise ConfigError("the int8 calibration needs at least one image")
    model = fold_batch_norms(model.eval().cpu())
    inputs = example_inputs(model, size)
    precision = "int8" if int8 else "fp32"
    metadata = model_metadata(model, name or type(model).__name__, precision, source_sha256)
    with atomic_path(output) as final_file, scratch_sibling(output) as float_file:
        try:
            _export_float(model, inputs, float_file)
            if int8:
                images = calibration if calibration is not None else generated_calibration_images(calibration_count, size)
                quantize_int8(float_file, final_file, model, images)
            else:
                os.replace(float_file, final_file)
            _write_metadata(final_file, metadata)
        except OSError as error:
            raise output_error(output, error) from error
    logger.info("exported %s (%s) to %s", metadata[f"{METADATA_PREFIX}model"], precision, output)
    return output


def fold_batch_norms(model: _Module) -> _Module:
    """A copy of ``model`` (in eval mode) with every batch norm that directly follows a
    convolution in a ``Sequential`` folded into that convolution's weights and bias.

    The folding is what ONNX export does anyway, but computed here in float64 with NumPy and
    rounded once to float32: the exporter's own float32 folding rounds differently on
    different CPUs (the bundled model's float32 file rebuilt on an Intel Xeon differed from
    the one built on an AMD EPYC in 40 of its 46 tensors, by one or two units in the last
    place), so the shipped file could not be rebuilt byte for byte everywhere.
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (_, conv), (bn_name, bn) in itertools.pairwise(children):
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats):
                continue
            weight = conv.weight.detach().double().numpy()
            bias = np.zeros(weight.shape[0]) if conv.bias is None else conv.bias.detach().double().numpy()
            gamma = np.ones(weight.shape[0]) if bn.weight is None else bn.weight.detach().double().numpy()
            beta = np.zeros(weight.shape[0]) if bn.bias is None else bn.bias.detach().double().numpy()
            mean, var = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
            scale = gamma / np.sqrt(var + bn.eps)
            conv.weight = nn.Parameter(torch.from_numpy((weight * scale[:, None, None, None]).astype(np.float32)))
            conv.bias = nn.Parameter(torch.from_numpy(((bias - mean) * scale + beta).astype(np.float32)))
            setattr(module, bn_name, nn.Identity())
    return folded


def _export_float(model: ColorizationModel, inputs: tuple[torch.Tensor, ...], path: Path) -> None:
    """Trace ``predict`` into a float32 ONNX graph with dynamic ``B``, ``H`` and ``W``."""
    outputs = _present_outputs(model, inputs)
    input_names = list(INPUT_NAMES[: len(inputs)])
    spatial = {0: "batch", 2: "height", 3: "width"}
    dynamic = {name: spatial for name in (*input_names, *outputs)}
    try:
        with warnings.catch_warnings():
            # tracing notes that shape arithmetic becomes constant; the graph is checked by the tests
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                _PredictGraph(model, outputs).eval(), inputs, str(path), input_names=input_names,
                output_names=list(outputs), dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
            )
    except (RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError) as error:
        raise ModelError(f"ONNX export of {type(model).__name__} failed: {error}") from error


def _write_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    graph = onnx.load(str(path))
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))


# --------------------------------------------------------------------------- int8


def generated_calibration_images(count: int, size: int) -> list[np.ndarray]:
    """``count`` generated ``(1, 1, size, size)`` float32 ``L`` images in [0, 100] for calibration.

    Smooth gradients, discs and noise covering the whole ``L`` range; image ``i`` is drawn
    from seed ``i``, so the same arguments give the same images.
    """
    return [generated_lightness(index, size) for index in range(count)]


class _CalibrationReader:
    """The ``CalibrationDataReader`` protocol of onnxruntime over a list of ``L`` images.

    For models that take hints, every other image carries a few random colour hints (3x3
    patches), so the activation ranges cover hinted as well as automatic use.
    """

    def __init__(self, images: Sequence[np.ndarray], accepts_hints: bool) -> None:
        rng = np.random.default_rng(0)
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(
            [self._feed(image, accepts_hints and index % 2 == 1, accepts_hints, rng) for index, image in enumerate(images)]
        )

    @staticmethod
    def _feed(image: np.ndarray, hinted: bool, accepts_hints: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
        feed = {"lightness": image.astype(np.float32)}
        if accepts_hints:
            batch, _, height, width = image.shape
            feed["hint_ab"] = np.zeros((batch, 2, height, width), np.float32)
            feed["hint_mask"] = np.zeros((batch, 1, height, width), np.float32)
            for _ in range(int(rng.integers(1, 11)) if hinted else 0):
                row, column = int(rng.integers(0, height - 2)), int(rng.integers(0, width - 2))
                # +-60, not the whole ab range: calibrating on +-110 (or +-85) hints widened the
                # activation ranges so much that the automatic mode drifted 1.45-1.57 ab from
                # float32 on the bundled v2 model instead of 0.85-0.90 (saturated hints drift more)
                feed["hint_ab"][:, :, row : row + 3, column : column + 3] = rng.uniform(-60, 60, (1, 2, 1, 1))
                feed["hint_mask"][:, :, row : row + 3, column : column + 3] = 1.0
        return feed

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _nodes_feeding(graph_path: Path, outputs: Sequence[str]) -> list[str]:
    """Names of the nodes that produce ``outputs`` directly (kept in float32)."""
    import onnx

    graph = onnx.load(str(graph_path)).graph
    return [node.name for node in graph.node if set(node.output) & set(outputs) and node.name]


def _nodes_of_modules(graph_path: Path, modules: Sequence[str]) -> list[str]:
    """Names of the nodes exported from the submodules ``modules`` (``/stage1/...``)."""
    import onnx

    graph = onnx.load(str(graph_path)).graph
    return [node.name for node in graph.node if any(node.name.startswith(f"/{module}/") for module in modules)]


#: the operators quantized to int8: the convolutions and matrix products hold nearly all the
#: time; quantizing the cheap element-wise ones as well added rounding (0.85 ab on the bundled
#: model instead of 0.33) for no measurable speed
INT8_OPERATORS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: activation ranges cover this percentile of the calibration values. The calibration images
#: include hinted ones (hints make a few activations far larger); with plain min-max ranges
#: those few stretch every range and automatic colorization drifts (bundled model, 20 val
#: photos, mean ab from float32, automatic / with 5 hints: min-max 1.66 / 0.93; 99.9999 %:
#: 1.02 / 0.78; 99.99 %: 0.62 / 9.4, the hints clipped away)
CALIBRATION_PERCENTILE = 99.9999


def quantize_int8(
    float_path: Path,
    output: Path,
    model: ColorizationModel,
    images: Sequence[np.ndarray],
    keep_heads_float: bool = True,
) -> None:
    """Static int8 quantization of a float32 export (QLinearConv, per-channel weights, uint8 activations).

    Only :data:`INT8_OPERATORS` are quantized, and not in the model's
    :attr:`~masterpiece.models.ColorizationModel.int8_float_modules` (its full-resolution layers).

    Args:
        float_path: the float32 ONNX file.
        output: where the int8 file goes (overwritten).
        model: the exported model (for its inputs and its float modules).
        images: calibration ``L`` images, each ``(1, 1, S, S)`` float32.
        keep_heads_float: leave the nodes producing the outputs in float32.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    excluded = _nodes_feeding(float_path, OUTPUT_NAMES) if keep_heads_float else []
    excluded += _nodes_of_modules(float_path, model.int8_float_modules)
    root = logging.getLogger()  # the quantizer logs a note per tensor on the root logger
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    # and the calibrator prints its progress ("Collecting tensor data...", "Percentile : ...")
    chatter = io.StringIO()
    try:
        with scratch_sibling(output) as prepared, contextlib.redirect_stdout(chatter):
            quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared), str(output), _CalibrationReader(images, model.accepts_hints),
                quant_format=QuantFormat.QOperator, per_channel=True, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile,
                extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
                nodes_to_exclude=excluded, op_types_to_quantize=list(INT8_OPERATORS),
            )
    finally:
        root.setLevel(level)
        logger.debug("onnxruntime calibration: %s", " | ".join(chatter.getvalue().split("\n")).strip(" |"))


# --------------------------------------------------------------------------- bundled files


def bundled_model_names() -> list[str]:
    """The registered models whose weights ship inside the package."""
    from ._registry import get_model_info, list_models

    return [name for name in list_models() if (spec := get_model_info(name).weights) is not None and spec.bundled]


def _tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def export_bundled(
    name: str, directory: str | Path | None = None, *, calibration_count: int = 16
) -> dict[str, BundledOnnxFile]:
    """Export a bundled model from its shipped safetensors to the ONNX files that ship with it.

    Writes ``<safetensors stem>-fp32.onnx`` and ``-int8.onnx`` (int8 calibrated on
    ``calibration_count`` generated images, fixed seeds) with the safetensors' sha256 in their
    ``masterpiece.source_sha256`` metadata, then the manifest entry
    (:func:`~masterpiece.models.bundled_onnx.write_manifest_entry`, which deletes the files of
    replaced weights). The registered spec names the weights, so after a retraining this
    rebuilds from the new file. The same weights and tool versions give the same float32
    bytes on any CPU (:func:`fold_batch_norms`) and the same int8 bytes on the same kind of CPU.

    Args:
        name: a model whose registered weights are bundled (``compact``).
        directory: where to write (default: the package's ``models/bundled``).
        calibration_count: how many generated images calibrate the int8 file.

    Returns:
        The manifest entries written, by precision.

    Raises:
        ConfigError: ``name`` has no bundled weights, onnx is missing, or the count is below 1.
        WeightsNotFoundError, ChecksumMismatchError: the shipped safetensors are missing or
            not the registered ones.
        OutputError: the folder cannot be written.
    """
    from ._registry import get_model_info
    from ._weights import ensure_weights
    from .factory import create_model

    info = get_model_info(name)
    if name not in bundled_model_names():
        raise ConfigError(f"{name!r} has no bundled weights; bundled models: {', '.join(bundled_model_names())}")
    if calibration_count < 1:
        raise ConfigError(f"the calibration needs at least 1 image, got {calibration_count}")
    require_onnx()
    source = ensure_weights(info, download=False)  # verified against the registered sha256
    source_sha256 = file_sha256(source)
    model = create_model(name, weights=source)
    directory = bundled_dir() if directory is None else Path(directory)
    images = generated_calibration_images(calibration_count, info.input_size)
    files: dict[str, BundledOnnxFile] = {}
    for precision in BUNDLED_PRECISIONS:
        path = export_onnx(
            model, directory / onnx_filename(source.name, precision), name=name, int8=precision == "int8",
            calibration=images, size=info.input_size, overwrite=True, source_sha256=source_sha256,
        )
        files[precision] = BundledOnnxFile(path.name, file_sha256(path), path.stat().st_size, source.name, source_sha256)
    write_manifest_entry(directory, name, files, _tool_versions())
    return files
