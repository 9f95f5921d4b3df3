"""Write ECCV16 weights as the Caffe release (deploy prototxt, caffemodel, ``pts_in_hull.npy``).

The inverse of :mod:`masterpiece.models.caffe`: used to run the seed's OpenCV DNN path on the
same weights as the PyTorch model (the benchmark baseline) and to test the import. The
caffemodel is a ``NetParameter`` in the protobuf wire format (field numbers in the docstring
of :mod:`masterpiece.models.caffe`), written without protobuf code generation; the
prototxt is a complete deploy net that OpenCV's ``readNetFromCaffe`` runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from masterpiece.models import AB_SCALE, DEFAULT_TEMPERATURE
from masterpiece.models.caffe import BIN_CENTERS_LAYER, LOGITS_LAYER, caffe_layer_map
from masterpiece.models.eccv16 import ECCV16Colorizer

#: the Caffe scale layer holding 1 / T before the softmax
ANNEAL_LAYER = "conv8_313_rh"


def encode_varint(value: int) -> bytes:
    """A protobuf varint."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_field(number: int, payload: bytes | int) -> bytes:
    """A protobuf field: varint for ``int``, length-delimited for ``bytes``."""
    if isinstance(payload, int):
        return encode_varint(number << 3) + encode_varint(payload)
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def encode_blob(array: np.ndarray, legacy_shape: bool = False) -> bytes:
    """A ``BlobProto``: packed little-endian float32 data and its shape (``BlobShape`` or legacy 1x1x1xN)."""
    if legacy_shape:  # num, channels, height, width = 1, 1, 1, n
        shape = b"".join(encode_field(number, size) for number, size in zip((1, 2, 3, 4), (1, 1, 1, array.size)))
    else:
        shape = encode_field(7, encode_field(1, b"".join(encode_varint(size) for size in array.shape)))
    return shape + encode_field(5, np.ascontiguousarray(array, dtype="<f4").tobytes())


def encode_layer(name: str, kind: str, blobs: list[bytes]) -> bytes:
    """A ``LayerParameter`` (name, type, blobs) as field 100 of a ``NetParameter``."""
    body = encode_field(1, name.encode()) + encode_field(2, kind.encode()) + b"".join(encode_field(7, b) for b in blobs)
    return encode_field(100, body)


def encode_net(layers: list[bytes], name: str = "colorization") -> bytes:
    """A ``NetParameter`` of already encoded layers."""
    return encode_field(1, name.encode()) + b"".join(layers)


def _layer_arrays(model: ECCV16Colorizer) -> dict[str, tuple[str, list[np.ndarray], nn.Module]]:
    """Caffe layer name -> (Caffe type, blobs, module), BatchNorm with a scale factor of 1."""
    layers = {}
    for caffe_name, (_, module) in caffe_layer_map(model).items():
        if isinstance(module, nn.BatchNorm2d):
            blobs = [module.running_mean, module.running_var, torch.ones(1)]
            kind = "BatchNorm"
        else:
            blobs = [module.weight, module.bias]
            kind = "Deconvolution" if isinstance(module, nn.ConvTranspose2d) else "Convolution"
        layers[caffe_name] = (kind, [b.detach().cpu().float().numpy() for b in blobs], module)
    return layers


def _conv_params(module: nn.Module) -> str:
    return (f"num_output: {module.out_channels} kernel_size: {module.kernel_size[0]} "
            f"pad: {module.padding[0]} stride: {module.stride[0]} dilation: {module.dilation[0]}")


