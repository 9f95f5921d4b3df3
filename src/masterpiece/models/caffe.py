"""Import the original Caffe release of ECCV16 (the seed's OpenCV DNN files) into PyTorch.

The release is a deploy prototxt, ``colorization_release_v2.caffemodel`` and
``pts_in_hull.npy`` (the 313 ab bin centres, which the demo loads into layer ``class8_ab``).
:func:`import_caffe_eccv16` turns them into a state dict in the published PyTorch layout
of :class:`~masterpiece.models.eccv16.ECCV16Colorizer`.

The caffemodel is a serialized ``NetParameter`` protobuf, read here with a minimal
wire-format reader (no Caffe or protobuf code generation needed). Only these fields are used::

    NetParameter      layer = 100 (LayerParameter)     legacy: layers = 2 (V1LayerParameter)
    LayerParameter    name = 1, type = 2, blobs = 7    V1: name = 4, type = 5 (enum), blobs = 6
    BlobProto         data = 5 (packed float), double_data = 8, shape = 7 (BlobShape: dim = 1),
                      legacy num, channels, height, width = 1..4

Caffe ``BatchNorm`` layers (``convN_Mnorm``) hold the mean, the variance and a scale factor
that both must be divided by; they have no affine part, so the PyTorch BatchNorm gets
weight 1 and bias 0. The Caffe net's ``conv8_313_rh`` scale of 2.606 (= 1 / 0.38) is not
baked in: the PyTorch model applies the temperature when decoding.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import IncompatibleWeightsError, InvalidInputError, WeightsError
from ._base import AB_SCALE
from ._weights import refuse_overwrite, save_safetensors
from .eccv16 import NUM_BINS, ECCV16Colorizer

logger = logging.getLogger(__name__)

#: the layer holding the bin centres in the Caffe net (filled from ``pts_in_hull.npy``)
BIN_CENTERS_LAYER = "class8_ab"
#: Caffe name of the last 1x1 convolution (the bin logits)
LOGITS_LAYER = "conv8_313"
#: other names a layer has in some releases (the first convolution sees gray input only)
_ALIASES = {"conv1_1": ("conv1_1", "bw_conv1_1")}

# protobuf field numbers: (layer field in NetParameter, name field, blobs field) per format
_LAYER_FORMATS = ((100, 1, 7), (2, 4, 6))
_BLOB_DATA, _BLOB_SHAPE, _BLOB_DOUBLE_DATA, _SHAPE_DIM = 5, 7, 8, 1
_LEGACY_DIMS = (1, 2, 3, 4)  # num, channels, height, width
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class _WireFormatError(ValueError):
    """The bytes are not a valid protobuf message."""


# --------------------------------------------------------------------------- wire format


def _read_varint(buffer: memoryview, position: int) -> tuple[int, int]:
    """Decode the varint at ``position``; returns ``(value, next position)``."""
    value = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise _WireFormatError("truncated or overlong varint")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(buffer: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field number, wire type, value)`` of a message; values of wire type 2, 1, 5 as bytes."""
    position = 0
    while position < len(buffer):
        key, position = _read_varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, position = _read_varint(buffer, position)
            yield number, wire_type, value
            continue
        if wire_type == _LENGTH_DELIMITED:
            size, position = _read_varint(buffer, position)
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
        else:
            raise _WireFormatError(f"unsupported wire type {wire_type} (field {number})")
        if number == 0 or position + size > len(buffer):
            raise _WireFormatError("truncated message or invalid field")
        yield number, wire_type, buffer[position : position + size]
        position += size


def _packed_varints(value: int | memoryview) -> list[int]:
    if isinstance(value, int):
        return [value]
    numbers, position = [], 0
    while position < len(value):
        number, position = _read_varint(value, position)
        numbers.append(number)
    return numbers


# --------------------------------------------------------------------------- caffe messages


@dataclass
class CaffeBlob:
    """One parameter array of a Caffe layer: its values and its declared shape."""

    data: np.ndarray
    shape: tuple[int, ...]


def _parse_blob(message: memoryview) -> CaffeBlob:
    chunks: list[np.ndarray] = []
    dims: list[int] = []
    legacy = dict.fromkeys(_LEGACY_DIMS, 1)
    for number, wire_type, value in _fields(message):
        if number == _BLOB_DATA and wire_type in (_LENGTH_DELIMITED, _FIXED32):  # packed or not
            chunks.append(np.frombuffer(value, dtype="<f4"))
        elif number == _BLOB_DOUBLE_DATA and wire_type == _LENGTH_DELIMITED:
            chunks.append(np.frombuffer(value, dtype="<f8").astype(np.float32))
        elif number == _BLOB_SHAPE and wire_type == _LENGTH_DELIMITED:
            dims = [d for n, _, v in _fields(value) if n == _SHAPE_DIM for d in _packed_varints(v)]
        elif number in legacy and wire_type == _VARINT:
            legacy[number] = value
    data = np.concatenate(chunks) if chunks else np.empty(0, np.float32)
    shape = tuple(dims) if dims else tuple(legacy[number] for number in _LEGACY_DIMS)
    return CaffeBlob(data=data, shape=shape)


