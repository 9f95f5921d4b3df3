"""Optional dependencies: whether PyTorch is installed, and one error when it is needed but absent.

Colorizing with the bundled model needs only NumPy, Pillow, OpenCV and ONNX Runtime; training,
ONNX export, ``bf16``, the published ``.pth`` weights and evaluation need PyTorch (the ``torch``
extra). :func:`require_torch` is the one place that turns its absence into
:class:`~masterpiece.errors.MissingExtraError`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from .errors import MissingExtraError

TORCH_INSTALL_HINT = "pip install 'masterpiece[torch]'"


def torch_available() -> bool:
    """Whether ``import torch`` would work, without importing it (cheap; true once imported)."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_loaded() -> bool:
    """Whether torch is already imported in this process (no import is triggered)."""
    return sys.modules.get("torch") is not None


def require_torch(feature: str) -> ModuleType:
    """Import and return torch, or raise one clear error naming the extra.

    Args:
        feature: what needs torch, for the message (``"training"``, ``"--precision bf16"``).

    Raises:
        MissingExtraError: torch is not installed (or cannot be imported).
    """
    try:
        return importlib.import_module("torch")
    except ImportError as error:
        raise MissingExtraError(
            f"{feature} needs PyTorch, which is not installed; install it with {TORCH_INSTALL_HINT}"
        ) from error
