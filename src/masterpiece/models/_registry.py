"""The model zoo: ``@register_model`` functions, their weight metadata, ``create_model``.

As in timm, the decorated function's name is the model's key, and the function builds the
architecture with random weights. The metadata (where the weights come from, their sha256,
licence) is a typed :class:`WeightsSpec` attached at registration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import UnknownModelError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsSpec:
    """Where a model's pretrained weights come from and how to verify them.

    Attributes:
        filename: the file's name in the cache (or in the package for bundled weights).
        sha256: full hex sha256 of the file as published.
        license: licence of the weights.
        source: a human-readable origin (paper, project page).
        url: download address, or ``None`` for weights shipped inside the package.
        size_bytes: the file's size when known (shown by ``models list``).
        bundled: ``True`` when the file ships inside the package (``models/bundled``).
    """

    filename: str
    sha256: str
    license: str
    source: str
    url: str | None = None
    size_bytes: int | None = None
    bundled: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its key, what it is, how to build it and where its weights are.

    Attributes:
        name: the registry key (the factory function's name).
        description: one line for ``models list``.
        input_size: default side of the square L image the network sees.
        accepts_hints: whether the model takes user colour hints.
        weights: the published weights, or ``None`` when there are none.
        factory: builds the architecture with random weights.
        quality_rank: higher is preferred when choosing a default among available models.
    """

    name: str
    description: str
    input_size: int
    accepts_hints: bool
    weights: WeightsSpec | None
    factory: Callable[..., object]
    quality_rank: int = 0


_REGISTRY: dict[str, ModelInfo] = {}

F = TypeVar("F", bound=Callable[..., object])


def register_model(
    *,
    description: str,
    weights: WeightsSpec | None,
    input_size: int = 256,
    accepts_hints: bool = False,
    quality_rank: int = 0,
) -> Callable[[F], F]:
    """Register a model factory under its function name."""

    def decorator(factory: F) -> F:
        name = factory.__name__
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(
            name=name,
            description=description,
            input_size=input_size,
            accepts_hints=accepts_hints,
            weights=weights,
            factory=factory,
            quality_rank=quality_rank,
        )
        return factory

    return decorator


def _ensure_builtin_models_registered() -> None:
    # Importing the architecture modules runs their @register_model decorators.
    from . import compact, eccv16, siggraph17  # noqa: F401


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_builtin_models_registered()
    return sorted(_REGISTRY)


def get_model_info(name: str) -> ModelInfo:
    """The registration record of ``name``; raises :class:`UnknownModelError` if unknown."""
    _ensure_builtin_models_registered()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(
            f"unknown model {name!r}; registered models are: {known} "
            "(run `masterpiece models list`)"
        ) from None


def create_model(
    name: str,
    pretrained: bool = True,
    weights: str | Path | None = None,
    download: bool = True,
    **kwargs: object,
):
    """Build a registered model, optionally with its pretrained weights.

    Args:
        name: a key from :func:`list_models`.
        pretrained: load the published (or bundled) weights, downloading them if needed.
        weights: a local weights file to load instead (any supported layout: the published
            checkpoint, our safetensors, or a training checkpoint). Implies ``pretrained``.
        download: allow downloading missing weights; ``False`` fails with a message instead.
        kwargs: passed to the architecture's factory.

    Returns:
        The model (a :class:`~masterpiece.models.ColorizationModel`) in eval mode.
    """
    from ._weights import load_weights_into

    info = get_model_info(name)
    model = info.factory(**kwargs)
    if weights is not None or pretrained:
        load_weights_into(model, info, weights_path=weights, download=download)
    model.eval()
    return model
