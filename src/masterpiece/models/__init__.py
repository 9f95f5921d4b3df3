"""The model zoo: ECCV16, SIGGRAPH17 and Masterpiece's bundled compact model.

The catalogue (names, weights, :func:`list_models`, :func:`default_model_name`) and the
weights files (download, verification, cache) need no torch; the network classes and
:func:`create_model` do. Everything is imported lazily, so ``import masterpiece.models`` is
instant and torch-free. This is the face of the package: code outside ``models/`` imports
from here, never from ``_registry``, ``_weights`` or ``_base``.

As in timm, the register (:mod:`._registry`, ``@register_model``) and the factory
(:mod:`.factory`, :func:`create_model`) are separate modules; unlike timm the architectures
are not imported here (they need torch, an optional extra): the torch-free
:mod:`.catalogue` says which module registers each built-in model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "AB_SCALE": "_base",
    "DEFAULT_TEMPERATURE": "catalogue",
    "ColorPrediction": "_base",
    "ColorizationModel": "_base",
    "ModelInfo": "catalogue",
    "WeightsSpec": "catalogue",
    "available_models": "selection",
    "cache_dir": "_weights",
    "create_model": "factory",
    "download_weights": "_weights",
    "ensure_weights": "_weights",
    "load_state_dict": "_weights",
    "published_weights": "_weights",
    "refuse_overwrite": "_weights",
    "save_safetensors": "_weights",
    "sha256_of": "_weights",
    "weights_available": "_weights",
    "weights_path_for": "_weights",
    "default_model_name": "selection",
    "get_model_info": "_registry",
    "list_models": "_registry",
    "register_model": "_registry",
}

__all__ = [
    "AB_SCALE",
    "DEFAULT_TEMPERATURE",
    "ColorPrediction",
    "ColorizationModel",
    "ModelInfo",
    "WeightsSpec",
    "available_models",
    "cache_dir",
    "create_model",
    "download_weights",
    "ensure_weights",
    "load_state_dict",
    "published_weights",
    "refuse_overwrite",
    "save_safetensors",
    "sha256_of",
    "weights_available",
    "weights_path_for",
    "default_model_name",
    "get_model_info",
    "list_models",
    "register_model",
]

if TYPE_CHECKING:
    from ._base import AB_SCALE, ColorizationModel, ColorPrediction
    from ._registry import get_model_info, list_models, register_model
    from ._weights import (
        cache_dir,
        download_weights,
        ensure_weights,
        load_state_dict,
        published_weights,
        refuse_overwrite,
        save_safetensors,
        sha256_of,
        weights_available,
        weights_path_for,
    )
    from .catalogue import DEFAULT_TEMPERATURE, ModelInfo, WeightsSpec
    from .factory import create_model
    from .selection import available_models, default_model_name

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
