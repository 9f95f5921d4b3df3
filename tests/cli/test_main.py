"""The entry point itself: allocator settings."""

from __future__ import annotations

import ctypes

import pytest

from masterpiece.cli import main as cli_main


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


def test_one_malloc_arena_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: recorder)
    monkeypatch.setattr(cli_main.sys, "platform", "linux")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    cli_main._one_malloc_arena()
    assert recorder.calls == [(-8, 1)]  # M_ARENA_MAX = 1
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    cli_main._one_malloc_arena()
    assert recorder.calls == [(-8, 1)]  # the user's setting stands
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setattr(cli_main.sys, "platform", "darwin")
    cli_main._one_malloc_arena()
    assert len(recorder.calls) == 1  # not glibc: nothing to do
