"""Colorizing many files on a Ray cluster with Ray Data.

The ``(source, destination)`` pairs become a dataset (:func:`ray.data.from_items`) mapped in
batches by a pool of actors (:class:`ColorizeFiles`); each actor loads its colorizer once and
reuses it for every batch it gets (and its restorer, when the photographs are repaired
first: ``make_restorer``; ``save_mask`` writes each damage mask beside its output, named by
:func:`~masterpiece.pipeline.repair.mask_path_for`). Each file is handled as the local CLI handles it: an
existing output is skipped unless ``overwrite``, the output is written atomically, and a
file that fails becomes a failed result with its reason while the others go on. Results
come back in input order.

Every worker reads the sources and writes the outputs under the same paths as the driver
gives them, so on a cluster of several machines they must be on a file system all nodes
mount at the same place (NFS, a cluster file system), and masterpiece must be installed on
every node (or shipped with a ``runtime_env``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, MasterpieceError, ModelError, OutputError
from ..settings import DEFAULT_QUALITY

if TYPE_CHECKING:
    from ..pipeline.image import Colorizer
    from ..restoration import Restorer

logger = logging.getLogger(__name__)

#: ``--ray`` without an address: start a Ray instance on this machine
LOCAL = "local"

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


@dataclass(frozen=True)
class FileResult:
    """What happened to one file.

    Attributes:
        source, destination: the paths as given.
        status: ``written``, ``skipped`` (the output exists) or ``failed``.
        message: why it failed (empty otherwise).
        kind: for a failure, ``input`` (a :class:`~masterpiece.errors.MasterpieceError` about
            this file), ``output`` (the output could not be written; ``errno`` says why),
            ``internal`` (an unexpected error: a bug), or ``model`` / ``settings`` (the worker
            could not build its colorizer; raised by :func:`colorize_files_on_ray`).
        errno: the OS error number of an output failure, else 0.
    """

    source: str
    destination: str
    status: str
    message: str = ""
    kind: str = ""
    errno: int = 0

    def error(self) -> BaseException | None:
        """The failure as an exception like the one the worker caught (None if no failure)."""
        if self.status != FAILED:
            return None
        if self.kind == "output":
            error = OutputError(self.message)
            error.errno = self.errno or None
            return error
        if self.kind == "internal":
            return RuntimeError(self.message)
        return MasterpieceError(self.message)


def colorize_or_skip(
    colorizer: Colorizer,
    source: Path,
    destination: Path,
    *,
    overwrite: bool = False,
    quality: int = DEFAULT_QUALITY,
    bit_depth: int | None = None,
    restorer: Restorer | None = None,
    save_mask: bool = False,
) -> bool:
    """Colorize ``source`` into ``destination``; False when the output exists (no ``overwrite``).

    ``restorer`` repairs the photograph first; ``save_mask`` (with a restorer) writes its
    damage mask beside the output.

    Raises:
        MasterpieceError: the input cannot be read or the output cannot be written.
    """
    if os.path.lexists(destination) and not overwrite:
        return False
    restoring: dict = {}
    if restorer is not None:
        from ..pipeline.repair import mask_path_for

        restoring = {"restore": restorer, "mask_path": mask_path_for(destination) if save_mask else None}
    colorizer.colorize_file(
        source, destination, overwrite=overwrite, quality=quality, bit_depth=bit_depth, **restoring
    )
    return True


class ColorizeFiles:
    """A Ray Data callable class: one instance per actor, one colorizer per instance.

    Args:
        make_colorizer: builds the colorizer (called once, in the actor). It must be
            importable on the workers (a module-level function or a ``functools.partial``).
        overwrite, quality, bit_depth, save_mask: as in :func:`colorize_or_skip`.
        threads: the network's threads in this actor (its share of the node's cores).
        make_restorer: builds the restorer that repairs each photograph first (once, in the
            actor, like the colorizer), or None.
    """

    def __init__(
        self,
        make_colorizer: Callable[[], Colorizer],
        overwrite: bool = False,
        quality: int = DEFAULT_QUALITY,
        bit_depth: int | None = None,
        threads: int = 1,
        make_restorer: Callable[[], Restorer | None] | None = None,
        save_mask: bool = False,
    ) -> None:
        self.options = {"overwrite": overwrite, "quality": quality, "bit_depth": bit_depth, "save_mask": save_mask}
        self.colorizer: Colorizer | None = None
        self.load_error = ("", "")
        try:
            self.options["restorer"] = make_restorer() if make_restorer is not None else None
            self.colorizer = make_colorizer()
            self.colorizer.set_threads(max(1, threads))
        except MasterpieceError as error:  # reported with the first batch, stops the run
            self.load_error = (str(error), "model" if isinstance(error, ModelError) else "settings")
        except Exception as error:  # e.g. a device torch does not know: the same, never a
            # constructor that fails (Ray would restart the actor again and again)
            logger.exception("cannot build the colorizer")
            self.load_error = (f"{type(error).__name__}: {error}", "settings")

    def __call__(self, batch: dict) -> dict:
        results = [self.one(str(s), str(d)) for s, d in zip(batch["source"], batch["destination"])]
        return {name: [getattr(r, name) for r in results] for name in FileResult.__annotations__}

    def one(self, source: str, destination: str) -> FileResult:
        if self.colorizer is None:
            return FileResult(source, destination, FAILED, *self.load_error)
        try:
            written = colorize_or_skip(
                self.colorizer, Path(source), Path(destination), **self.options
            )
        except OutputError as error:
            return FileResult(source, destination, FAILED, str(error), "output", error.errno or 0)
        except MasterpieceError as error:
            return FileResult(source, destination, FAILED, str(error), "input")
        except Exception as error:
            logger.exception("internal error on %s", source)
            return FileResult(
                source, destination, FAILED, f"{type(error).__name__}: {error}", "internal"
            )
        return FileResult(source, destination, WRITTEN if written else SKIPPED)


def check_ray_address(address: str) -> str:
    """``address`` if it can name a Ray cluster: ``local``, ``auto``, ``ray://HOST:PORT`` or
    ``HOST:PORT``.

    Raises:
        ConfigError: anything else (often an input path taken as the address: write
            ``--ray`` after the inputs, or ``--ray=ADDRESS``).
    """
    if address in (LOCAL, "auto") or address.startswith("ray://"):
        return address
    host, _, port = address.rpartition(":")
    if host and port.isdigit() and "/" not in host:
        return address
    raise ConfigError(
        f"--ray {address!r} is not a Ray address; use auto, ray://HOST:10001 or HOST:6379, or "
        "nothing for a local instance (put --ray after the inputs, or write --ray=ADDRESS)"
    )


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to Ray for the block: an existing session is reused as it is; without an
    address (or ``local``) a local instance is started with ``num_cpus`` CPUs (default: all)
    and stopped afterwards; otherwise the cluster at ``address`` is joined.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be reached.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "running on Ray needs the ray extra: pip install 'masterpiece[ray]'"
        ) from None
    if ray.is_initialized():
        yield
        return
    local = address in (None, LOCAL)
    options = {"num_cpus": num_cpus} if local else {"address": address}
    # ray.init installs its own SIGTERM handler (a stack dump and exit status 15), which would
    # replace the caller's: the CLI's turns SIGTERM into a clean stop with its summary and 143
    main_thread = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
    try:
        ray.init(**options, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = "a local Ray instance" if local else f"the Ray cluster at {address}"
        raise ConfigError(
            f"cannot start or reach {where}: {error}; start one with `ray start --head` and pass "
            "--ray auto, or --ray ray://HOST:10001"
        ) from error
    finally:
        if main_thread and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)
    try:
        yield
    finally:
        ray.shutdown()


def colorize_files_on_ray(
    pairs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    make_colorizer: Callable[[], Colorizer],
    *,
    overwrite: bool = False,
    quality: int = DEFAULT_QUALITY,
    bit_depth: int | None = None,
    workers: int | None = None,
    batch_size: int = 8,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    make_restorer: Callable[[], Restorer | None] | None = None,
    save_mask: bool = False,
) -> Iterator[FileResult]:
    """Colorize ``pairs`` of (source, destination) on the connected Ray cluster.

    Call it inside :func:`ray_session`. Results are yielded in input order as they finish;
    stopping the iteration early stops the run (files not yet started are not processed).

    Args:
        pairs: what to colorize and where; paths are made absolute here.
        make_colorizer: builds each actor's colorizer (importable on the workers).
        overwrite, quality, bit_depth, save_mask: as in :func:`colorize_or_skip`.
        make_restorer: builds each actor's restorer (repairs before colorizing), or None.
        workers: actors; by default as many as the cluster's CPUs allow (at most one per
            batch of files).
        batch_size: files per batch handed to an actor.
        cpus_per_worker, gpus_per_worker: resources each actor reserves.

    Raises:
        ModelError: the actors could not load the model.
        ConfigError: the colorizer's settings are invalid, or ``workers`` or ``batch_size``
            is not positive.
    """
    import ray
    import ray.data

    if batch_size < 1 or (workers is not None and workers < 1):
        raise ConfigError(
            f"workers and batch size must be positive, got {workers} and {batch_size}"
        )
    if not pairs:
        return
    items = [{"source": os.path.abspath(s), "destination": os.path.abspath(d)} for s, d in pairs]
    if workers is None:
        cpus = ray.cluster_resources().get("CPU", 1)
        workers = max(
            1, min(int(cpus // max(cpus_per_worker, 1e-9)), math.ceil(len(items) / batch_size))
        )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    dataset = ray.data.from_items(items).map_batches(
        ColorizeFiles,
        fn_constructor_kwargs={
            "make_colorizer": make_colorizer,
            "overwrite": overwrite,
            "quality": quality,
            "bit_depth": bit_depth,
            "threads": max(1, int(cpus_per_worker)),
            "make_restorer": make_restorer,
            "save_mask": save_mask,
        },
        compute=ray.data.ActorPoolStrategy(size=workers),
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker or None,
    )
    rows = iter(dataset.iter_rows())
    try:
        for row in rows:
            result = FileResult(**{name: _plain(row[name]) for name in FileResult.__annotations__})
            if result.kind in ("model", "settings"):
                raise (ModelError if result.kind == "model" else ConfigError)(result.message)
            yield result
    finally:  # stop the execution now, while Ray is still connected
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") else value
