"""``masterpiece restore IN... [-o OUT]``: repair scratches, dust, creases and tears of old prints.

Gray in, repaired gray out (a colour input stays colour: its lightness is repaired and its
chroma filled on the same mask, :mod:`masterpiece.pipeline.repair`). Inputs, outputs and
exit codes are those of ``colorize`` (the planning and job runner of :mod:`.jobs`): folders are
mirrored, existing outputs skipped unless ``--overwrite``, outputs written atomically; the
default output is ``NAME_restored.EXT`` beside a file, ``FOLDER_restored`` for a folder.
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
    add_output_options,
    add_restore_options,
    check_options,
    max_pixels_option,
    stream_source,
)

if TYPE_CHECKING:
    from ..restoration import Restorer

SUFFIX = "_restored"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="repair scratches, dust, creases and tears of old prints (files, folders, or -)",
        description="Repair the damage of scanned prints: scratches and hairlines, creases, dust "
        "and spots, torn corners, stains. Damaged pixels are found (by the bundled network, or "
        "the classical top-hat detector) and filled from their surroundings at full resolution; "
        "every other pixel is kept bit for bit. Gray in, gray out; colour in, colour out. "
        "Folders are searched recursively and the output tree mirrors the input tree. Existing "
        "outputs are skipped unless --overwrite; inputs are never overwritten.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders, or - for standard input")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file (one input), folder (several inputs, a folder, a path ending in /, or a new "
                        "name without an extension unless --format or - as input), or - for stdout; "
                        f"default: NAME{SUFFIX}.EXT beside each file, FOLDER{SUFFIX} for a folder")
    add_output_options(parser, format_help="output format for folders and stdout, e.g. png or tif (default: keep the input's)")
    add_restore_options(parser, verb_restores=True)
    parser.set_defaults(func=run, restore=True)


class RestoreWorker:
    """Repairs one job's file with a :class:`~masterpiece.restoration.Restorer`.

    Its threads are OpenCV's (the filling, the classical detector); the learned detector's
    ONNX Runtime session keeps the thread count it was made with.
    """

    def __init__(self, restorer: Restorer, max_pixels: dict[str, int | None]) -> None:
        self.restorer, self.max_pixels = restorer, max_pixels

    @property
    def name(self) -> str:
        return f"the {self.restorer.detector_name} detector"

    @property
    def threads(self) -> int:
        import cv2

        return int(cv2.getNumThreads())

    def set_threads(self, threads: int) -> None:
        import cv2

        cv2.setNumThreads(max(1, int(threads)))

    def write(self, job: Job, args: argparse.Namespace, before_write: Callable[[], None] | None) -> None:
        from ..pipeline.repair import restore_file

        restore_file(job.source, job.destination, self.restorer, overwrite=args.overwrite,
                     quality=args.quality, bit_depth=args.bit_depth, mask_path=job.mask,
                     before_write=before_write, **self.max_pixels)


def run(args: argparse.Namespace) -> int:
    check_options(args)
    stream = stream_source(args)
    if stream is not None:
        return _run_stream(args, *stream)
    plan = plan_jobs(args.inputs, args.output, args.extension, suffix=SUFFIX)
    return run_plan(plan, args, lambda: _worker(args), done="restored")


def _worker(args: argparse.Namespace) -> RestoreWorker:
    from ..restoration import Restorer

    return RestoreWorker(Restorer(args.detector, auto_levels=args.auto_levels), max_pixels_option(args))


def _run_stream(args: argparse.Namespace, source: bytes | Path, name: str) -> int:
    """Restore one image (stdin's bytes, or a file for ``-o -``); write to ``-o`` or, by
    default, to stdout."""
    from ..pipeline.decoding import read_image
    from ..pipeline.formats import writable_format
    from ..pipeline.repair import encode_restored, restore_pixels, write_restored

    loaded = read_image(source, **max_pixels_option(args))
    worker = _worker(args)
    repaired = restore_pixels(loaded.pixels, loaded.is_grayscale and loaded.pixels.ndim == 3, worker.restorer)
    options = {"alpha": loaded.alpha, "bit_depth": args.bit_depth or loaded.bit_depth, "exif": loaded.exif,
               "icc_profile": loaded.icc_profile, "quality": args.quality}
    if args.output and args.output != STDIO:
        write_restored(Path(args.output), repaired.pixels, overwrite=args.overwrite, **options)
    else:
        write_stdout(encode_restored(repaired.pixels, args.extension or writable_format(loaded.format), **options))
    say(f"restored {name} with {worker.name}")
    return EXIT_OK
