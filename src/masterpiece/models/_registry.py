"""The model zoo's register: ``@register_model`` functions and their metadata (built by :mod:`.factory`).

As in timm, the decorated function's name is the model's key, and the function builds the
architecture with random weights. The metadata (where the weights come from, their sha256,
licence) is a typed :class:`WeightsSpec`. The built-in models' metadata is the torch-free
:mod:`.catalogue`; their architecture modules are imported (and need torch) only when a
network is built.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TypeVar

from ..errors import UnknownModelError
from .catalogue import BUILTIN_MODELS, ModelInfo, WeightsSpec

__all__ = ["ModelInfo", "WeightsSpec", "get_model_info", "list_models", "register_model"]

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
