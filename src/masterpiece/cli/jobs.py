"""Planning and running the jobs of the file verbs (``colorize``, ``restore``, ``batch``).

:func:`plan_jobs` decides every input's output (folders mirrored, outputs that another input
already has reported, inputs never overwritten); :func:`run_plan` runs the planned jobs with a
verb's :class:`FileWorker`, which writes one file, several jobs at once (:func:`worker_count`),
and prints the summary. :func:`record_outcome` and :func:`summary_line` count and report each
file, for ``batch --ray`` too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..atomic import REFUSED_WRITE_ERRNOS
from ..settings import workers as workers_from_env
from .main import EXIT_OK, EXIT_OUTPUT, EXIT_PARTIAL_FAILURE, say
from .options import MASK_SUFFIX

#: write failures that stop a batch: every later output would fail the same way


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
    ``FOLDER{suffix}``. ``output`` is a folder for several inputs or a folder, when it is
    one, ends in a separator, or is new and has no extension (no image file could be written
    there) while ``extension`` is not given; else the one input's file.
    """
    from ..errors import InvalidInputError

    plan = Plan()
    several = len(inputs) > 1 or any(Path(item).is_dir() for item in inputs)
    out_dir = Path(output) if output else None
    if several and out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"-o {output} must be a folder when colorizing several images or a folder")
    # a new -o without an extension names no image file (none could be written there): a folder,
    # unless --format gives the file its extension
    new_folder = (out_dir is not None and output != "-" and not extension and not os.path.lexists(out_dir)
                  and os.path.splitext(out_dir.name)[1] in ("", "."))  # "name." too, on every Python
    into_folder = out_dir is not None and (several or out_dir.is_dir() or output.endswith(("/", "\\")) or new_folder)
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


class FileWorker(Protocol):
    """What :func:`run_plan` runs jobs with: one file at a time, on a share of the cores."""

    @property
    def name(self) -> str: ...  # for the summary: "model compact"

    @property
    def threads(self) -> int: ...

    def set_threads(self, threads: int) -> None: ...

    def write(self, job: Job, args: argparse.Namespace, before_write: Callable[[], None] | None) -> None: ...


def run_plan(plan: Plan, args: argparse.Namespace, make_worker: Callable[[], FileWorker],
             done: str = "colorized") -> int:
    """Run a verb's planned jobs: report the plan's problems, build the worker (the model
    loads here), process every job, print the summary; returns the exit code.

    Raises:
        ConfigError: ``$MASTERPIECE_WORKERS`` is invalid (before the worker is built).
    """
    if getattr(args, "save_mask", False):
        claim_masks(plan)
    workers = worker_count(len(plan.jobs))  # an invalid $MASTERPIECE_WORKERS fails before anything runs
    for problem in plan.problems:
        say(f"masterpiece: {problem}")
    worker = make_worker()
    tally = Tally(failed=len(plan.problems))
    try:
        stopped = _colorize_jobs(plan.jobs, worker, args, tally, workers)
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

    return isinstance(error, OutputError) and getattr(error, "errno", None) in REFUSED_WRITE_ERRNOS


def _colorize_jobs(
    jobs: list[Job], worker: FileWorker, args: argparse.Namespace, tally: Tally, workers: int
) -> bool:
    """Colorize every job, reporting failures one line each; True if a write failure stopped it.

    ``workers`` jobs run at once (:func:`worker_count`), each on its own thread with its share of
    the cores, so that one image's decoding and encoding overlap another's network and colour
    conversion; results are taken in input order, so reports and the stop on a full disk read
    as in a plain loop. After a stop or an interruption no new job starts; jobs already running
    finish their (atomic) write.
    """
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..errors import MasterpieceError

    inputs = {real_path(job.source) for job in jobs}
    # a bar for a terminal only (tqdm's disable=None): in a log or a pipe it is carriage-return noise
    bar = tqdm(total=len(jobs), unit="image", disable=True if len(jobs) < 2 else None, file=sys.stderr)
    runner = _JobRunner(workers, worker, args, inputs)
    recorded = 0
    try:
        with logging_redirect_tqdm(), bar, runner:
            for index, outcome in enumerate(runner.results(jobs)):
                bar.update()
                stops = record_outcome(outcome, jobs[index], tally)
                recorded = index + 1
                if stops:
                    runner.stop()
                    report_line(f"masterpiece: stopping: every later output would fail the same way; "
                            f"{len(jobs) - index - 1} image(s) were not processed")
                    return True
    except KeyboardInterrupt:
        # the jobs running when it came have finished their (atomic) writes: count them too
        for index in range(recorded, len(jobs)):
            outcome = runner.outcomes.get(index)
            if isinstance(outcome, (bool, MasterpieceError)):
                record_outcome(outcome, jobs[index], tally)
        raise
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


def worker_count(job_count: int) -> int:
    """Jobs run at once: ``$MASTERPIECE_WORKERS`` (:func:`masterpiece.settings.workers`; at most
    one per job), else 2 for a batch (one decodes or encodes while the other computes), else 1.

    Raises:
        ConfigError: ``$MASTERPIECE_WORKERS`` is not a whole number, 1 or more.
    """
    override = workers_from_env()
    if override is not None:
        return min(override, max(job_count, 1))
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
        #: each finished job's outcome by index (None: not run), also those never yielded
        self.outcomes: dict[int, bool | BaseException | None] = {}
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

        outcome: bool | BaseException | None = None
        try:
            if not self._stopped.is_set():
                outcome = _colorize_job(job, self.worker, self.args, self.inputs, wait_for_turn)
        except _Cancelled:
            pass
        except Exception as error:  # noqa: BLE001  (handed to the main thread, which reports or re-raises it)
            outcome = error
        finally:
            self.outcomes[index] = outcome
            self._finished[index].set()
        return outcome

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
