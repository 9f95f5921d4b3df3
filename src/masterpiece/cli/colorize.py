"""``masterpiece colorize IN... [-o OUT]``: colorize files, folders or standard input.

The planning of outputs (folders mirrored, existing outputs skipped, inputs never
overwritten), the runner of jobs and the summary are shared with ``restore`` and ``batch``:
a verb gives :func:`run_plan` a worker (:class:`ColorizeWorker` here) that writes one file.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .main import EXIT_OK, EXIT_OUTPUT, EXIT_PARTIAL_FAILURE, say

if TYPE_CHECKING:
    from ..pipeline.image import Colorizer
    from ..restoration import Restorer

STDIO = "-"
#: ``--precision`` choices; the same as ``masterpiece.models.runtime.PRECISIONS`` (spelled out
#: here so that ``--help`` imports no model code; a test keeps them equal)
PRECISION_CHOICES = ("auto", "fp32", "bf16", "int8")
#: ``--detector`` choices and the mask's suffix, spelled out for ``--help`` as above (a test
#: keeps them equal to ``masterpiece.restoration``'s and ``masterpiece.pipeline.repair``'s)
DETECTOR_CHOICES = ("learned", "classical")
MASK_SUFFIX = "_mask"
#: write failures that stop a batch: every later output would fail the same way
_FATAL_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every verb that runs a model."""
    parser.add_argument("--model", help="model name (default: the best model whose weights are present)")
    parser.add_argument("--weights", type=Path, help="use this local weights file instead of the registered weights")
    parser.add_argument("--temperature", type=float, default=0.38,
                        help="annealed-mean temperature: lower is more vivid, 1 the plain mean (default: 0.38)")
    parser.add_argument("--saturation", type=float, default=1.0, help="chroma multiplier (default: 1)")
    parser.add_argument("--size", type=int, default=256, help="side of the image the network sees (default: 256)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES,
                        help="network precision: auto (the fastest of int8, fp32 and bf16 within 1.5 ab of fp32, "
                        "timed once on this CPU and cached), fp32 (exact reproduction), bf16, or int8 (ONNX Runtime, "
                        "exported once into the weights cache) (default: $MASTERPIECE_PRECISION, else auto)")


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
                        help="output file (one input), folder (several inputs or a folder), or - for stdout; "
                        "default: NAME_colorized.EXT beside each file, FOLDER_colorized for a folder")
    add_model_options(parser)
    add_output_options(parser, format_help="output format for folders and stdout, e.g. png or jpg (default: keep the input's)")
    add_restore_options(parser)
    parser.set_defaults(func=run)


def add_restore_options(parser: argparse.ArgumentParser, *, verb_restores: bool = False, masks: bool = True) -> None:
    """``--restore`` (unless the verb always restores), ``--detector``, ``--auto-levels`` and
    (``masks``) ``--save-mask``."""
    if not verb_restores:
        parser.add_argument("--restore", action="store_true",
                            help="repair scratches, dust, creases and tears first (see `masterpiece restore`)")
    parser.add_argument("--detector", choices=DETECTOR_CHOICES, default="learned",
                        help="how damage is found: learned (the bundled network) or classical "
                        "(morphological top-hat and thresholding) (default: learned)")
    parser.add_argument("--auto-levels", action="store_true",
                        help="stretch the tones of a faded print (percentiles; at most 0.5%% of the pixels "
                        "clipped at either end) (default: off)")
    if masks:
        parser.add_argument("--save-mask", action="store_true",
                            help=f"also write the detected damage beside each output as NAME{MASK_SUFFIX}.png "
                            "(8-bit, 255 where damaged); needs --restore on colorize and batch")


def add_output_options(parser: argparse.ArgumentParser, format_help: str) -> None:
    """``--overwrite``, ``--quality``, ``--format``, ``--bit-depth`` and ``--max-pixels`` (colorize, batch)."""
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default: 95)")
    parser.add_argument("--format", dest="extension", help=format_help)
    parser.add_argument("--bit-depth", type=int, choices=(8, 16),
                        help="output bit depth for PNG/TIFF (default: the input's)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse images larger than N pixels (width x height), judged before decoding; "
                        "0 for no limit (default: $MASTERPIECE_MAX_PIXELS, else 200000000)")


