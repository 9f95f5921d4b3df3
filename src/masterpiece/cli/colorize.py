"""``masterpiece colorize IN... [-o OUT]``: colorize files, folders or standard input.

The options are shared with the other verbs (:mod:`.options`); the planning of outputs
(folders mirrored, existing outputs skipped, inputs never overwritten), the runner of jobs
and the summary with ``restore`` and ``batch`` (:mod:`.jobs`): this verb gives
:func:`~.jobs.run_plan` a worker (:class:`ColorizeWorker`) that writes one file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .jobs import Job, plan_jobs, run_plan, write_stdout
from .main import EXIT_OK, say
from .options import (
    STDIO,
    add_model_options,
    add_output_options,
    add_restore_options,
    check_options,
    make_colorizer,
    make_restorer,
    max_pixels_option,
    stream_source,
)

if TYPE_CHECKING:
    from ..pipeline.image import Colorizer
    from ..restoration import Restorer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "colorize",
        help="colorize photographs (files, folders, or - for stdin/stdout)",
        description="Colorize black-and-white photographs. Folders are searched recursively and "
        "the output tree mirrors the input tree. Existing outputs are skipped unless --overwrite; "
        "inputs are never overwritten.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders, or - for standard input")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file (one input), folder (several inputs, a folder, a path ending in /, or a new "
                        "name without an extension unless --format or - as input), or - for stdout; "
                        "default: NAME_colorized.EXT beside each file, FOLDER_colorized for a folder")
    add_model_options(parser)
    add_output_options(parser, format_help="output format for folders and stdout, e.g. png or jpg (default: keep the input's)")
    add_restore_options(parser)
    parser.set_defaults(func=run)


class ColorizeWorker:
    """Colorizes one job's file (repairing it first when a restorer is given)."""

    def __init__(self, colorizer: Colorizer, restorer: Restorer | None = None) -> None:
        self.colorizer, self.restorer = colorizer, restorer

    @property
    def name(self) -> str:
        return f"model {self.colorizer.model_name}"

    @property
    def threads(self) -> int:
        return self.colorizer.threads

    def set_threads(self, threads: int) -> None:
        self.colorizer.set_threads(threads)

    def write(self, job: Job, args: argparse.Namespace, before_write: Callable[[], None] | None) -> None:
        self.colorizer.colorize_file(
            job.source, job.destination, overwrite=args.overwrite, quality=args.quality, bit_depth=args.bit_depth,
            **({"before_write": before_write} if before_write else {}),
            **({"restore": self.restorer, "mask_path": job.mask} if self.restorer is not None else {}),
        )


def run(args: argparse.Namespace) -> int:
    check_options(args)
    stream = stream_source(args)
    if stream is not None:
        return _run_stream(args, *stream)
    plan = plan_jobs(args.inputs, args.output, args.extension)
    return run_plan(plan, args, lambda: ColorizeWorker(make_colorizer(args), make_restorer(args)))


def _run_stream(args: argparse.Namespace, source: bytes | Path, name: str) -> int:
    """Colorize one image (stdin's bytes, or a file for ``-o -``); write to ``-o`` or, by
    default, to stdout."""
    from ..pipeline.decoding import read_image
    from ..pipeline.encoding import encode_image
    from ..pipeline.formats import writable_format

    loaded = read_image(source, **max_pixels_option(args))
    colorizer = make_colorizer(args)
    rgb = colorizer.colorize_loaded(loaded, restore=make_restorer(args))
    if args.output and args.output != STDIO:
        from ..pipeline.encoding import write_image

        write_image(Path(args.output), rgb, alpha=loaded.alpha, bit_depth=args.bit_depth or loaded.bit_depth,
                    exif=loaded.exif, icc_profile=loaded.icc_profile, quality=args.quality,
                    overwrite=args.overwrite)
    else:
        fmt = args.extension or writable_format(loaded.format)
        encoded = encode_image(
            rgb, fmt, alpha=loaded.alpha, exif=loaded.exif, icc_profile=loaded.icc_profile, quality=args.quality
        )
        write_stdout(encoded)
    say(f"colorized {name} with model {colorizer.model_name}")
    return EXIT_OK
