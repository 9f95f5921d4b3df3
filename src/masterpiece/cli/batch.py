"""``masterpiece batch IN... -o OUT [--ray [ADDRESS]]``: colorize an archive, locally or on Ray.

The inputs and the output layout are those of ``masterpiece colorize`` (folders are mirrored,
files named on the command line or in ``--files-from`` go into OUT by name), and so are the
skipping of existing outputs, ``--overwrite``, the per-file error lines and the exit codes.
Without ``--ray`` it is ``colorize`` itself. With ``--ray`` the files go through Ray Data
(:mod:`masterpiece.distributed`): a local Ray instance, or the cluster at ADDRESS (``auto``
for the one ``ray start`` joined this machine to, ``ray://HOST:10001`` for a remote one).
The driver checks ``--device`` and settles the model and the precision (``auto`` resolved on
this machine, an int8 model exported here once) before Ray starts, so every node runs the same.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .colorize import run as run_locally
from .jobs import (
    Job,
    Tally,
    claim_masks,
    plan_jobs,
    real_path,
    record_outcome,
    report_line,
    summary_line,
)
from .main import EXIT_OK, EXIT_OUTPUT, EXIT_PARTIAL_FAILURE, say
from .options import (
    STDIO,
    add_model_options,
    add_output_options,
    add_restore_options,
    check_options,
    make_colorizer,
    make_restorer,
)

if TYPE_CHECKING:
    from ..distributed import FileResult

LOCAL = "local"  # the same as masterpiece.distributed.ray_batch.LOCAL (that module imports torch)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="colorize an archive (folders, lists of files), locally or on a Ray cluster",
        description="Colorize many photographs into one output folder, with the layout, "
        "skipping and error reports of `colorize`. With --ray the work is spread over a Ray "
        "cluster (one model per worker); needs the ray extra: pip install 'masterpiece[ray]'.",
    )
    parser.add_argument("inputs", nargs="*", metavar="IN", help="image files and folders")
    parser.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    parser.add_argument(
        "--files-from",
        type=Path,
        metavar="FILE",
        help="also colorize the files listed in FILE, one path a line",
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        metavar="ADDRESS",
        help="run on Ray: alone, a local instance; auto, the cluster this machine belongs to; "
        "ray://HOST:10001, a remote cluster (put --ray after the inputs, or write --ray=ADDRESS)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="Ray actors, each with its own model (default: as many as the CPUs allow)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, metavar="N", help="files per Ray batch (default: 8)"
    )
    parser.add_argument(
        "--num-cpus",
        type=int,
        metavar="N",
        help="CPUs of the local Ray instance (default: all of this machine's)",
    )
    add_model_options(parser)
    add_output_options(parser, format_help="output format, e.g. png or jpg (default: keep the input's)")
    add_restore_options(parser)
    parser.set_defaults(func=run)


def _read_inputs(args: argparse.Namespace) -> list[str]:
    """The inputs named on the command line, then those listed in ``--files-from``."""
    from ..errors import ConfigError, InvalidInputError

    inputs = list(args.inputs)
    if args.files_from is not None:
        try:
            text = args.files_from.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            raise InvalidInputError(f"--files-from {args.files_from}: {error.strerror}") from None
        inputs += [line.strip() for line in text.splitlines() if line.strip()]
    if not inputs:
        raise ConfigError("no inputs: name files or folders, or pass --files-from FILE")
    if STDIO in inputs:
        raise ConfigError("batch does not read standard input; use `masterpiece colorize -`")
    return inputs


def run(args: argparse.Namespace) -> int:
    args.inputs = _read_inputs(args)
    args.output = os.path.join(args.output, "")  # always a folder, even for one file
    if args.ray is None:
        return run_locally(args)
    return _run_on_ray(args)


def _check_ray_options(args: argparse.Namespace) -> None:
    """What can be checked before Ray starts (it takes seconds): options, the model name."""
    from ..color.quantize import check_temperature
    from ..distributed import check_ray_address
    from ..errors import ConfigError
    from ..models import default_model_name, get_model_info

    check_options(args)
    check_ray_address(args.ray)
    for name in ("workers", "batch_size", "num_cpus"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    check_temperature(args.temperature)
    # every worker must run the same model, whatever each node has in its cache
    args.model = args.model or default_model_name()
    get_model_info(args.model)
    make_restorer(args)  # a detector that cannot load fails here, before Ray starts


def _ray_jobs(args: argparse.Namespace, tally: Tally) -> list[Job]:
    """Plan the jobs as ``colorize`` does; report problems and outputs that are inputs."""
    plan = plan_jobs(args.inputs, args.output, args.extension)
    if args.save_mask:
        claim_masks(plan)  # the actors name each mask the same way (pipeline.repair.mask_path_for)
    for problem in plan.problems:
        say(f"masterpiece: {problem}")
    tally.failed += len(plan.problems)
    inputs = {real_path(job.source) for job in plan.jobs}
    jobs = []
    for job in plan.jobs:
        if real_path(job.destination) in inputs:
            tally.failed += 1
            say(f"masterpiece: {job.source}: the output would overwrite an input; skipped")
        else:
            jobs.append(job)
    return jobs


def _settle_precision(args: argparse.Namespace) -> None:
    """Resolve ``--precision`` (``auto``, ``$MASTERPIECE_PRECISION``) here, on the driver, so
    every node runs the same precision whatever its CPU: ``auto`` on the CPU is measured as
    ``colorize`` measures it (:mod:`masterpiece.models.backend_choice`, cached); for int8,
    the model is exported once here (into the weights cache) before the actors start.

    Actors on other machines load the int8 file from their own cache: unless the nodes share
    the cache directory (``$MASTERPIECE_CACHE`` on a shared file system), each node exports
    its own copy on first use (the same weights give the same file). With ``--device cuda``
    on a cluster driven from a machine without a GPU, ``auto`` cannot be resolved here and
    each node resolves it (bf16 where its GPU supports it, else fp32): pass ``--precision``
    to fix it. (The variables: :mod:`masterpiece.settings`.)
    """
    from ..models.runtime import check_device, resolve_precision, ships_onnx
    from ..settings import precision as precision_from_env

    local = args.ray == LOCAL
    device = check_device(args.device, here=local)
    precision = args.precision or precision_from_env()
    if device != "cpu" and not local and not _cuda_here():
        resolve_precision(precision, "cuda")  # checks the name, refuses int8
        args.precision = precision
        return
    shipped = ships_onnx(args.model or _default_model(), args.weights, device)
    if precision == "auto" and device == "cpu":
        # measured here, as `colorize` does (models.backend_choice): the choice, and the
        # export it needs, are cached for the actors
        args.precision = precision
        _prepare_on_driver(args)
        return
    args.precision = resolve_precision(precision, device, shipped_onnx=shipped)
    if args.precision == "int8" and not shipped:  # a bundled model's int8 file ships with it
        _prepare_on_driver(args)


def _default_model() -> str:
    from ..models.selection import default_model_name

    return default_model_name()


def _cuda_here() -> bool:
    import torch  # a GPU device was accepted: torch is there

    return bool(torch.cuda.is_available())


def _prepare_on_driver(args: argparse.Namespace) -> None:
    """Load the model once on this machine before the actors start: an ``auto`` precision is
    measured here and fixed in ``args`` (so every actor runs the one chosen), and an export it
    needs (int8, or a cached ONNX form) lands in this machine's cache, which the actors of a
    local instance then load instead of each making their own. For a local instance a model
    that cannot load fails here; a remote cluster's nodes may have weights this machine lacks
    (each then resolves ``auto`` and exports for itself).
    """
    from ..errors import MasterpieceError

    try:
        args.precision = make_colorizer(args).precision
    except MasterpieceError as error:
        if args.ray == LOCAL:
            raise
        logging.getLogger(__name__).warning(
            "cannot load the model here (%s); each node chooses its precision and exports its own", error
        )


def _run_on_ray(args: argparse.Namespace) -> int:
    from ..distributed import colorize_files_on_ray, ray_session

    _check_ray_options(args)
    _settle_precision(args)
    tally = Tally()
    jobs = _ray_jobs(args, tally)
    stopped = False
    address = None if args.ray == LOCAL else args.ray
    try:
        with ray_session(address, args.num_cpus):
            _quiet_ray_data()
            results = colorize_files_on_ray(
                [(job.source, job.destination) for job in jobs],
                functools.partial(make_colorizer, args),
                overwrite=args.overwrite,
                quality=args.quality,
                bit_depth=args.bit_depth,
                workers=args.workers,
                batch_size=args.batch_size,
                gpus_per_worker=1 if str(args.device).startswith("cuda") else 0,
                make_restorer=functools.partial(make_restorer, args),
                save_mask=args.save_mask,
            )
            with contextlib.closing(results):
                stopped = _record_results(jobs, results, tally)
    except KeyboardInterrupt:
        # Ray stopped its workers midway through their writes: remove their hidden temporaries
        _remove_unfinished_writes(jobs, save_mask=args.save_mask)
        say(summary_line(tally, f"model {args.model}") + "; interrupted: run the same command again to finish")
        raise
    say(summary_line(tally, f"model {args.model}"))
    if stopped:
        return EXIT_OUTPUT
    return EXIT_PARTIAL_FAILURE if tally.failed else EXIT_OK


def _remove_unfinished_writes(jobs: list[Job], *, save_mask: bool) -> None:
    """The ``.part`` files of outputs (and masks) that workers stopped by Ray were writing."""
    from ..atomic import remove_stale_temporaries
    from ..pipeline.repair import mask_path_for

    destinations = [job.destination for job in jobs]
    if save_mask:
        destinations += [mask_path_for(job.destination) for job in jobs]
    remove_stale_temporaries(destinations)


def _record_results(jobs: list[Job], results: Iterator[FileResult], tally: Tally) -> bool:
    """Count and report each result as ``colorize`` does; True if a write failure stopped it."""
    from ..distributed.ray_batch import WRITTEN

    for index, (job, result) in enumerate(zip(jobs, results)):
        if record_outcome(result.error() or result.status == WRITTEN, job, tally):
            report_line(
                "masterpiece: stopping: every later output would fail the same way; "
                f"{len(jobs) - index - 1} image(s) were not processed"
            )
            return True
    return False


def _quiet_ray_data() -> None:
    """Ray Data's log lines only for warnings (its progress bars stay)."""
    import ray.data  # configures its logger when first imported

    logging.getLogger(ray.data.__name__).setLevel(logging.WARNING)
