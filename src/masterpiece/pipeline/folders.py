"""Folders of images: finding the inputs below a folder and mirroring them into an output folder.

:func:`iter_image_files` walks a folder tree the way old drives need (link loops, unreadable
subfolders, broken links reported rather than dropped); :func:`output_path_for` says where the
output of each input goes, never onto the input itself.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from masterpiece.atomic import os_problem
from masterpiece.errors import InvalidInputError, OutputExistsError
from masterpiece.pipeline.formats import (
    SUPPORTED_EXTENSIONS,
    require_output_format,
    writable_extension,
)

__all__ = ["iter_image_files", "output_path_for"]

logger = logging.getLogger(__name__)


def output_path_for(
    input_path: str | os.PathLike[str],
    input_root: str | os.PathLike[str],
    output_root: str | os.PathLike[str],
    suffix: str | None = None,
    extension: str | None = None,
) -> Path:
    """Where the output for ``input_path`` goes when mirroring ``input_root`` into ``output_root``.

    ``in/a/b.jpg`` with ``suffix="_color"`` becomes ``out/a/b_color.jpg``. ``extension``
    (with or without the dot) replaces the input's; an input extension that cannot be written
    (``.gif``, or anything unknown) becomes ``.png``.

    Raises:
        InvalidInputError: ``input_path`` is not inside ``input_root``, or ``extension`` cannot
            be written.
        OutputExistsError: the output would be the input file itself.
    """
    try:
        relative = Path(os.path.abspath(input_path)).relative_to(os.path.abspath(input_root))
    except ValueError:
        raise InvalidInputError(
            f"'{input_path}' is not inside the input folder '{input_root}'"
        ) from None
    if extension is not None:
        new_extension = extension if extension.startswith(".") else f".{extension}"
        require_output_format(new_extension, f"extension {extension!r}")
    else:
        new_extension = writable_extension(relative.suffix)
    target = Path(output_root) / relative.parent / f"{relative.stem}{suffix or ''}{new_extension}"
    # realpath, not Path.resolve: it does not raise on a symbolic-link loop
    if os.path.realpath(target) == os.path.realpath(input_path):
        raise OutputExistsError(
            f"writing '{target}' would overwrite the input; choose another output folder or "
            "a suffix"
        )
    return target


def _log_skipped(path: Path, reason: str) -> None:
    logger.warning("skipping '%s': %s", path, reason)


def iter_image_files(
    folder: str | os.PathLike[str], on_error: Callable[[Path, str], None] = _log_skipped
) -> Iterator[Path]:
    """Image files below ``folder``, recursively, in sorted order.

    Picks entries whose extension (any case) is in :data:`SUPPORTED_EXTENSIONS`; skips hidden
    files and folders (names starting with ".", which covers our ``.part`` temporaries) and
    files of other types. Decisions on the odd entries of old drives:

    - A folder is searched whatever its name, also one named like an image (``scans.jpg/``).
    - Symbolic links to folders are followed, each folder visited once, so link loops end.
    - A link to a file is yielded under the link's name. A broken link with an image
      extension is yielded too, so that reading it reports the problem rather than the file
      silently missing from a batch.
    - A subfolder or entry that cannot be examined (permissions, I/O errors, a link loop) is
      skipped and passed to ``on_error(path, reason)``; by default it is logged as a warning.

    Raises:
        InvalidInputError: ``folder`` is not a readable folder (raised here, not on iteration).
    """
    root = Path(folder)
    try:
        info = root.stat()
    except OSError as err:
        raise InvalidInputError(f"cannot read the folder '{root}': {os_problem(err)}") from err
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"'{root}' is not a folder")
    return _walk(root, {(info.st_dev, info.st_ino)}, on_error)


def _walk(
    folder: Path, seen: set[tuple[int, int]], on_error: Callable[[Path, str], None]
) -> Iterator[Path]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as err:
        on_error(folder, f"the folder cannot be read: {os_problem(err)}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            folder_info = entry.stat() if entry.is_dir() else None
        except OSError as err:
            on_error(Path(entry.path), os_problem(err))
            continue
        if folder_info is not None:
            key = (folder_info.st_dev, folder_info.st_ino)
            if key not in seen:
                seen.add(key)
                yield from _walk(Path(entry.path), seen, on_error)
        elif os.path.splitext(entry.name)[1].lower() in SUPPORTED_EXTENSIONS and (
            entry.is_file() or entry.is_symlink()
        ):
            yield Path(entry.path)
