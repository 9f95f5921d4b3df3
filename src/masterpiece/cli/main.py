"""Entry point of the ``masterpiece`` command: parses the verb and turns errors into exit codes.

Each verb lives in its own module of this package with two functions:
``register(subparsers)`` adds its ``argparse`` sub-parser and sets ``func=run`` on it;
``run(args) -> int`` does the work and returns the exit code. Heavy imports (torch) happen
inside ``run`` so that ``masterpiece --version`` and ``--help`` answer instantly.

Exit codes: 0 success; 1 some inputs failed (the others were processed); 2 usage error,
invalid input or unusable data set; 3 model or weights problem; 4 an output could not be written; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .._version import __version__

EXIT_OK = 0
EXIT_PARTIAL_FAILURE = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_OUTPUT = 4
EXIT_INTERRUPTED = 130

#: verb modules, in the order ``--help`` lists them
VERBS = ("colorize", "models", "evaluate", "train")


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


def exit_code_for(error: BaseException) -> int:
    """The exit code for a library error (see the module docstring)."""
    from ..errors import ConfigError, DataError, InvalidInputError, ModelError, OutputError

    if isinstance(error, (InvalidInputError, ConfigError, DataError)):
        return EXIT_USAGE
    if isinstance(error, ModelError):
        return EXIT_MODEL
    if isinstance(error, OutputError):
        return EXIT_OUTPUT
    return EXIT_PARTIAL_FAILURE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from ..errors import MasterpieceError

    try:
        return int(args.func(args))
    except MasterpieceError as error:
        print(f"masterpiece: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt:
        print("masterpiece: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
