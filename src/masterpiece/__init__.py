"""Masterpiece: turn black-and-white photographs into plausible colour ones.

::

    import masterpiece

    colour = masterpiece.colorize("grandma.jpg")            # writes grandma_colorized.jpg
    colorizer = masterpiece.Colorizer("compact", temperature=0.38)
    array = colorizer.colorize(gray_array, hints=[masterpiece.ColorHint(120, 80, "#3a6ea5")])
    masterpiece.list_models()

Attributes are imported lazily so that ``import masterpiece`` (and ``masterpiece --version``)
does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import errors
from ._version import __version__
from .errors import MasterpieceError

__all__ = [
    "ColorHint",
    "Colorizer",
    "MasterpieceError",
    "__version__",
    "colorize",
    "create_model",
    "errors",
    "list_models",
]

_LAZY = {
    "ColorHint": "masterpiece.pipeline.image",
    "Colorizer": "masterpiece.pipeline.image",
    "colorize": "masterpiece.pipeline.image",
    "create_model": "masterpiece.models",
    "list_models": "masterpiece.models",
}

if TYPE_CHECKING:
    from .models import create_model, list_models
    from .pipeline.image import ColorHint, Colorizer, colorize


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'masterpiece' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
