"""Training checkpoints (resumable, with optimizer state) and exported weights (safetensors)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from ..atomic import write_bytes_atomically
from ..errors import UnsafeCheckpointError


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """Write a resumable checkpoint (model, optimizer, schedule, progress) atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomically(path, buffer.getvalue())


def load_training_state(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_training_state`, without executing code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError or RuntimeError for unsafe content
        if "weights_only" in str(error) or "Unpickl" in type(error).__name__:
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it holds objects that would execute code when unpickled"
            ) from None
        raise


def export_weights(path: Path, model: torch.nn.Module, dtype: torch.dtype = torch.float16) -> None:
    """Save the model's weights as safetensors, atomically; floating tensors are stored as ``dtype``.

    Batch-norm statistics and bin centres are kept in float32 (they need the range).
    """
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        keep_precision = name.endswith(("running_mean", "running_var", "ab_bin_centers"))
        if tensor.is_floating_point() and not keep_precision:
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    write_bytes_atomically(path, safetensors_bytes(tensors, metadata={"format": "pt"}))
