"""Choosing the default model: the best registered model that can run here."""

from __future__ import annotations

import logging

from .._optional import torch_available
from ..errors import WeightsNotFoundError
from ._registry import get_model_info, list_models
from ._weights import weights_available, weights_path_for

logger = logging.getLogger(__name__)


def _runs_here(name: str) -> bool:
    """Whether ``name``'s weights are on this machine (bundled or cached) and can be run: a
    bundled model runs its shipped ONNX files, the others need PyTorch."""
    info = get_model_info(name)
    if not weights_available(info):
        return False
    if not info.weights.bundled:
        # a cached file that cannot be the published one (empty, cut short) would make every
        # plain `colorize` fail its sha256 check instead of using the bundled model (loading
        # verifies the sha256 itself; this is only the cheap test)
        size = weights_path_for(info.weights).stat().st_size
        if size == 0 or (info.weights.size_bytes is not None and size != info.weights.size_bytes):
            logger.warning("model %s is not the default: its cached weights %s have %d bytes, not the "
                           "published file; run `masterpiece models pull %s` to replace them",
                           name, weights_path_for(info.weights), size, name)
            return False
    if info.weights.bundled or torch_available():
        return True
    logger.info("model %s is not the default: its weights need PyTorch, which is not installed", name)
    return False


def available_models() -> list[str]:
    """Registered models whose weights are on this machine and that can run here, best first."""
    names = [name for name in list_models() if _runs_here(name)]
    return sorted(names, key=lambda name: -get_model_info(name).quality_rank)


def default_model_name() -> str:
    """The best model whose weights are available without downloading.

    The bundled model makes this work offline (and without PyTorch); a model whose weights
    were pulled into the cache (``masterpiece models pull``) is preferred when it ranks higher
    and PyTorch is installed.
    """
    names = available_models()
    if not names:
        raise WeightsNotFoundError(
            "no model weights are available: the bundled model is missing from this installation "
            "(reinstall masterpiece) and none were pulled; run `masterpiece models pull eccv16` "
            "or pass --weights FILE"
        )
    return names[0]
