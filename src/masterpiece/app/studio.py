"""What the page computes for its photos, through the library, kept for the session.

A :class:`Studio` is made on every run from the loaded model and the sidebar's settings. It
colorizes the screen-sized copies (what the page shows: the network sees 256 x 256 either
way), predicts colour distributions (suggestions, uncertainty), and colorizes at full
resolution for downloads. Results and distributions are kept in the session, so moving a
slider back, undoing a hint or switching photos does not run the network again; each photo's
:class:`HintBook` lives in the session too.

With "Repair scratches and dust" on, each photo is repaired once at full resolution (the
damage is found where it is, not on a shrunk copy) and kept in the session: the screen copy,
the suggestions and the downloads are all made from the repaired photo, and the damage found
can be shown over the original.
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
from ..pipeline.encoding import MAX_OUTPUT_SIDE, encode_image
from ..pipeline.image import ColorHint, Colorizer
from ..pipeline.repair import Repaired, damage_overlay, display_copy, repair_for_colorizing
from ..restoration import Restorer
from .catalogue import ModelChoice
from .hints import HintBook
from .session import DISPLAY_SIDE, LruCache, Photo

__all__ = ["FORMATS", "Settings", "Studio", "flash", "hint_book", "session_value", "take_flashes", "too_large_for"]

#: download formats: label -> (extension, MIME type)
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg")}
RESULTS_KEPT = 12
DISTRIBUTIONS_KEPT = 6
#: full-resolution repaired photos kept (each the size of its photo's decoded pixels)
REPAIRS_KEPT = 4

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """What the sidebar chose."""

    model: ModelChoice
    temperature: float
    saturation: float
    uncertainty: bool
    upload_limit_mb: int
    restore: bool = False
    detector: str = "learned"
    auto_levels: bool = False
    show_damage: bool = False

    @property
    def restoring(self) -> bool:
        """Whether photos are changed before colorizing (repair or auto levels)."""
        return self.restore or self.auto_levels

    @property
    def restoration_key(self) -> tuple:
        """What the repaired photo depends on (auto levels alone loads no detector network)."""
        if not self.restoring:
            return ()
        return (self.restore, self.detector if self.restore else "classical", self.auto_levels)


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
        self._repairs: LruCache[Repaired] = session_value("repairs", lambda: LruCache(REPAIRS_KEPT))
        self._restorers: dict[tuple, Restorer] = session_value("restorers", dict)

    @property
    def accepts_hints(self) -> bool:
        return self.settings.model.accepts_hints

    def hints(self, photo: Photo) -> tuple[ColorHint, ...]:
        """The photo's hints when the model takes hints, else none."""
        return tuple(hint_book(photo).hints) if self.accepts_hints else ()

    def repaired(self, photo: Photo) -> Repaired | None:
        """The photo repaired at full resolution with the sidebar's settings (None: off).

        Raises:
            MasterpieceError: the detector cannot be loaded (the page shows the message).
        """
        settings = self.settings
        if not settings.restoring:
            return None
        key = settings.restoration_key
        if key not in self._restorers:
            self._restorers[key] = Restorer(
                key[1], auto_levels=settings.auto_levels, repair=settings.restore
            )
        image, restorer = photo.image, self._restorers[key]
        return self._repairs.get(
            (photo.file_id, *key),
            lambda: repair_for_colorizing(image.pixels, image.is_grayscale, restorer),
        )

    def preview(self, photo: Photo) -> np.ndarray:
        """The screen copy the network sees: the photo's, or its repaired version's."""
        repaired = self.repaired(photo)
        if repaired is None:
            return photo.preview
        return display_copy(repaired.pixels, DISPLAY_SIDE)

    def damage_overlay(self, photo: Photo) -> np.ndarray:
        """The original screen copy with the damage found painted red: ``(h, w, 3)`` float32."""
        repaired = self.repaired(photo)
        if repaired is None:
            return photo.preview
        return damage_overlay(photo.preview, repaired.mask)

    def colorized(self, photo: Photo) -> np.ndarray:
        """The screen copy colorized with the photo's hints: ``(h, w, 3)`` float32 in [0, 1]."""
        settings, hints = self.settings, self.hints(photo)
        key = (photo.file_id, settings.model.key, settings.temperature, settings.saturation, hints,
               settings.restoration_key)
        return self._results.get(
            key, lambda: self.colorizer.colorize_rgb(self.preview(photo), _on_preview(photo, hints))
        )

    def distribution(self, photo: Photo, hints: Sequence[ColorHint]) -> ColorDistribution:
        """The model's colour distribution over the screen copy, given ``hints``."""
        key = (photo.file_id, self.settings.model.key, tuple(hints), self.settings.restoration_key)
        return self._distributions.get(
            key,
            lambda: predict_distribution(self.colorizer, self.preview(photo), _on_preview(photo, hints)),
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
        return heatmap_overlay(self.preview(photo), uncertainty)

    def encoded(self, photo: Photo, hints: Sequence[ColorHint], label: str) -> bytes:
        """The photo colorized at full resolution, encoded as ``label`` (a key of FORMATS).

        Needs no session: downloads call it after the run, from another thread (a repaired
        photo was made, and kept, when its screen copy was colorized).
        """
        image, repaired = photo.image, self.repaired(photo)
        depth = 16 if image.bit_depth == 16 and label == "PNG" else 8  # as colorize and the service
        dtype = np.uint16 if depth == 16 else np.uint8
        if repaired is None:
            rgb = self.colorizer.colorize_loaded(image, hints, dtype=dtype)
        else:
            rgb = self.colorizer.colorize_pixels(repaired.pixels, hints, equalise=repaired.equalise, dtype=dtype)
        return encode_image(
            rgb, label, alpha=image.alpha, bit_depth=depth, exif=image.exif, icc_profile=image.icc_profile
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


def too_large_for(photo: Photo, label: str) -> str | None:
    """Why ``photo`` cannot be downloaded as ``label`` (its side is over the format's limit), or None."""
    limit = MAX_OUTPUT_SIDE.get(label)
    width, height = photo.image.size
    if limit is None or max(width, height) <= limit:
        return None
    return f"{photo.name} ({width}x{height}) is too large for {label}: at most {limit:,} pixels a side; choose PNG"


def _on_preview(photo: Photo, hints: Sequence[ColorHint]) -> tuple[ColorHint, ...]:
    """Hints (full-resolution coordinates) placed on the photo's screen copy."""
    height, width = photo.preview.shape[:2]
    return rescale_hints(hints, photo.image.size, (width, height))
