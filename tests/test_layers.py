"""The package's layers point one way, and no modules import each other in a circle.

Read from the source with ``ast`` (nothing is imported): every ``import`` of a masterpiece
module, also the lazy ones inside functions, must go to the same layer or one below. The
cycle check looks at the imports that run when a module loads (module level, outside
``if TYPE_CHECKING:``), the ones that can deadlock or half-initialise a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import masterpiece

PACKAGE = Path(masterpiece.__file__).parent

#: lowest first; a module may import its own layer and those before it
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "_optional", "_version", "_lazy", "atomic", "settings"}),
    frozenset({"color"}),
    frozenset({"models"}),
    frozenset({"restoration"}),
    frozenset({"pipeline"}),
    frozenset({"evaluation"}),
    frozenset({"training"}),
    frozenset({"video", "distributed", "app", "service"}),
    frozenset({"cli"}),
    frozenset({"__init__", "__main__"}),  # the package's face: masterpiece.Colorizer, python -m
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer; add its package to LAYERS")


def _imports(path: Path, *, loading_only: bool) -> Iterator[tuple[str, int]]:
    """``(imported masterpiece module, line)`` for each import in the file ``path``."""
    yield from _imports_in(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py",
                           loading_only=loading_only)


def _imports_in(source: str, module: str, is_package: bool, *, loading_only: bool) -> Iterator[tuple[str, int]]:
    """``(imported masterpiece module, line)`` for each import in ``source``, the text of ``module``.

    ``from . import plots`` counts as importing the submodule ``plots``.
    """
    package = module if is_package else module.rsplit(".", 1)[0]
    tree = ast.parse(source)
    statements = list(_loading_imports(tree) if loading_only else (
        node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
    ))
    for statement in statements:
        if isinstance(statement, ast.ImportFrom):
            if statement.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (statement.level - 1)])
                target = f"{base}.{statement.module}" if statement.module else base
            else:
                target = statement.module or ""
            if not target.startswith("masterpiece"):
                continue
            submodules = [f"{target}.{alias.name}" for alias in statement.names if _is_module(f"{target}.{alias.name}")]
            for name in submodules or [target]:
                yield name, statement.lineno
        else:
            for alias in statement.names:
                if alias.name.startswith("masterpiece"):
                    yield alias.name, statement.lineno


def _loading_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports that run when the module loads: not in functions, not under TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (item for orelse in child.orelse for item in _loading_imports(ast.Module([orelse], [])))
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        else:
            yield from _loading_imports(child)


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_points_down_the_layers() -> None:
    upward = [
        f"{path.relative_to(PACKAGE)}:{line} imports {target}"
        for path in _sources()
        for target, line in _imports(path, loading_only=False)
        if _layer(target) > _layer(_module_name(path))
    ]
    assert upward == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    modules = {_module_name(path): path for path in _sources()}
    graph = {
        name: {target for target, _ in _imports(path, loading_only=True) if target in modules and target != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_checks_see_an_upward_import_and_a_circle() -> None:
    """The reader finds imports in functions, resolves relative ones and submodules (so the
    tests above can fail)."""
    lazy = "def f():\n    from ..pipeline.decoding import read_image\n"
    found = list(_imports_in(lazy, "masterpiece.models.probe", False, loading_only=False))
    assert found == [("masterpiece.pipeline.decoding", 2)]
    assert _layer(found[0][0]) > _layer("masterpiece.models.probe")
    assert list(_imports_in(lazy, "masterpiece.models.probe", False, loading_only=True)) == []
    submodule = "from . import plots\nif TYPE_CHECKING:\n    from .runner import evaluate\n"
    assert list(_imports_in(submodule, "masterpiece.evaluation.report", False, loading_only=True)) == [
        ("masterpiece.evaluation.plots", 1)
    ]
