"""Choosing the default model: the best registered model whose weights are available."""

from __future__ import annotations

import logging

from ..errors import WeightsNotFoundError
from ._registry import get_model_info, list_models
from ._weights import weights_available

logger = logging.getLogger(__name__)


def available_models() -> list[str]:
    """Registered models whose weights are on this machine (bundled or cached), best first."""
    names = [name for name in list_models() if weights_available(get_model_info(name))]
    return sorted(names, key=lambda name: -get_model_info(name).quality_rank)


def default_model_name() -> str:
    """The best model whose weights are available without downloading.

    The bundled model makes this work offline; a model whose weights were pulled into the
    cache (``masterpiece models pull``) is preferred when it ranks higher.
    """
    names = available_models()
    if not names:
        raise WeightsNotFoundError(
            "no model weights are available: the bundled model is missing from this installation "
            "(reinstall masterpiece) and none were pulled; run `masterpiece models pull eccv16` "
            "or pass --weights FILE"
        )
    return names[0]