@dataclass
class Job:
    """One input file, where its output goes and, with ``--save-mask``, its damage mask."""

    source: Path
    destination: Path
    mask: Path | None = None


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    claimed: dict[str, Job] = field(default_factory=dict)  # output path -> the job writing it

    def add(self, job: Job) -> None:
        """Add ``job`` unless another input already has its output (reported, never overwritten)."""
        key = os.path.normcase(os.path.abspath(job.destination))
        other = self.claimed.get(key)
        if other is None:
            self.claimed[key] = job
            self.jobs.append(job)
        elif real_path(other.source) != real_path(job.source):  # the same file named twice is dropped
            self.problems.append(
                f"{job.source}: its output '{job.destination}' is already the output of "
                f"'{other.source}'; skipped (colorize it on its own with -o)"
            )


@dataclass
class Tally:
    """What happened to the inputs of one run."""

    written: int = 0
    skipped: int = 0
    failed: int = 0


def real_path(path: Path) -> str:
    """The path with every symbolic link resolved; unlike ``Path.resolve`` never raises on loops."""
    return os.path.realpath(path)


def _with_extension(path: Path, extension: str | None) -> Path:
    return path.with_suffix("." + extension.lstrip(".")) if extension else path


def _single_destination(source: Path, out_dir: Path | None, into_folder: bool, suffix: str) -> Path:
    """The output of one named input file."""
    from ..pipeline.formats import writable_extension

    if out_dir is not None and into_folder:
        return out_dir / f"{source.stem}{writable_extension(source.suffix)}"
    if out_dir is not None:
        return out_dir
    return source.with_name(f"{source.stem}{suffix}{writable_extension(source.suffix)}")


def _plan_folder(plan: Plan, source: Path, root: Path, extension: str | None) -> None:
    """Add a job for every image below ``source``, mirrored into ``root``.

    When ``root`` lies inside ``source`` (``-o scans/colour``), what is below it is earlier
    output, not input: it is left out, so that a re-run does not colorize its own results.
    """
    from ..pipeline.folders import iter_image_files, output_path_for

    def unreadable(path: Path, reason: str) -> None:
        plan.problems.append(f"{path}: skipped, {reason}")

    outputs = Path(real_path(root))
    files = list(iter_image_files(source, on_error=unreadable))
    if outputs != Path(real_path(source)):  # the same folder: output_path_for refuses every file
        files = [file for file in files if not Path(real_path(file.parent)).is_relative_to(outputs)]
    if not files:
        plan.problems.append(f"{source}: no images found in this folder")
    for file in files:
        plan.add(Job(file, _with_extension(output_path_for(file, source, root), extension)))


def plan_jobs(inputs: list[str], output: str | None, extension: str | None, suffix: str = "_colorized") -> Plan:
    """Decide every input file's output path (no file is touched).

    Folders are searched with :func:`~masterpiece.pipeline.folders.iter_image_files`; what cannot
    be searched, and inputs whose output another input already has, become ``problems``.
    Without ``output``, a file's output is ``NAME{suffix}.EXT`` beside it and a folder's
    ``FOLDER{suffix}``.
    """
    from ..errors import InvalidInputError

    plan = Plan()
    several = len(inputs) > 1 or any(Path(item).is_dir() for item in inputs)
    out_dir = Path(output) if output else None
    if several and out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"-o {output} must be a folder when colorizing several images or a folder")
    into_folder = out_dir is not None and (several or out_dir.is_dir() or output.endswith(("/", "\\")))
    for item in inputs:
        source = Path(item)
        if source.is_dir():
            root = out_dir / source.name if out_dir and len(inputs) > 1 else out_dir
            _plan_folder(plan, source, root or source.with_name(f"{source.name}{suffix}"), extension)
        elif os.path.lexists(source):
            destination = _single_destination(source, out_dir, into_folder, suffix)
            plan.add(Job(source, _with_extension(destination, extension)))
        else:
            plan.problems.append(f"{source}: no such file or folder")
    return plan


