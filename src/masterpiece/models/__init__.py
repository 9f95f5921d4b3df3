"""The model zoo: ECCV16, SIGGRAPH17 and Masterpiece's bundled compact model.

The catalogue (names, weights, :func:`list_models`, :func:`default_model_name`) needs no
torch; the network classes and :func:`create_model` do, and are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "AB_SCALE": "._base",
    "DEFAULT_TEMPERATURE": ".catalogue",
    "ColorPrediction": "._base",
    "ColorizationModel": "._base",
    "ModelInfo": ".catalogue",
    "WeightsSpec": ".catalogue",
    "available_models": ".selection",
    "create_model": "._registry",
    "default_model_name": ".selection",
    "get_model_info": "._registry",
    "list_models": "._registry",
    "register_model": "._registry",
}

__all__ = [
    "AB_SCALE",
    "DEFAULT_TEMPERATURE",
    "ColorPrediction",
    "ColorizationModel",
    "ModelInfo",
    "WeightsSpec",
    "available_models",
    "create_model",
    "default_model_name",
    "get_model_info",
    "list_models",
    "register_model",
]

if TYPE_CHECKING:
    from ._base import AB_SCALE, ColorizationModel, ColorPrediction
    from ._registry import create_model, get_model_info, list_models, register_model
    from .catalogue import DEFAULT_TEMPERATURE, ModelInfo, WeightsSpec
    from .selection import available_models, default_model_name


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