def deploy_prototxt(model: ECCV16Colorizer, size: int = 224, temperature: float = DEFAULT_TEMPERATURE) -> str:
    """The deploy net in prototxt text: input ``data_l`` (L - 50), output ``class8_ab`` (ab in Lab units).

    The layer order is the network's; every convolution but the logits is followed by an
    in-place ReLU, and the annealing scale (1 / ``temperature``) precedes the softmax.
    """
    lines = [(f'name: "LtoAB"\nlayer {{ name: "data_l" type: "Input" top: "data_l" '
              f'input_param {{ shape {{ dim: 1 dim: 1 dim: {size} dim: {size} }} }} }}')]
    bottom = "data_l"
    for name, (kind, _, module) in _layer_arrays(model).items():
        if kind == "BatchNorm":
            lines.append(f'layer {{ name: "{name}" type: "BatchNorm" bottom: "{bottom}" top: "{name}" '
                         'batch_norm_param { use_global_stats: true } }')
        else:
            lines.append(f'layer {{ name: "{name}" type: "{kind}" bottom: "{bottom}" top: "{name}" '
                         f'convolution_param {{ {_conv_params(module)} }} }}')
            if name != LOGITS_LAYER:
                lines.append(f'layer {{ name: "relu_{name}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
        bottom = name
    lines += [
        (f'layer {{ name: "{ANNEAL_LAYER}" type: "Scale" bottom: "{bottom}" top: "{ANNEAL_LAYER}" '
         f'scale_param {{ bias_term: false filler {{ type: "constant" value: {1.0 / temperature:.4f} }} }} }}'),
        f'layer {{ name: "class8_313_rh" type: "Softmax" bottom: "{ANNEAL_LAYER}" top: "class8_313_rh" }}',
        (f'layer {{ name: "{BIN_CENTERS_LAYER}" type: "Convolution" bottom: "class8_313_rh" '
         f'top: "{BIN_CENTERS_LAYER}" convolution_param {{ num_output: 2 kernel_size: 1 stride: 1 bias_term: false }} }}'),
    ]
    return "\n".join(lines) + "\n"


def write_caffe_release(
    model: ECCV16Colorizer, directory: str | Path, size: int = 224, temperature: float = DEFAULT_TEMPERATURE
) -> dict[str, Path]:
    """Write ``model`` as the Caffe release into ``directory``.

    Returns:
        ``{"prototxt": ..., "caffemodel": ..., "pts_in_hull": ...}`` paths; ``pts_in_hull.npy``
        holds the ``(313, 2)`` bin centres (float64, Lab units), which the seed loads into
        ``class8_ab`` (as blob ``(2, 313, 1, 1)``, centres / 1, ab in Lab units).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    centers = model.bin_centers.detach().cpu().double().numpy()
    serialized = [
        encode_layer(name, kind, [encode_blob(a, legacy_shape=kind == "BatchNorm") for a in arrays])
        for name, (kind, arrays, _) in _layer_arrays(model).items()
    ]
    serialized.append(encode_layer(ANNEAL_LAYER, "Scale", [encode_blob(np.full(centers.shape[0], 1.0 / temperature))]))
    serialized.append(encode_layer("class8_313_rh", "Softmax", []))
    serialized.append(encode_layer(BIN_CENTERS_LAYER, "Convolution",
                                   [encode_blob(centers.T.reshape(2, -1, 1, 1).astype(np.float32))]))
    paths = {
        "prototxt": directory / "colorization_deploy_v2.prototxt",
        "caffemodel": directory / "colorization_release_v2.caffemodel",
        "pts_in_hull": directory / "pts_in_hull.npy",
    }
    paths["prototxt"].write_text(deploy_prototxt(model, size, temperature))
    paths["caffemodel"].write_bytes(encode_net(serialized))
    np.save(paths["pts_in_hull"], centers)
    return paths


def published_layout_centers() -> torch.Tensor:
    """313 ab bin centres on the grid of step 10 (the closest to grey): a stand-in for
    ``pts_in_hull.npy`` when the real file is absent (random-weight benchmarks)."""
    grid = torch.arange(-110, 120, 10, dtype=torch.float32)
    points = torch.cartesian_prod(grid, grid)
    order = torch.argsort(points.norm(dim=1), stable=True)
    return points[order[:313]]


def random_eccv16(seed: int = 0, logit_std: float = 1.0) -> ECCV16Colorizer:
    """ECCV16 with seeded random weights in the published layout, for speed and agreement checks.

    Default initialisation, then made to behave like a trained net in scale: ``model_out``
    holds :func:`published_layout_centers` / 110 (its columns are the centres); every
    BatchNorm's running statistics are those of a batch of probe images (so features keep
    their spatial variation through the 20 layers); the logits layer has no bias and is
    scaled so that the logits have standard deviation ``logit_std``. Otherwise the decoded
    ab is nearly constant, and agreement checks would pass whatever the pipeline does.
    """
    torch.manual_seed(seed)
    model = ECCV16Colorizer()
    rows, columns = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    probes = torch.stack([50 + 45 * torch.sin(6.0 * k * rows + 4.0 * columns * (k % 3)) for k in range(1, 9)])[:, None]
    with torch.no_grad():
        model.model_out.weight.copy_((published_layout_centers().T / AB_SCALE).reshape(2, 313, 1, 1))
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 1.0  # the running statistics become the probe batch's
        model.train().predict(probes)
        model.eval()
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1
        logits_layer = model.model8[-1]
        logits_layer.bias.zero_()
        logits_layer.weight.mul_(logit_std / float(model.predict(probes).logits.std()))
    return model