def claim_masks(plan: Plan) -> None:
    """Give every job its damage mask (``NAME_mask.png`` beside its output); a job whose mask
    would be another job's output or mask, or an input, is dropped and reported."""
    inputs = {real_path(job.source) for job in plan.jobs}
    kept = []
    for job in plan.jobs:
        mask = job.destination.with_name(f"{job.destination.stem}{MASK_SUFFIX}.png")
        key = os.path.normcase(os.path.abspath(mask))
        if key in plan.claimed or real_path(mask) in inputs:
            plan.problems.append(f"{job.source}: its damage mask '{mask}' would replace another output "
                                 "or an input; skipped (process it on its own with -o)")
            continue
        plan.claimed[key] = job
        job.mask = mask
        kept.append(job)
    plan.jobs = kept


def check_options(args: argparse.Namespace) -> None:
    from ..errors import ConfigError
    from ..pipeline.formats import writable_format

    if getattr(args, "save_mask", False) and not (getattr(args, "restore", False)):
        raise ConfigError("--save-mask writes the damage --restore finds; add --restore")
    if getattr(args, "save_mask", False) and STDIO in getattr(args, "inputs", ()):
        raise ConfigError("--save-mask cannot be used with standard input; name the file instead")

    if not 1 <= args.quality <= 100:
        raise ConfigError(f"--quality must be 1..100, got {args.quality}")
    if args.max_pixels is not None and args.max_pixels < 0:
        raise ConfigError(f"--max-pixels must be a number of pixels (0 for no limit), got {args.max_pixels}")
    if args.extension and not writable_format(args.extension, ""):
        raise ConfigError(f"--format {args.extension} cannot be written; use png, jpg, tif, webp or bmp")


class FileWorker(Protocol):
    """What :func:`run_plan` runs jobs with: one file at a time, on a share of the cores."""

    @property
    def name(self) -> str: ...  # for the summary: "model compact"

    @property
    def threads(self) -> int: ...

    def set_threads(self, threads: int) -> None: ...

    def write(self, job: Job, args: argparse.Namespace, before_write: Callable[[], None] | None) -> None: ...


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
    if STDIO in args.inputs:
        check_one_stdin(args)
        return _run_stdio(args)
    plan = plan_jobs(args.inputs, args.output, args.extension)
    return run_plan(plan, args, lambda: ColorizeWorker(make_colorizer(args), make_restorer(args)))


def check_one_stdin(args: argparse.Namespace) -> None:
    from ..errors import ConfigError

    if len(args.inputs) > 1:
        raise ConfigError("'-' (standard input) cannot be combined with other inputs")


def run_plan(plan: Plan, args: argparse.Namespace, make_worker: Callable[[], FileWorker],
             done: str = "colorized") -> int:
    """Run a verb's planned jobs: report the plan's problems, build the worker (the model
    loads here), process every job, print the summary; returns the exit code."""
    if getattr(args, "save_mask", False):
        claim_masks(plan)
    for problem in plan.problems:
        say(f"masterpiece: {problem}")
    worker = make_worker()
    tally = Tally(failed=len(plan.problems))
    try:
        stopped = _colorize_jobs(plan.jobs, worker, args, tally)
    except KeyboardInterrupt:
        say(summary_line(tally, worker.name, done) + "; interrupted: run the same command again to "
            "finish (the finished outputs are skipped)")
        raise
    if len(plan.jobs) == 1 and tally.written:
        say(str(plan.jobs[0].destination), sys.stdout)
    say(summary_line(tally, worker.name, done))
    if stopped:
        return EXIT_OUTPUT
    return EXIT_PARTIAL_FAILURE if tally.failed else EXIT_OK


