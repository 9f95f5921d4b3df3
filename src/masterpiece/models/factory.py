"""Build registered models: :func:`create_model`, as timm's ``create_model``.

The register (:mod:`._registry`) says what a name means; this module imports the
architecture's module when needed (it needs torch), builds it, checks that it states what its
registration says, and loads its weights (:mod:`._weights`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .._optional import require_torch
from ._registry import ModelInfo, get_model_info
from ._weights import load_weights_into

if TYPE_CHECKING:
    from ._base import ColorizationModel

__all__ = ["create_model"]


def _factory(info: ModelInfo) -> Callable[..., object]:
    """The factory of ``info``, importing its architecture module first when needed.

    Raises:
        MissingExtraError: torch is not installed.
    """
    if info.factory is not None:
        return info.factory
    require_torch(f"building the {info.name!r} network in PyTorch")
    # the function is named as the model; importing its module also registers it
    return getattr(importlib.import_module(info.module or ""), info.name)


def create_model(
    name: str,
    pretrained: bool = True,
    weights: str | Path | None = None,
    download: bool = True,
    **kwargs: object,
) -> ColorizationModel:
    """Build a registered model in PyTorch, optionally with its pretrained weights.

    Args:
        name: a key from :func:`list_models`.
        pretrained: load the published (or bundled) weights, downloading them if needed.
        weights: a local weights file to load instead (any supported layout: the published
            checkpoint, our safetensors, or a training checkpoint). Implies ``pretrained``.
        download: allow downloading missing weights; ``False`` fails with a message instead.
        kwargs: passed to the architecture's factory.

    Returns:
        The model (a :class:`~masterpiece.models.ColorizationModel`) in eval mode.

    Raises:
        UnknownModelError: ``name`` is not registered.
        MissingExtraError: torch is not installed.
    """
    info = get_model_info(name)
    model = _factory(info)(**kwargs)
    if bool(getattr(model, "accepts_hints", False)) != info.accepts_hints:
        raise RuntimeError(
            f"model {name!r} is registered with accepts_hints={info.accepts_hints} but its "
            f"architecture {type(model).__name__} says {getattr(model, 'accepts_hints', False)}; "
            "make them agree (built-in models read it from masterpiece/models/catalogue.py)"
        )
    if weights is not None or pretrained:
        load_weights_into(model, info, weights_path=weights, download=download)
    model.eval()
    return model
