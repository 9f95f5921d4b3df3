"""Package faces imported on first use (PEP 562): a package states its public names in
``__all__`` and imports the module of each only when the name is first asked for, so that
importing one module of the package does not import the others (nor torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence


def lazy_attributes(
    package: str, modules: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: the package's ``__name__``.
        modules: each lazily imported name -> the submodule that defines it (``"image"`` for
            ``package.image``).
        public: the package's ``__all__``, which ``dir(package)`` lists.
    """

    def __getattr__(name: str) -> object:
        if name in modules:
            return getattr(importlib.import_module(f".{modules[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__
