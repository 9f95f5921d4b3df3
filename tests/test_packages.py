"""The face of each package: an ``__all__`` that names only what the package has."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import masterpiece

#: packages that are programs rather than libraries: they state no public names
PROGRAMS = {"masterpiece.cli"}
#: packages whose import needs an optional extra
EXTRAS = {"masterpiece.service": "fastapi"}

PACKAGES = ["masterpiece"] + sorted(
    info.name
    for info in pkgutil.iter_modules(masterpiece.__path__, "masterpiece.")
    if info.ispkg and info.name not in PROGRAMS
)


def test_the_packages_are_found() -> None:
    assert {"masterpiece.pipeline", "masterpiece.training", "masterpiece.models"} <= set(PACKAGES)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_states_its_public_names_and_has_them(name: str) -> None:
    if name in EXTRAS:
        pytest.importorskip(EXTRAS[name])
    package = importlib.import_module(name)
    public = package.__all__
    assert len(set(public)) == len(public), "a name listed twice"
    for attribute in public:
        assert getattr(package, attribute) is not None, attribute
    assert set(public) <= set(dir(package))


@pytest.mark.parametrize("name", ["masterpiece.pipeline", "masterpiece.training"])
def test_a_lazy_package_refuses_names_it_does_not_state(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        package.nothing  # noqa: B018
