"""The model zoo: ECCV16, SIGGRAPH17 and Masterpiece's bundled compact model."""

from ._base import AB_SCALE, DEFAULT_TEMPERATURE, ColorizationModel, ColorPrediction
from ._registry import (
    ModelInfo,
    WeightsSpec,
    create_model,
    get_model_info,
    list_models,
    register_model,
)
from .selection import available_models, default_model_name

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
