"""Entry point of the ``masterpiece`` command: parses the verb and turns errors into exit codes.

Each verb lives in its own module of this package with two functions:
``register(subparsers)`` adds its ``argparse`` sub-parser and sets ``func=run`` on it;
``run(args) -> int`` does the work and returns the exit code. Heavy imports (torch) happen
inside ``run`` so that ``masterpiece --version`` and ``--help`` answer instantly.

Exit codes: 0 success; 1 some inputs failed (the others were processed), or an unexpected
internal error; 2 usage error, invalid input or unusable data set; 3 model or weights problem;
4 an output could not be written (a full disk or a refused folder stops a batch); 130
interrupted (Ctrl-C, SIGINT); 143 terminated (SIGTERM).

Every error ends in one line on stderr, never a traceback (``--verbose`` logs the traceback of
an unexpected one). SIGTERM is turned into the same clean interruption as Ctrl-C: no new file
is started, a file being colorized is abandoned and one being written is finished (outputs are
written atomically, so no partial file is left), and the command exits 143.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

from .._version import __version__
from ..errors import (
    ConfigError,
    DataError,
    InvalidInputError,
    MasterpieceError,
    ModelError,
    OutputError,
    ServiceError,
)

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_PARTIAL_FAILURE = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_OUTPUT = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when a termination signal (SIGTERM) arrives while a verb runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM raise :class:`Interrupted` (like Ctrl-C) while the block runs.

    Only in the main thread, and only where SIGTERM has its default action (a handler or an
    ignore set by whoever runs us is respected); the previous action is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def say(message: str, stream: TextIO | None = None) -> None:
    """Print one line to ``stream`` (stderr by default), escaping what it cannot encode.

    File names from old drives may not be valid in the terminal's encoding (undecodable bytes
    arrive as surrogates); they are shown as backslash escapes instead of failing.
    """
    stream = stream or sys.stderr
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(message.encode(encoding, "backslashreplace").decode(encoding) + "\n")


#: verb modules, in the order ``--help`` lists them
VERBS = ("colorize", "restore", "video", "batch", "models", "evaluate", "train", "serve", "app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="masterpiece",
        description="Colorize black-and-white photographs (Zhang et al. models, with colour hints).",
    )
    parser.add_argument("--version", action="version", version=f"masterpiece {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        try:
            module = importlib.import_module(f".{verb}", __package__)
        except ModuleNotFoundError as error:  # a verb whose module is not written yet
            if error.name and error.name.endswith(f"cli.{verb}"):
                continue
            raise
        module.register(subparsers)
    return parser


#: the exit code of each branch of the exception tree (see the module docstring); the first
#: class the error is an instance of wins, so a subclass comes before its base
EXIT_CODES: dict[type[MasterpieceError], int] = {
    InvalidInputError: EXIT_USAGE,
    ConfigError: EXIT_USAGE,
    DataError: EXIT_USAGE,
    ModelError: EXIT_MODEL,
    OutputError: EXIT_OUTPUT,
    ServiceError: EXIT_PARTIAL_FAILURE,  # raised inside the HTTP service, never by a verb
    MasterpieceError: EXIT_PARTIAL_FAILURE,  # the deliberate fallback
}


def exit_code_for(error: BaseException) -> int:
    """The exit code for a library error: the first row of :data:`EXIT_CODES` it matches, 1 for
    anything else."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return EXIT_PARTIAL_FAILURE


def _one_malloc_arena() -> None:
    """Make glibc's allocator share one arena between threads (as ``MALLOC_ARENA_MAX=1``).

    Bands of a big image are converted on several threads; with an arena per thread, the
    freed temporaries of each stay mapped, and a 100-megapixel scan peaked at 1.47 GB instead
    of 1.14 GB, at the same speed (``make bench``). Skipped where the user set
    ``MALLOC_ARENA_MAX`` or the C library is not glibc.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX


def main(argv: list[str] | None = None) -> int:
    _one_malloc_arena()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return _run_verb(args)


#: optional modules a verb may import, and the extra that installs each
OPTIONAL_MODULES = {"torch": "torch", "torchvision": "torch", "onnx": "onnx", "onnxscript": "onnx"}


def missing_extra(error: ImportError, verb: str | None) -> BaseException:
    """An optional dependency that failed to import, as the one-line error naming its extra
    (:class:`~masterpiece.errors.MissingExtraError`); any other import error is returned as is."""
    from .._optional import TORCH_INSTALL_HINT
    from ..errors import MissingExtraError

    module = (error.name or "").split(".")[0]
    extra = OPTIONAL_MODULES.get(module)
    if extra is None:
        return error
    hint = TORCH_INSTALL_HINT if extra == "torch" else f"pip install 'masterpiece[{extra}]'"
    what = f"`masterpiece {verb}`" if verb else "this command"
    return MissingExtraError(f"{what} needs {module}, which is not installed; install it with {hint}")


def _run_verb(args: argparse.Namespace) -> int:
    """Run the verb; turn every error and interruption into one line and an exit code."""
    try:
        with _sigterm_interrupts():
            try:
                return int(args.func(args))
            except ImportError as error:  # an optional extra that is not installed: one line
                command = " ".join(filter(None, (getattr(args, "verb", None), getattr(args, "models_action", None))))
                raise missing_extra(error, command) from error
    except MasterpieceError as error:
        say(f"masterpiece: error: {error}")
        return exit_code_for(error)
    except Interrupted:
        say("masterpiece: terminated (SIGTERM)")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        say("masterpiece: interrupted")
        return EXIT_INTERRUPTED
    except MemoryError:
        say("masterpiece: error: out of memory; try smaller images (--max-pixels) or a smaller --size")
        return EXIT_PARTIAL_FAILURE
    except Exception as error:  # a bug: one line for the user, the traceback with --verbose
        logger.info("the traceback of the internal error:", exc_info=True)
        say(
            f"masterpiece: internal error: {type(error).__name__}: {error}; this is a bug, please "
            "report it with the output of `masterpiece --verbose ...`"
        )
        return EXIT_PARTIAL_FAILURE


if __name__ == "__main__":
    sys.exit(main())