def summary_line(tally: Tally, worker_name: str, done: str = "colorized") -> str:
    """``colorized 3 image(s) with model compact; ...`` (``worker_name`` as "model compact")."""
    summary = f"{done} {tally.written} image(s) with {worker_name}"
    if tally.skipped:
        summary += f"; skipped {tally.skipped} existing output(s) (use --overwrite to replace them)"
    if tally.failed:
        summary += f"; {tally.failed} failed"
    return summary


def _stops_the_batch(error: BaseException) -> bool:
    """A write failure that every later write would repeat: a full disk, a refused folder."""
    from ..errors import OutputError

    return isinstance(error, OutputError) and getattr(error, "errno", None) in _FATAL_WRITE_ERRNOS


def _colorize_jobs(jobs: list[Job], worker: FileWorker, args: argparse.Namespace, tally: Tally) -> bool:
    """Colorize every job, reporting failures one line each; True if a write failure stopped it.

    Several jobs run at once (:func:`_worker_count`), each on its own thread with its share of
    the cores, so that one image's decoding and encoding overlap another's network and colour
    conversion; results are taken in input order, so reports and the stop on a full disk read
    as in a plain loop. After a stop or an interruption no new job starts; jobs already running
    finish their (atomic) write.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    inputs = {real_path(job.source) for job in jobs}
    workers = _worker_count(len(jobs))
    # a bar for a terminal only (tqdm's disable=None): in a log or a pipe it is carriage-return noise
    bar = tqdm(total=len(jobs), unit="image", disable=True if len(jobs) < 2 else None, file=sys.stderr)
    with logging_redirect_tqdm(), bar, _JobRunner(workers, worker, args, inputs) as runner:
        for index, outcome in enumerate(runner.results(jobs)):
            bar.update()
            if record_outcome(outcome, jobs[index], tally):
                runner.stop()
                report_line(f"masterpiece: stopping: every later output would fail the same way; "
                        f"{len(jobs) - index - 1} image(s) were not processed")
                return True
    return False


def record_outcome(outcome: bool | BaseException, job: Job, tally: Tally) -> bool:
    """Count one finished job; True when its failure must stop the batch."""
    from ..errors import MasterpieceError

    if isinstance(outcome, MasterpieceError):
        tally.failed += 1
        report_line(f"masterpiece: {job.source}: {outcome}")
        return _stops_the_batch(outcome)
    if isinstance(outcome, BaseException):
        raise outcome  # a bug, MemoryError: main() turns it into one line
    tally.written += outcome
    tally.skipped += not outcome
    return False


def _worker_count(job_count: int) -> int:
    """Jobs run at once: 2 for a batch (one decodes or encodes while the other computes), else 1."""
    override = os.environ.get("MASTERPIECE_WORKERS", "").strip()
    if override.isdigit() and int(override) > 0:
        return min(int(override), max(job_count, 1))
    return 2 if job_count > 1 and (os.cpu_count() or 1) > 1 else 1


class _Cancelled(Exception):
    """A job's output is not written: the batch stopped while it was being colorized."""