def _parse_layer(
    message: memoryview, name_field: int, blobs_field: int
) -> tuple[str, list[CaffeBlob]]:
    name, blobs = "", []
    for number, wire_type, value in _fields(message):
        if wire_type != _LENGTH_DELIMITED:
            continue
        if number == name_field:
            name = bytes(value).decode("utf-8", errors="replace")
        elif number == blobs_field:
            blobs.append(_parse_blob(value))
    return name, blobs


def parse_caffemodel(data: bytes) -> dict[str, list[CaffeBlob]]:
    """Layer name -> blobs of a serialized Caffe ``NetParameter`` (layers without blobs included).

    Raises:
        ValueError: the bytes are not a protobuf message.
    """
    formats = {
        layer_field: (name_field, blobs_field)
        for layer_field, name_field, blobs_field in _LAYER_FORMATS
    }
    layers: dict[str, list[CaffeBlob]] = {}
    for number, wire_type, value in _fields(memoryview(data)):
        if number in formats and wire_type == _LENGTH_DELIMITED:
            name, blobs = _parse_layer(value, *formats[number])
            layers[name] = blobs
    return layers


# --------------------------------------------------------------------------- reading the files


def _existing_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{what} {path} does not exist; check the path")
    return path


def read_caffemodel(path: str | Path) -> dict[str, list[CaffeBlob]]:
    """Read the layers of a ``.caffemodel`` file (see :func:`parse_caffemodel`)."""
    path = _existing_file(path, "caffemodel")
    try:
        layers = parse_caffemodel(path.read_bytes())
    except ValueError as error:
        raise WeightsError(
            f"{path} is not a Caffe model ({error}); pass the .caffemodel file"
        ) from error
    if not layers:
        raise WeightsError(
            f"{path} holds no Caffe layers; pass the .caffemodel file (not the .prototxt)"
        )
    return layers


def read_bin_centers(path: str | Path) -> torch.Tensor:
    """``pts_in_hull.npy`` -> ``(313, 2)`` float32 ab bin centres in Lab units."""
    path = _existing_file(path, "bin centres file")
    try:
        centers = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise WeightsError(f"{path} is not a .npy array of bin centres ({error})") from error
    if centers.shape != (NUM_BINS, 2) or not np.issubdtype(centers.dtype, np.number):
        raise IncompatibleWeightsError(
            f"{path} holds an array of shape {centers.shape} ({centers.dtype}); the ECCV16 bin "
            f"centres are a ({NUM_BINS}, 2) numeric array (pts_in_hull.npy of the release)"
        )
    return torch.from_numpy(centers.astype(np.float32))


def _check_prototxt(path: str | Path, layer_names: list[str]) -> None:
    """Check that the deploy prototxt describes the ECCV16 colorization net."""
    path = _existing_file(path, "prototxt")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as error:
        raise WeightsError(
            f"{path} is not a text prototxt ({error}); pass the deploy .prototxt"
        ) from error
    declared = set(re.findall(r'\bname\s*:\s*"([^"]+)"', text))
    missing = [
        name for name in layer_names if not declared.intersection(_ALIASES.get(name, (name,)))
    ]
    if missing:
        raise IncompatibleWeightsError(
            f"{path} is not the ECCV16 colorization deploy net: it declares no layer "
            f"{', '.join(missing)}; pass colorization_deploy_v2.prototxt"
        )


# --------------------------------------------------------------------------- mapping to PyTorch


def caffe_layer_map(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """Caffe layer name -> (PyTorch module path, module) for ECCV16's ``model1`` .. ``model8``.

    Convolutions of block ``N`` are ``convN_1``, ``convN_2``, ...; its BatchNorm is named
    after the last of them plus ``norm``; the final 1x1 convolution is ``conv8_313``.
    """
    mapping: dict[str, tuple[str, nn.Module]] = {}
    for block_index in range(1, 9):
        block_name = f"model{block_index}"
        conv_count = 0
        for child_name, child in getattr(model, block_name).named_children():
            path = f"{block_name}.{child_name}"
            if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)):
                conv_count += 1
                mapping[f"conv{block_index}_{conv_count}"] = (path, child)
            elif isinstance(child, nn.BatchNorm2d):
                mapping[f"conv{block_index}_{conv_count}norm"] = (path, child)
    last_conv = f"conv8_{conv_count}"
    mapping[LOGITS_LAYER] = mapping.pop(last_conv)
    return mapping


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(size for size in shape if size != 1)


