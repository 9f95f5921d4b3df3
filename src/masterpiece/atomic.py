"""Atomic file writes, and what the operating system's errors mean for the person who hit them.

One writer for the whole package: images (:mod:`masterpiece.pipeline.encoding`), weights and
their ONNX exports (:mod:`masterpiece.models`), training checkpoints, videos and caches all
appear complete or not at all. A file is written to a hidden temporary sibling
(``.NAME.<random>.part``, or ``.NAME.<random>.part.EXT`` for writers that pick the format from
the extension), flushed to disk with ``fsync`` and renamed over the destination; on any
failure, Ctrl-C included, the temporary file is removed. Writing beside the destination keeps
the rename on one file system, so it is atomic.

:func:`output_error` turns an ``OSError`` into an :class:`~masterpiece.errors.OutputError` that
names the file and says what to do; :data:`REFUSED_WRITE_ERRNOS` are the codes that mean the
disk or folder refuses every write (a batch stops on them rather than failing each file).
This module imports only the standard library and :mod:`masterpiece.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from masterpiece.errors import OutputError

__all__ = [
    "REFUSED_WRITE_ERRNOS",
    "atomic_path",
    "os_problem",
    "output_error",
    "remove_stale_temporaries",
    "remove_temporary",
    "replace_durably",
    "scratch_sibling",
    "temporary_sibling",
    "write_bytes_atomically",
]

logger = logging.getLogger(__name__)

OS_PROBLEMS: Final[dict[int, str]] = {
    errno.ENOENT: "no such file or folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.ELOOP: "too many levels of symbolic links (a link loop)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EIO: "an input/output error (a failing disk or network share?)",
}
_WRITE_ADVICE: Final = {
    errno.EACCES: "choose a folder you can write to, or change its permissions",
    errno.EPERM: "choose a folder you can write to, or change its permissions",
    errno.ENOSPC: "free some space or write to another disk",
    errno.EDQUOT: "free some space or write to another disk",
    errno.EROFS: "write to another location",
}

REFUSED_WRITE_ERRNOS: Final = frozenset(_WRITE_ADVICE)
"""``errno`` codes meaning the disk or folder refuses writes (permissions, full, read-only):
every later write there fails too, so a batch stops instead of failing file after file."""


def os_problem(err: OSError) -> str:
    """A short, plain description of ``err`` ("the disk is full"), for messages."""
    return OS_PROBLEMS.get(err.errno or 0, err.strerror or str(err))


def output_error(path: str | os.PathLike[str], err: OSError) -> OutputError:
    """An :class:`OutputError` naming ``path``; its ``errno`` is the OS error's, so callers can
    tell a full disk or a refused folder (every later write fails too) from a one-off."""
    advice = _WRITE_ADVICE.get(err.errno or 0, "check the output path")
    error = OutputError(f"cannot write '{path}': {os_problem(err)}; {advice}")
    error.errno = err.errno
    return error


def temporary_sibling(destination: str | os.PathLike[str], *, keep_extension: bool = False) -> Path:
    """A fresh hidden name beside ``destination``: ``.NAME.<random>.part``, or with
    ``keep_extension`` ``.STEM.<random>.part.EXT`` (for writers that read the format from the
    extension, such as PyAV). Hidden, so folder scans skip it; nothing is created."""
    path = Path(destination)
    token = secrets.token_hex(4)
    if keep_extension:
        return path.with_name(f".{path.stem}.{token}.part{path.suffix}")
    return path.with_name(f".{path.name}.{token}.part")


def replace_durably(temporary: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    """Flush ``temporary`` to disk (``fsync``) and rename it over ``destination``.

    Raises:
        OSError: flushing or renaming failed (``temporary`` is left for the caller to remove).
    """
    descriptor = os.open(temporary, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, destination)


def remove_temporary(temporary: str | os.PathLike[str]) -> None:
    """Remove a temporary file if it is there; a failure is logged, never raised."""
    try:
        Path(temporary).unlink(missing_ok=True)
    except OSError as err:
        logger.warning("could not remove the temporary file '%s': %s", temporary, err)


def remove_stale_temporaries(destinations: Sequence[str | os.PathLike[str]], *,
                             older_than_s: float | None = None) -> int:
    """Remove what writers killed midway left beside ``destinations``: the files named as
    :func:`temporary_sibling` names them (``.NAME.<8 hex>.part``, or ``.STEM.<8 hex>.part.EXT``).

    For a writer that could not clean up itself (a worker process stopped by its pool); call it
    only once no writer of these destinations runs any more, or with ``older_than_s``: then only
    files not modified for that many seconds go (another process may be writing a fresh one).
    Nothing else is touched: a user's own files never match the pattern, and the destinations
    themselves are never removed. A failure is logged, never raised.

    Returns:
        How many files were removed.
    """
    by_folder: dict[Path, set[str]] = {}
    for destination in destinations:
        path = Path(destination)
        by_folder.setdefault(path.parent, set()).add(path.name)
    removed = 0
    for folder, names in by_folder.items():
        try:
            entries = [entry for entry in os.scandir(folder) if entry.name.startswith(".")]
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY_NAME.fullmatch(entry.name)
            if match is None:
                continue
            if match["stem"] + (match["extension"] or "") in names:
                try:
                    if entry.is_file(follow_symlinks=False) and (
                        older_than_s is None or time.time() - entry.stat(follow_symlinks=False).st_mtime > older_than_s
                    ):
                        os.unlink(entry.path)
                        removed += 1
                except OSError as err:
                    logger.warning("could not remove the temporary file '%s': %s", entry.path, err)
    return removed


#: the names :func:`temporary_sibling` gives: ``.NAME.<token>.part`` or ``.STEM.<token>.part.EXT``
_TEMPORARY_NAME: Final = re.compile(r"\.(?P<stem>.+)\.[0-9a-f]{8}\.part(?P<extension>\.[^.]+)?")


@contextlib.contextmanager
def atomic_path(
    destination: str | os.PathLike[str], *, keep_extension: bool = False, mode: int | None = None
) -> Iterator[Path]:
    """A temporary path to write ``destination`` through, for writers that want a file name.

    The block writes the file at the yielded path (``safetensors.save_file``, ``torch.save``,
    an ONNX export, PyAV); when the block ends normally the file is given ``mode`` if one is
    passed (writers that use ``mkstemp`` leave it private), flushed to disk and renamed over
    ``destination``. If the block raises, the temporary file is removed and ``destination``
    is untouched. Parent folders are created.

    Raises:
        OutputError: the folder cannot be created, the block wrote no file, or flushing or
            renaming failed. What the block raises passes through unchanged.
    """
    path = Path(destination)
    temporary = temporary_sibling(path, keep_extension=keep_extension)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(path, err) from err
    try:
        yield temporary
    except BaseException:
        remove_temporary(temporary)
        raise
    try:
        if mode is not None:
            os.chmod(temporary, mode)
        replace_durably(temporary, path)
    except OSError as err:
        remove_temporary(temporary)
        raise output_error(path, err) from err


@contextlib.contextmanager
def scratch_sibling(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary name beside ``destination`` for an intermediate file (an export before its
    quantization, say), removed when the block ends, whatever happens."""
    temporary = temporary_sibling(destination)
    try:
        yield temporary
    finally:
        remove_temporary(temporary)


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write ``data`` (bytes, or pieces written in order) to a temporary file beside ``path``,
    fsync it and rename it to ``path``.

    The file appears complete or not at all; an existing ``path`` is replaced (callers decide
    about overwriting). Raises :class:`OutputError` naming the file and what to do.
    """
    with atomic_path(path) as temporary:  # flushed to disk and renamed when the block ends
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            try:
                for piece in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
                    _write_all(descriptor, piece)
            finally:
                os.close(descriptor)
        except OSError as err:
            raise output_error(path, err) from err


def _write_all(descriptor: int, data: bytes | memoryview) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(descriptor, view) :]
