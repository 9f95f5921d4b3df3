"""What the page computes for its photos, through the library, kept for the session.

A :class:`Studio` is made on every run from the loaded model and the sidebar's settings. It
colorizes the screen-sized copies (what the page shows: the network sees 256 x 256 either
way), predicts colour distributions (suggestions, uncertainty), and colorizes at full
resolution for downloads. Results and distributions are kept in the session, so moving a
slider back, undoing a hint or switching photos does not run the network again; each photo's
:class:`HintBook` lives in the session too.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import streamlit as st

from ..pipeline.analysis import (
    ColorDistribution,
    ColorSuggestion,
    heatmap_overlay,
    predict_distribution,
    rescale_hints,
)
from ..pipeline.image import ColorHint, Colorizer
from ..pipeline.io import encode_image
from .catalogue import ModelChoice
from .hints import HintBook
from .session import LruCache, Photo

__all__ = ["FORMATS", "Settings", "Studio", "flash", "hint_book", "session_value", "take_flashes"]

#: download formats: label -> (extension, MIME type)
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg")}
RESULTS_KEPT = 12
DISTRIBUTIONS_KEPT = 6

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """What the sidebar chose."""

    model: ModelChoice
    temperature: float
    saturation: float
    uncertainty: bool
    upload_limit_mb: int


def session_value(name: str, make: Callable[[], T]) -> T:
    """``st.session_state[name]``, made by ``make()`` on first use."""
    if name not in st.session_state:
        st.session_state[name] = make()
    return st.session_state[name]


def hint_book(photo: Photo) -> HintBook:
    """The hints of ``photo`` in this session."""
    return session_value("hint_books", dict).setdefault(photo.file_id, HintBook())


def flash(message: str) -> None:
    """Keep ``message`` to show on the next run (callbacks run before the page is drawn)."""
    session_value("flash", list).append(message)


def take_flashes() -> list[str]:
    messages = session_value("flash", list)
    st.session_state["flash"] = []
    return messages


class Studio:
    """The chosen model and settings at work on the session's photos."""

    def __init__(self, colorizer: Colorizer, settings: Settings) -> None:
        self.colorizer = colorizer
        self.settings = settings
        self._results: LruCache[np.ndarray] = session_value(
            "results", lambda: LruCache(RESULTS_KEPT)
        )
        self._distributions: LruCache[ColorDistribution] = session_value(
            "distributions", lambda: LruCache(DISTRIBUTIONS_KEPT)
        )

    @property
    def accepts_hints(self) -> bool:
        return self.settings.model.accepts_hints

    def hints(self, photo: Photo) -> tuple[ColorHint, ...]:
        """The photo's hints when the model takes hints, else none."""
        return tuple(hint_book(photo).hints) if self.accepts_hints else ()

    def colorized(self, photo: Photo) -> np.ndarray:
        """The screen copy colorized with the photo's hints: ``(h, w, 3)`` float32 in [0, 1]."""
        settings, hints = self.settings, self.hints(photo)
        key = (photo.file_id, settings.model.key, settings.temperature, settings.saturation, hints)
        return self._results.get(
            key, lambda: self.colorizer.colorize_rgb(photo.preview, _on_preview(photo, hints))
        )

    def distribution(self, photo: Photo, hints: Sequence[ColorHint]) -> ColorDistribution:
        """The model's colour distribution over the screen copy, given ``hints``."""
        key = (photo.file_id, self.settings.model.key, tuple(hints))
        return self._distributions.get(
            key,
            lambda: predict_distribution(self.colorizer, photo.preview, _on_preview(photo, hints)),
        )

    def suggestions(
        self, photo: Photo, x: float, y: float, hints: Sequence[ColorHint], k: int
    ) -> list[ColorSuggestion]:
        """The ``k`` likeliest colours at full-resolution ``(x, y)`` given the other ``hints``."""
        (width, height), (preview_h, preview_w) = photo.image.size, photo.preview.shape[:2]
        found = self.distribution(photo, hints)
        return found.suggest(x * preview_w / width, y * preview_h / height, k)

    def uncertainty_overlay(self, photo: Photo) -> np.ndarray:
        """The uncertainty heat map over the screen copy: ``(h, w, 3)`` float32 in [0, 1]."""
        height, width = photo.preview.shape[:2]
        uncertainty = self.distribution(photo, self.hints(photo)).uncertainty((width, height))
        return heatmap_overlay(photo.preview, uncertainty)

    def encoded(self, photo: Photo, hints: Sequence[ColorHint], label: str) -> bytes:
        """The photo colorized at full resolution, encoded as ``label`` (a key of FORMATS).

        Needs no session: downloads call it after the run, from another thread.
        """
        image = photo.image
        rgb = self.colorizer.colorize_loaded(image, hints)
        return encode_image(
            rgb, label, alpha=image.alpha, exif=image.exif, icc_profile=image.icc_profile
        )

    def zipped(self, jobs: Sequence[tuple[Photo, tuple[ColorHint, ...]]], label: str) -> bytes:
        """Each ``(photo, hints)`` colorized at full resolution, in a zip (names made unique)."""
        extension = FORMATS[label][0]
        buffer, used = io.BytesIO(), set()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for photo, hints in jobs:
                name, number = f"{photo.stem}_colorized.{extension}", 1
                while name in used:
                    number += 1
                    name = f"{photo.stem}_colorized_{number}.{extension}"
                used.add(name)
                archive.writestr(name, self.encoded(photo, hints, label))
        return buffer.getvalue()


def _on_preview(photo: Photo, hints: Sequence[ColorHint]) -> tuple[ColorHint, ...]:
    """Hints (full-resolution coordinates) placed on the photo's screen copy."""
    height, width = photo.preview.shape[:2]
    return rescale_hints(hints, photo.image.size, (width, height))
