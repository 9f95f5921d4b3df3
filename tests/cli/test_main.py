"""The entry point itself: allocator settings, the exit code of each error."""

from __future__ import annotations

import ctypes

import pytest

from masterpiece import errors
from masterpiece.cli import main as cli_main
from masterpiece.cli import serve as serve_verb


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


# ------------------------------------------------------------------ exit codes

#: the exit code of every class of the exception tree, from the module docstring of cli/main.py
DOCUMENTED_EXIT_CODES = {
    "MasterpieceError": 1,
    "InvalidInputError": 2,
    "InvalidImageError": 2,
    "ImageTooLargeError": 2,
    "InvalidVideoError": 2,
    "InvalidHintError": 2,
    "NotAcceptableError": 2,
    "OutputTooLargeError": 2,
    "OutputError": 4,
    "OutputExistsError": 4,
    "ModelError": 3,
    "UnknownModelError": 3,
    "ModelUnavailableError": 3,
    "WeightsError": 3,
    "WeightsNotFoundError": 3,
    "DownloadError": 3,
    "ChecksumMismatchError": 3,
    "UnsafeCheckpointError": 3,
    "IncompatibleWeightsError": 3,
    "ConfigError": 2,
    "MissingExtraError": 2,
    "DataError": 2,
    "ServiceError": 1,  # raised inside the HTTP service only
    "ServiceBusyError": 1,
    "ColorizationTimeoutError": 1,
    "BodyTooLargeError": 1,
}


def test_every_error_class_has_a_documented_exit_code() -> None:
    assert set(DOCUMENTED_EXIT_CODES) == set(errors.__all__)


@pytest.mark.parametrize("name", sorted(DOCUMENTED_EXIT_CODES))
def test_each_error_exits_with_its_code_through_main(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kind = getattr(errors, name)

    def failing(args: object) -> int:
        raise kind("what went wrong; what to do")

    monkeypatch.setattr(serve_verb, "run", failing)  # registered by main's parser as the verb
    assert cli_main.main(["serve"]) == DOCUMENTED_EXIT_CODES[name]
    assert capsys.readouterr().err == "masterpiece: error: what went wrong; what to do\n"


def test_the_exit_code_table_is_most_specific_first_and_falls_back_only_deliberately() -> None:
    rows = list(cli_main.EXIT_CODES)
    for index, kind in enumerate(rows):  # no row hidden behind an earlier, broader one
        assert not any(issubclass(kind, earlier) for earlier in rows[:index]), kind
    assert rows[-1] is errors.MasterpieceError
    for name in errors.__all__:  # every class but the base has a row of its own branch
        kind = getattr(errors, name)
        row = next(row for row in rows if issubclass(kind, row))
        assert row is not errors.MasterpieceError or kind is errors.MasterpieceError, name