class _JobRunner:
    """Runs :func:`_colorize_job` on a thread pool, at most ``workers`` jobs at once.

    The worker (its network, its restorer) computes with ``cores / workers`` threads while the pool runs (restored on
    exit). :meth:`results` yields each job's outcome (True written, False skipped,
    or the exception it raised) in input order. Outputs are written in input order too: a
    job writes once the previous job has finished, and not at all after :meth:`stop`, so a
    full disk stops the batch exactly where a plain loop would.
    """

    def __init__(self, workers: int, worker: FileWorker, args: argparse.Namespace, inputs: set[str]) -> None:
        import threading

        self.workers = workers
        self.worker, self.args, self.inputs = worker, args, inputs
        self._stopped = threading.Event()
        self._finished: list[threading.Event] = []
        self._pool = None
        self._threads_before = 0

    def __enter__(self) -> _JobRunner:  # noqa: PYI034  (Self needs Python 3.11)
        from concurrent.futures import ThreadPoolExecutor

        self._threads_before = self.worker.threads
        if self.workers > 1:
            self.worker.set_threads(max(1, self._threads_before // self.workers))  # first: if it fails, no pool is left running
            self._pool = ThreadPoolExecutor(self.workers, "colorize")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)  # running jobs finish their atomic write
            self.worker.set_threads(self._threads_before)

    def stop(self) -> None:
        """Start no more jobs."""
        self._stopped.set()

    def _run(self, job: Job, index: int) -> bool | BaseException | None:
        def wait_for_turn() -> None:
            if index:
                self._finished[index - 1].wait()
            if self._stopped.is_set():
                raise _Cancelled

        try:
            if self._stopped.is_set():
                return None
            return _colorize_job(job, self.worker, self.args, self.inputs, wait_for_turn)
        except _Cancelled:
            return None
        except Exception as error:  # noqa: BLE001  (handed to the main thread, which reports or re-raises it)
            return error
        finally:
            self._finished[index].set()

    def results(self, jobs: list[Job]) -> Iterator[bool | BaseException]:
        import threading

        self._finished = [threading.Event() for _ in jobs]
        if self._pool is None:
            for index, job in enumerate(jobs):
                yield self._run(job, index)
            return
        from collections import deque

        pending: deque = deque()
        for index, job in enumerate(jobs):  # keep ``workers + 1`` submitted: one waits, the others run
            pending.append(self._pool.submit(self._run, job, index))
            if len(pending) > self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _colorize_job(
    job: Job, worker: FileWorker, args: argparse.Namespace, inputs: set[str],
    before_write: Callable[[], None] | None = None,
) -> bool:
    """Process one job with ``worker``; False when its output exists already (and no --overwrite).

    ``before_write`` runs after colorizing, before the output is written (the batch runner
    uses it to write outputs in input order).

    Raises:
        OutputExistsError: the output would overwrite an input.
        MasterpieceError: the input cannot be read or the output cannot be written.
    """
    from ..errors import OutputExistsError

    if real_path(job.destination) in inputs:
        raise OutputExistsError("the output would overwrite an input; skipped")
    if os.path.lexists(job.destination) and not args.overwrite:
        return False
    worker.write(job, args, before_write)
    return True


def report_line(message: str) -> None:
    """One line on stderr that does not break the progress bar."""
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        say(message)


def make_colorizer(args: argparse.Namespace) -> Colorizer:
    from ..pipeline.image import Colorizer

    return Colorizer(
        args.model, weights=args.weights, size=args.size, temperature=args.temperature,
        saturation=args.saturation, device=args.device, **_max_pixels_option(args),
        **({"precision": args.precision} if getattr(args, "precision", None) else {}),
    )


def make_restorer(args: argparse.Namespace) -> Restorer | None:
    """The restorer ``--restore``, ``--detector`` and ``--auto-levels`` ask for (None: neither
    repair nor auto levels). ``--auto-levels`` alone stretches the tones without repairing
    (and loads no detector network)."""
    repair, levels = bool(getattr(args, "restore", False)), bool(getattr(args, "auto_levels", False))
    if not (repair or levels):
        return None
    from ..restoration import Restorer

    return Restorer(args.detector if repair else "classical", auto_levels=levels, repair=repair)


def _max_pixels_option(args: argparse.Namespace) -> dict[str, int | None]:
    """``--max-pixels``: absent keeps the environment's limit, 0 means none."""
    if args.max_pixels is None:
        return {}
    return {"max_pixels": args.max_pixels or None}


def _run_stdio(args: argparse.Namespace) -> int:
    """Read one image from stdin; write to ``-o`` or, by default, to stdout."""
    from ..pipeline.decoding import read_image
    from ..pipeline.encoding import encode_image
    from ..pipeline.formats import writable_format

    data = sys.stdin.buffer.read()
    loaded = read_image(data, **_max_pixels_option(args))
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
    say(f"colorized standard input with model {colorizer.model_name}")
    return EXIT_OK


def write_stdout(data: bytes) -> None:
    """Write the encoded image to standard output; a closed pipe is an :class:`OutputError`."""
    from ..errors import OutputError

    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError as error:
        # nothing more can be written there; keep the interpreter's final flush quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise OutputError("standard output was closed before the image was written") from error