def _blob_tensor(blob: CaffeBlob, shape: torch.Size, layer: str) -> torch.Tensor:
    """A blob as a tensor of ``shape``; Caffe's legacy 4-d shapes may pad with ones."""
    if blob.data.size != shape.numel() or _squeezed(blob.shape) != _squeezed(tuple(shape)):
        raise IncompatibleWeightsError(
            f"Caffe layer {layer!r} has a blob of shape {blob.shape} ({blob.data.size} values) "
            f"where ECCV16 needs {tuple(shape)}; the caffemodel is not the ECCV16 colorization release"
        )
    return torch.from_numpy(blob.data.reshape(tuple(shape)).copy())


def _layer_blobs(layers: dict[str, list[CaffeBlob]], name: str, count: int) -> list[CaffeBlob]:
    for alias in _ALIASES.get(name, (name,)):
        if alias in layers:
            blobs = layers[alias]
            if len(blobs) < count:
                raise IncompatibleWeightsError(
                    f"Caffe layer {alias!r} has {len(blobs)} blobs, expected {count}; "
                    "the caffemodel is not the ECCV16 colorization release"
                )
            return blobs
    raise IncompatibleWeightsError(
        f"the caffemodel has no layer {name!r}; it is not the ECCV16 colorization release "
        "(colorization_release_v2.caffemodel)"
    )


def _convolution(blobs: list[CaffeBlob], module: nn.Module, layer: str) -> dict[str, torch.Tensor]:
    return {
        "weight": _blob_tensor(blobs[0], module.weight.shape, layer),
        "bias": _blob_tensor(blobs[1], module.bias.shape, layer),
    }


def _batch_norm(
    blobs: list[CaffeBlob], module: nn.BatchNorm2d, layer: str
) -> dict[str, torch.Tensor]:
    """Caffe BatchNorm (mean, variance, scale factor; no affine) -> PyTorch BatchNorm2d."""
    mean, variance = (_blob_tensor(blob, module.running_mean.shape, layer) for blob in blobs[:2])
    factor = float(blobs[2].data[0]) if blobs[2].data.size else 0.0
    inverse = 0.0 if factor == 0 else 1.0 / factor
    return {
        "weight": torch.ones(module.num_features),
        "bias": torch.zeros(module.num_features),
        "running_mean": mean * inverse,
        "running_var": variance * inverse,
        "num_batches_tracked": torch.tensor(0, dtype=torch.long),
    }


def import_caffe_eccv16(
    prototxt: str | Path, caffemodel: str | Path, pts_in_hull: str | Path
) -> dict[str, torch.Tensor]:
    """Convert the Caffe release of ECCV16 into the published PyTorch state dict.

    Args:
        prototxt: the deploy prototxt (``colorization_deploy_v2.prototxt``), checked to
            declare the expected layers.
        caffemodel: ``colorization_release_v2.caffemodel``.
        pts_in_hull: ``pts_in_hull.npy``, the ``(313, 2)`` bin centres in Lab units.

    Returns:
        A CPU float32 state dict with exactly the keys and shapes of
        :class:`~masterpiece.models.eccv16.ECCV16Colorizer`.

    Raises:
        InvalidInputError: a file does not exist.
        WeightsError: a file is not what it should be (not a caffemodel, not a .npy array).
        IncompatibleWeightsError: a layer is missing or has the wrong shape.
    """
    with torch.device("meta"):
        template = ECCV16Colorizer()
    layer_map = caffe_layer_map(template)
    _check_prototxt(prototxt, [*layer_map, BIN_CENTERS_LAYER])
    centers = read_bin_centers(pts_in_hull)
    layers = read_caffemodel(caffemodel)
    state_dict: dict[str, torch.Tensor] = {}
    for layer, (path, module) in layer_map.items():
        if isinstance(module, nn.BatchNorm2d):
            tensors = _batch_norm(_layer_blobs(layers, layer, 3), module, layer)
        else:
            tensors = _convolution(_layer_blobs(layers, layer, 2), module, layer)
        state_dict.update({f"{path}.{key}": value for key, value in tensors.items()})
    state_dict["model_out.weight"] = (centers.T / AB_SCALE).reshape(template.model_out.weight.shape)
    logger.info("imported %d Caffe layers from %s", len(layer_map), caffemodel)
    return {key: state_dict[key] for key in template.state_dict()}


def import_caffe_eccv16_to_file(
    prototxt: str | Path,
    caffemodel: str | Path,
    pts_in_hull: str | Path,
    output: str | Path,
    overwrite: bool = False,
) -> Path:
    """:func:`import_caffe_eccv16`, then save the state dict as safetensors (atomically).

    The file loads with ``create_model("eccv16", weights=output)``.

    Raises:
        OutputExistsError: ``output`` exists and ``overwrite`` is false (checked first).
    """
    refuse_overwrite(output, overwrite)  # before the slow import
    return save_safetensors(
        import_caffe_eccv16(prototxt, caffemodel, pts_in_hull), output, overwrite
    )
