"""Writing a restoration network's bundled files (needs torch; training and export only): the
safetensors, the float32 ONNX graph with its metadata, and the folder's manifest entry."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path
from ..models.bundled_onnx import BundledOnnxFile, file_sha256, onnx_filename, write_manifest_entry

__all__ = ["export_onnx", "save_weights"]

_OPSET = 17


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """``model``'s weights as a safetensors file with ``metadata`` (written atomically, mode 644)."""
    from safetensors.torch import save_file

    with atomic_path(path, mode=0o644) as temporary:
        save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(temporary),
                  metadata=metadata)


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
