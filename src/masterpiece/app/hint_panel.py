"""The colour-hint controls: what clicks on the photo and the hint panel do to a photo's hints.

Clicking the photo adds a hint in the colour the model finds most likely there; dragging a
marker moves it; clicking one selects it. The panel beside the photo adds, undoes and clears,
and edits the selected hint: a colour picker, the model's suggested colours (swatches painted
in their colour), its position, and removal. Every change goes through the photo's
:class:`~masterpiece.app.hints.HintBook`, so it can be undone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from ..errors import MasterpieceError
from ..pipeline.image import ColorHint
from .hints import HintBook
from .session import Photo
from .studio import Studio, flash, hint_book

__all__ = ["HintActions", "hint_panel"]

SUGGESTIONS = 6
#: the colour of a new hint when the model has no suggestion
NEUTRAL = "#808080"


class HintActions:
    """The callbacks that change one photo's hints (they run before the next page run)."""

    def __init__(self, photo: Photo, studio: Studio, view_key: str) -> None:
        self.photo, self.studio, self.view_key = photo, studio, view_key
        self.book: HintBook = hint_book(photo)

    def _point(self, fx: float, fy: float) -> tuple[float, float]:
        """Full-resolution pixel at fractions ``(fx, fy)`` of the photo, kept inside it."""
        width, height = self.photo.image.size
        return min(fx * width, width - 0.5), min(fy * height, height - 0.5)

    def add(self, fx: float, fy: float) -> None:
        """A new hint at fractions ``(fx, fy)``, in the model's likeliest colour there."""
        x, y = self._point(fx, fy)
        found = self.studio.suggestions(self.photo, x, y, self.book.hints, 1)
        self.book.add(ColorHint(x, y, found[0].hex if found else NEUTRAL))

    def _event(self, name: str) -> dict | None:
        state = st.session_state.get(self.view_key)
        return state.get(name) if state is not None else None

    def on_click(self) -> None:
        event = self._event("click")
        if event:
            _reporting_errors(lambda: self.add(float(event["x"]), float(event["y"])))

    def on_move(self) -> None:
        event = self._event("move")
        if event:
            self.book.move(int(event["index"]), *self._point(float(event["x"]), float(event["y"])))

    def on_select(self) -> None:
        event = self._event("select")
        if event:
            self.book.select(int(event["index"]))

    def add_at_centre(self) -> None:
        _reporting_errors(lambda: self.add(0.5, 0.5))


def _reporting_errors(action: Callable[[], None]) -> None:
    try:
        action()
    except MasterpieceError as error:
        flash(str(error))


def _applying(key: str, apply: Callable[[object], None]) -> Callable[[], None]:
    """A widget callback that applies the widget's new value (ignored when empty)."""

    def changed() -> None:
        value = st.session_state.get(key)
        if value is not None:
            apply(value)

    return changed


def colour_css(key: str, colours: Sequence[str]) -> None:
    """Paint the options of the pills widget ``key`` in ``colours`` (one per option), and let
    them wrap onto several lines."""
    scope = f".st-key-{key}"
    rules = [
        f"{scope} [role=radiogroup] {{ flex-wrap: wrap !important; }}",
        f"{scope} button[aria-checked=true] {{ outline: 3px solid #333 !important; }}",
    ]
    for number, colour in enumerate(colours, start=1):
        ink = _ink(colour)
        rules.append(
            f"{scope} button[data-variant=pills]:nth-of-type({number}) {{ background: {colour}"
            f" !important; color: {ink} !important; border-color: {ink}66 !important; }}"
        )
    st.html(f"<style>{' '.join(rules)}</style>")


def _ink(hex_colour: str) -> str:
    """Black or white, whichever reads better on ``hex_colour`` (``"#rrggbb"``)."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def _percent(probability: float) -> str:
    return f"{probability:.0%}" if probability >= 0.005 else "<1%"


def hint_panel(actions: HintActions) -> None:
    """The hint controls for ``actions.photo``."""
    book, file_id = actions.book, actions.photo.file_id
    st.subheader("Colour hints")
    st.caption(
        "Click the photo to add a hint in the colour the model finds most likely; drag a "
        "marker to move it, click one to edit it."
    )
    with st.container(horizontal=True):  # one row, also on a phone
        st.button(
            "Add",
            key=f"add-{file_id}",
            on_click=actions.add_at_centre,
            help="Add a hint at the centre of the photo",
        )
        st.button("Undo", key=f"undo-{file_id}", on_click=book.undo, disabled=not book.can_undo)
        st.button("Clear", key=f"clear-{file_id}", on_click=book.clear, disabled=not book.hints)
    if not book.hints:
        return
    pick_key = f"pick-{file_id}"
    st.session_state[pick_key] = book.selected
    colour_css(pick_key, [str(hint.color) for hint in book.hints])
    st.pills(
        "Hints",
        list(range(len(book.hints))),
        format_func=lambda i: str(i + 1),
        key=pick_key,
        on_change=_applying(pick_key, book.select),
    )
    if book.selected is not None:
        _selected_hint_editor(actions, book.selected, book.hints[book.selected])


def _selected_hint_editor(actions: HintActions, index: int, hint: ColorHint) -> None:
    book, photo = actions.book, actions.photo
    version = f"{photo.file_id}-{index}-{book.revision}"  # new widgets after each change

    def recolor(colour: object) -> None:
        book.recolor(index, str(colour))

    picker_key, swatch_key = f"colour-{version}", f"swatch-{version}"
    st.color_picker(
        "Colour", str(hint.color), key=picker_key, on_change=_applying(picker_key, recolor)
    )
    try:
        found = actions.studio.suggestions(photo, hint.x, hint.y, book.others(), SUGGESTIONS)
    except MasterpieceError as error:
        st.caption(f"No suggestions: {error}")
        found = []
    if found:
        labels = {
            item.hex: f"{rank} · {_percent(item.probability)}" for rank, item in enumerate(found, 1)
        }
        colour_css(swatch_key, list(labels))
        st.pills(
            "Suggested by the model",
            list(labels),
            key=swatch_key,
            format_func=labels.get,
            on_change=_applying(swatch_key, recolor),
            help="The likeliest colours at this point, with their probability",
        )
    width, height = photo.image.size
    moves = {
        "x": (width, hint.x, lambda v: book.move(index, float(v), hint.y)),
        "y": (height, hint.y, lambda v: book.move(index, hint.x, float(v))),
    }
    with st.container(horizontal=True):
        for axis, (side, value, move) in moves.items():
            key = f"{axis}-{version}"
            st.number_input(
                axis, 0.0, side - 0.5, float(value), 1.0, key=key, on_change=_applying(key, move)
            )
    st.button("Remove hint", key=f"remove-{version}", on_click=book.remove, args=(index,))
