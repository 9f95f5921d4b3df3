"""Writing a restoration network's bundled files (needs torch; training and export only): the
safetensors, the float32 ONNX graph with its metadata, and the folder's manifest entry."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path
from ..models.bundled_onnx import BundledOnnxFile, file_sha256, onnx_filename, write_manifest_entry

__all__ = ["export_onnx", "fuse_space_to_depth", "save_weights"]

_OPSET = 17


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """``model``'s weights as a safetensors file with ``metadata`` (written atomically, mode 644)."""
    from safetensors.torch import save_file

    with atomic_path(path, mode=0o644) as temporary:
        save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(temporary),
                  metadata=metadata)


def fuse_space_to_depth(body: nn.Sequential) -> nn.Sequential:
    """``body`` with its leading space-to-depth and 1x1 convolution replaced by the one strided
    convolution they equal (kernel and stride the block's side), for export.

    ``PixelUnshuffle(r)`` puts pixel ``(i, j)`` of each ``r x r`` block of input channel ``c``
    in channel ``c r^2 + i r + j``, so a 1x1 convolution after it with weights ``W[o, c r^2 +
    i r + j]`` is the ``r x r`` convolution of stride ``r`` with weights ``K[o, c, i, j]``: the
    same sums, without the 6-dimensional transpose, which took a third of the filler's and a
    sixth of the detector's time in ONNX Runtime (MODEL_CARD.md). The result agrees with
    ``body`` to float rounding (about 1e-4 on logits; tested) on inputs whose sides are
    multiples of the block, as the callers pad them (on others the space-to-depth fails and the
    strided convolution drops the last rows). A body that does not start with a space-to-depth
    and a plain 1x1 convolution (stride 1, no padding, no groups) is returned as it is.
    """
    layers = list(body)
    if len(layers) < 2 or not isinstance(layers[0], nn.PixelUnshuffle) or not isinstance(layers[1], nn.Conv2d):
        return body
    block, mix = layers[0].downscale_factor, layers[1]
    if (mix.kernel_size != (1, 1) or mix.stride != (1, 1) or mix.padding != (0, 0) or mix.groups != 1
            or mix.in_channels % (block * block)):
        return body
    inputs = mix.in_channels // (block * block)
    fused = nn.Conv2d(inputs, mix.out_channels, block, stride=block, bias=mix.bias is not None,
                      device=mix.weight.device, dtype=mix.weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(mix.weight.reshape(mix.out_channels, inputs, block, block))
        if mix.bias is not None:
            fused.bias.copy_(mix.bias)
    return nn.Sequential(fused, *layers[2:])


def export_onnx(model: nn.Module, weights: Path, model_name: str, channels: int, names: tuple[str, str],
                metadata: dict[str, str]) -> dict[str, BundledOnnxFile]:
    """Export ``model`` (made from ``weights``) beside them as float32 ONNX, record it in the folder's manifest.

    The graph takes ``(1, channels, H, W)`` with dynamic height and width; ``names`` are its
    input and output names; ``metadata`` (in its order; it should hold the weights' sha256 as
    ``masterpiece.source_sha256``) goes into the graph. The same weights and tool versions give
    the same bytes.
    """
    import onnx
    import onnxruntime

    directory = weights.parent
    source_sha256 = file_sha256(weights)
    path = directory / onnx_filename(weights.name, "fp32")
    example = torch.zeros(1, channels, 64, 64)
    dynamic = {name: {2: "height", 3: "width"} for name in names}
    torch.onnx.export(model.eval(), (example,), str(path), input_names=[names[0]], output_names=[names[1]],
                      dynamic_axes=dynamic, opset_version=_OPSET, dynamo=False)
    graph = onnx.load(str(path))
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))
    os.chmod(path, 0o644)
    entry = BundledOnnxFile(path.name, file_sha256(path), path.stat().st_size, weights.name, source_sha256)
    versions = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    write_manifest_entry(directory, model_name, {"fp32": entry}, versions)
    return {"fp32": entry}
