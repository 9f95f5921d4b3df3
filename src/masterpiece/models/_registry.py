"""The model zoo: ``@register_model`` functions, their weight metadata, ``create_model``.

As in timm, the decorated function's name is the model's key, and the function builds the
architecture with random weights. The metadata (where the weights come from, their sha256,
licence) is a typed :class:`WeightsSpec`. The built-in models' metadata is the torch-free
:mod:`.catalogue`; their architecture modules are imported (and need torch) only when a
network is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .._optional import require_torch
from ..errors import UnknownModelError
from .catalogue import BUILTIN_MODELS, ModelInfo, WeightsSpec

if TYPE_CHECKING:
    from ._base import ColorizationModel

__all__ = ["ModelInfo", "WeightsSpec", "create_model", "get_model_info", "list_models", "register_model"]

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, ModelInfo] = {info.name: info for info in BUILTIN_MODELS}

F = TypeVar("F", bound=Callable[..., object])


def register_model(
    *,
    description: str | None = None,
    weights: WeightsSpec | None = None,
    input_size: int = 256,
    accepts_hints: bool = False,
    quality_rank: int = 0,
) -> Callable[[F], F]:
    """Register a model factory under its function name.

    A built-in model (in :mod:`.catalogue`) takes its metadata from there: ``@register_model()``
    attaches the factory; metadata given anyway must equal the catalogue's.

    Raises:
        RuntimeError: the name is registered twice, a new model has no description, or a
            built-in model's metadata differs from the catalogue's.
    """

    def decorator(factory: F) -> F:
        name = factory.__name__
        known = _REGISTRY.get(name)
        if known is not None and known.factory is not None:
            raise RuntimeError(f"model {name!r} is registered twice")
        given = None if description is None else ModelInfo(
            name=name, description=description, input_size=input_size, accepts_hints=accepts_hints,
            weights=weights, quality_rank=quality_rank,
        )
        if known is None and given is None:
            raise RuntimeError(f"model {name!r} needs a description and its weights to be registered")
        if known is not None and given is not None and given.metadata() != known.metadata():
            raise RuntimeError(
                f"the metadata of model {name!r} differs from masterpiece/models/catalogue.py; "
                "change it there (the catalogue is read without importing the architecture)"
            )
        _REGISTRY[name] = dataclasses.replace(known or given, factory=factory)
        return factory

    return decorator


def list_models() -> list[str]:
    """Names of all registered models, sorted (no torch needed)."""
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """The registration record of ``name``; raises :class:`UnknownModelError` if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(
            f"unknown model {name!r}; registered models are: {known} "
            "(run `masterpiece models list`)"
        ) from None


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
    from ._weights import load_weights_into

    info = get_model_info(name)
    model = _factory(info)(**kwargs)
    if weights is not None or pretrained:
        load_weights_into(model, info, weights_path=weights, download=download)
    model.eval()
    return model
