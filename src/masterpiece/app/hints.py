"""The colour hints of one photo as the page edits them: a list, a selection, an undo history.

Plain Python (no Streamlit, no torch), so the editing rules are tested on their own. Every
change records the previous state, so :meth:`HintBook.undo` steps back through adds, moves,
recolourings, removals and clears alike; selecting a hint is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..pipeline.image import ColorHint

__all__ = ["HintBook"]

_Snapshot = tuple[tuple[ColorHint, ...], "int | None"]

#: how many changes :meth:`HintBook.undo` can step back through
MAX_UNDO = 100


@dataclass
class HintBook:
    """The hints of one photo, in full-resolution pixel coordinates.

    Attributes:
        hints: the hints, in the order they were placed.
        selected: index of the hint being edited, or ``None``.
    """

    hints: list[ColorHint] = field(default_factory=list)
    selected: int | None = None
    #: counts changes and undos (not selections): widgets showing a hint key on it
    revision: int = 0
    _history: list[_Snapshot] = field(default_factory=list, repr=False)

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    @property
    def selected_hint(self) -> ColorHint | None:
        return self.hints[self.selected] if self.selected is not None else None

    def others(self) -> tuple[ColorHint, ...]:
        """Every hint but the selected one (what the model sees when suggesting its colour)."""
        return tuple(hint for index, hint in enumerate(self.hints) if index != self.selected)

    def _remember(self) -> None:
        self.revision += 1
        self._history.append((tuple(self.hints), self.selected))
        del self._history[:-MAX_UNDO]

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.hints):
            raise IndexError(f"there is no hint {index}; there are {len(self.hints)}")

    def add(self, hint: ColorHint) -> None:
        """Append ``hint`` and select it."""
        self._remember()
        self.hints.append(hint)
        self.selected = len(self.hints) - 1

    def select(self, index: int | None) -> None:
        """Select hint ``index`` (``None`` for none); not recorded for undo."""
        if index is not None:
            self._check(index)
        self.selected = index

    def move(self, index: int, x: float, y: float) -> None:
        """Move hint ``index`` to ``(x, y)`` and select it."""
        self._check(index)
        if (self.hints[index].x, self.hints[index].y) != (x, y):
            self._remember()
            self.hints[index] = replace(self.hints[index], x=x, y=y)
        self.selected = index

    def recolor(self, index: int, color: str | tuple[int, int, int]) -> None:
        """Give hint ``index`` the colour ``color`` (``"#rrggbb"`` or 0..255 RGB)."""
        self._check(index)
        if self.hints[index].color != color:
            self._remember()
            self.hints[index] = replace(self.hints[index], color=color)

    def remove(self, index: int) -> None:
        """Delete hint ``index``; nothing stays selected."""
        self._check(index)
        self._remember()
        del self.hints[index]
        self.selected = None

    def clear(self) -> None:
        """Delete every hint (undoable)."""
        if self.hints:
            self._remember()
            self.hints.clear()
            self.selected = None

    def undo(self) -> None:
        """Step back one change; does nothing when there is none."""
        if self._history:
            hints, selected = self._history.pop()
            self.revision += 1
            self.hints = list(hints)
            self.selected = selected
