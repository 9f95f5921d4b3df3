"""Which models the page can offer, and loading them once for every session.

A model can be offered when its registered weights are on this machine (bundled or pulled
into the cache), or when the app was started with a weights file for it
(``masterpiece app --model NAME --weights FILE``). The others are listed with what to do to
get them. Loaded models are shared by all reruns and sessions (``st.cache_resource``); they
are only read (inference), never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ..errors import WeightsError
from ..models import (
    ColorizationModel,
    available_models,
    create_model,
    ensure_weights,
    get_model_info,
    list_models,
)

__all__ = ["ModelChoice", "load_model", "model_choices"]


@dataclass(frozen=True)
class ModelChoice:
    """A registered model as the page shows it.

    Attributes:
        name: the registry name.
        description: one line about it.
        accepts_hints: whether it takes colour hints.
        weights: the weights file the app was given for it, or ``None`` for the registered one.
        available: whether it can be loaded now.
        how_to_get: what to do to make it available ("" when it is).
    """

    name: str
    description: str
    accepts_hints: bool
    weights: Path | None = None
    available: bool = True
    how_to_get: str = ""

    @property
    def key(self) -> str:
        """Identifies the model and its weights (cache keys)."""
        return f"{self.name}:{self.weights}" if self.weights else self.name


def _missing(name: str) -> str:
    """Why the registered weights of ``name`` cannot be loaded, and what to do."""
    try:
        ensure_weights(get_model_info(name), download=False, progress=False)
    except WeightsError as error:
        return f"{error}. Or start the app with `masterpiece app --model {name} --weights FILE`."
    return ""


@st.cache_data(ttl=60, show_spinner=False)
def model_choices(model: str | None = None, weights: str | None = None) -> list[ModelChoice]:
    """Every registered model: the available ones first (best first), then the others.

    Args:
        model: a model the app was started with (offered first).
        weights: a weights file for ``model``, offered even when its registered weights
            are missing.
    """
    ready = available_models()
    choices = []
    for name in list_models():
        info = get_model_info(name)
        given = Path(weights) if weights and name == model else None
        available = given is not None or name in ready
        choices.append(
            ModelChoice(
                name=name,
                description=info.description,
                accepts_hints=info.accepts_hints,
                weights=given,
                available=available,
                how_to_get="" if available else _missing(name),
            )
        )
    order = {name: rank for rank, name in enumerate(ready)}
    return sorted(
        choices,
        key=lambda c: (not c.available, c.name != model, order.get(c.name, len(order)), c.name),
    )


@st.cache_resource(show_spinner=False, max_entries=4)
def load_model(name: str, weights: str | None = None) -> ColorizationModel:
    """The model ``name`` with its registered weights (or ``weights``), loaded once."""
    return create_model(name, weights=weights, download=False)
