"""Where the code under evaluation comes from: the git commit of the package's checkout."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

_GIT_TIMEOUT_S = 10.0


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.debug("git %s failed in %s: %s", " ".join(args), cwd, error)
        return None
    return completed.stdout.strip()


def git_commit(path: str | Path | None = None) -> tuple[str | None, bool | None]:
    """The commit checked out at ``path`` (default: this package's folder) and whether it is dirty.

    Returns:
        ``(sha, dirty)``; ``(None, None)`` outside a git checkout, without git, or before
        the first commit. Never raises.
    """
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return commit, None if status is None else bool(status)
