"""A photo's hints as the page edits them: selection, every change undoable."""

from __future__ import annotations

import pytest

from masterpiece.app.hints import MAX_UNDO, HintBook
from masterpiece.pipeline.image import ColorHint


def book_with(*points: tuple[float, float]) -> HintBook:
    book = HintBook()
    for x, y in points:
        book.add(ColorHint(x, y, "#808080"))
    return book


def test_adding_selects_the_new_hint() -> None:
    book = book_with((1, 2), (3, 4))
    assert [(h.x, h.y) for h in book.hints] == [(1, 2), (3, 4)]
    assert book.selected == 1 and book.selected_hint == book.hints[1]
    assert book.others() == (book.hints[0],)


def test_every_change_is_undone_in_order() -> None:
    book = book_with((1, 2))
    book.recolor(0, "#ff0000")
    book.move(0, 7, 8)
    book.add(ColorHint(5, 5, "#00ff00"))
    book.remove(0)
    book.clear()
    assert book.hints == [] and book.selected is None
    steps = []
    while book.can_undo:
        book.undo()
        steps.append([(h.x, h.y, h.color) for h in book.hints])
    assert steps == [
        [(5, 5, "#00ff00")],
        [(7, 8, "#ff0000"), (5, 5, "#00ff00")],
        [(7, 8, "#ff0000")],
        [(1, 2, "#ff0000")],
        [(1, 2, "#808080")],
        [],
    ]
    book.undo()  # nothing left: no error
    assert book.hints == []


def test_selection_and_no_op_changes_are_not_recorded() -> None:
    book = book_with((1, 2), (3, 4))
    revision = book.revision
    book.select(0)
    book.move(0, 1, 2)
    book.recolor(0, "#808080")
    book.clear()
    book.undo()
    assert book.revision == revision + 2  # the clear and its undo
    assert book.selected == 0  # the selection the clear removed came back
    book.select(None)
    assert book.selected_hint is None and book.others() == tuple(book.hints)


def test_bad_indices_are_refused() -> None:
    book = book_with((1, 2))
    for action in (lambda: book.select(1), lambda: book.move(-1, 0, 0), lambda: book.remove(3)):
        with pytest.raises(IndexError, match="no hint"):
            action()


def test_history_is_bounded() -> None:
    book = book_with(*[(i, i) for i in range(MAX_UNDO + 20)])
    undone = 0
    while book.can_undo:
        book.undo()
        undone += 1
    assert undone == MAX_UNDO and len(book.hints) == 20
