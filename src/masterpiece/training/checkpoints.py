"""Training checkpoints (resumable, with optimizer state) and exported weights (safetensors)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..errors import UnsafeCheckpointError


def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")


def _replace_atomically(write, path: Path) -> None:
    """Run ``write(temporary_path)`` then rename onto ``path``; never leaves a partial file."""
    handle, temporary = _atomic_target(path)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """Write a resumable checkpoint (model, optimizer, schedule, progress) atomically."""
    _replace_atomically(lambda temporary: torch.save(state, temporary), path)


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
    """Save the model's weights as safetensors; floating tensors are stored as ``dtype``.

    Batch-norm statistics and bin centres are kept in float32 (they need the range).
    """
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        keep_precision = name.endswith(("running_mean", "running_var", "ab_bin_centers"))
        if tensor.is_floating_point() and not keep_precision:
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    _replace_atomically(lambda temporary: save_file(tensors, temporary, metadata={"format": "pt"}), path)
