"""Weights: where they live, downloading and verifying them, loading them safely.

* Downloaded weights live in :func:`cache_dir` (``$MASTERPIECE_CACHE``, else the user cache
  directory); bundled weights ship in ``masterpiece/models/bundled``.
* Every registered file is checked against its full published sha256: after each download
  and at every load. A download goes to a unique temporary file in the cache directory, is
  verified, then renamed into place, so concurrent downloads and interrupted ones never
  leave a partial or corrupt file under the final name.
* ``MASTERPIECE_OFFLINE=1`` forbids downloads (the variables: :mod:`masterpiece.settings`).
* Checkpoints are loaded with safetensors or ``torch.load(weights_only=True)``; a pickle that
  would execute code is refused. HTTP, pickle and torch errors are translated here into the
  :class:`~masterpiece.errors.WeightsError` family.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import pickle
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .._optional import require_torch
from ..atomic import REFUSED_WRITE_ERRNOS, atomic_path, output_error, remove_stale_temporaries
from ..errors import (
    ChecksumMismatchError,
    DownloadError,
    IncompatibleWeightsError,
    OutputError,
    OutputExistsError,
    UnsafeCheckpointError,
    WeightsError,
    WeightsNotFoundError,
)
from ..settings import CACHE_ENV, OFFLINE_ENV, cache_directory
from ..settings import offline as _offline_from_env
from .catalogue import ModelInfo, WeightsSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

logger = logging.getLogger(__name__)

#: seconds without an answer before a download gives up
DOWNLOAD_TIMEOUT_S = 60.0
#: a partial download (".NAME.<random>.part") this many seconds old is what a killed pull left
STALE_DOWNLOAD_S = 24 * 3600.0
_CHUNK_BYTES = 1 << 20
#: state-dict keys a file may lack (BatchNorm counters, unused at inference)
_OPTIONAL_KEY_SUFFIX = "num_batches_tracked"
#: keys under which training checkpoints keep the model weights
_CHECKPOINT_WEIGHT_KEYS = ("model", "state_dict")
_MAX_LISTED_KEYS = 8


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Directory of downloaded weights: ``$MASTERPIECE_CACHE`` (:func:`masterpiece.settings.cache_directory`),
    else the user cache directory."""
    configured = cache_directory()
    if configured is not None:
        return configured
    import platformdirs  # imported here: only needed when no cache directory is configured

    return Path(platformdirs.user_cache_dir("masterpiece"))


def weights_path_for(spec: WeightsSpec) -> Path:
    """Where the file of ``spec`` is (or will be once downloaded)."""
    if spec.bundled:
        return Path(str(resources.files(__package__).joinpath("bundled", spec.filename)))
    return cache_dir() / spec.filename


def weights_available(info: ModelInfo) -> bool:
    """Whether the weights file of ``info`` is present (not verified; loading verifies it)."""
    return info.weights is not None and weights_path_for(info.weights).is_file()


def offline() -> bool:
    """Whether ``$MASTERPIECE_OFFLINE`` forbids downloads (:func:`masterpiece.settings.offline`).

    Raises:
        ConfigError: the variable is neither a yes nor a no.
    """
    return _offline_from_env()


# --------------------------------------------------------------------------- verification


def normalized_sha256(expected: str) -> str:
    """A published sha256 as plain lower-case hex (an optional ``sha256:`` prefix removed)."""
    return expected.lower().removeprefix("sha256:").strip()


def sha256_of(path: str | Path) -> str:
    """Full hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(subject: str, actual: str, expected: str, what_to_do: str) -> ChecksumMismatchError:
    return ChecksumMismatchError(
        f"{subject} has sha256 {actual} but the published sha256 is {expected} "
        f"(truncated or tampered); {what_to_do}"
    )


def verify_sha256(
    path: str | Path, expected: str, what_to_do: str = "delete it and download it again"
) -> None:
    """Raise :class:`ChecksumMismatchError` unless the file's sha256 is ``expected``.

    Args:
        path: the file to check.
        expected: full hex sha256 (an optional ``sha256:`` prefix is accepted).
        what_to_do: advice appended to the error message.
    """
    expected = normalized_sha256(expected)
    actual = sha256_of(path)
    if actual != expected:
        raise _mismatch(str(path), actual, expected, what_to_do)


# --------------------------------------------------------------------------- downloading


def _pull_hint(name: str | None) -> str:
    return f"`masterpiece models pull {name}`" if name else "`masterpiece models pull NAME`"


def _is_network_error(error: BaseException) -> bool:
    """A failure to reach the server at all (as opposed to an HTTP answer such as 404)."""
    if isinstance(error, urllib.error.HTTPError):
        return False
    return isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError))


def _copy_with_progress(
    response: BinaryIO, file: BinaryIO, total: int | None, label: str, progress: bool
) -> str:
    """Stream ``response`` into ``file``; returns the sha256 of what was written."""
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    with tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, disable=not progress
    ) as bar:
        for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
            file.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _fetch(url: str, destination: Path, expected: str, progress: bool, name: str | None) -> None:
    """Download ``url`` to a temporary file, verify its sha256, rename it to ``destination``."""
    with atomic_path(destination) as temporary:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            open(temporary, "wb") as file,
        ):
            length = (response.headers.get("Content-Length") or "").strip()
            actual = _copy_with_progress(  # a length that is no number only loses the bar's total
                response, file, int(length) if length.isdigit() else None, destination.name, progress
            )
        if actual != expected:
            raise _mismatch(
                f"the download of {url}",
                actual,
                expected,
                f"nothing was kept; retry {_pull_hint(name)}, or download the file yourself, "
                "check its sha256 and pass --weights FILE",
            )


def _cache_write_error(directory: Path, error: OSError) -> DownloadError:
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    advice = "free some space there, or set" if full else "set"
    return DownloadError(
        f"cannot write to the weights cache directory {directory} ({error.strerror or error}); "
        f"nothing was kept; {advice} {CACHE_ENV} to a writable directory"
    )


def _is_cache_write_error(error: BaseException) -> bool:
    """A failure to write locally (as opposed to reaching or reading the server)."""
    return (
        isinstance(error, OSError)
        and not isinstance(error, urllib.error.URLError)
        and error.errno in REFUSED_WRITE_ERRNOS
    )


def _ensure_cache_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _cache_write_error(directory, error) from error


def download_weights(spec: WeightsSpec, progress: bool = True, *, name: str | None = None) -> Path:
    """Make sure the file of ``spec`` is present and verified, downloading it if needed.

    A verified file already in place is kept; a corrupt one is replaced. Bundled weights are
    only verified.

    Args:
        spec: the weights to fetch.
        progress: show a progress bar (on stderr).
        name: the model's registry name, used in error messages.

    Returns:
        The path of the verified file.

    Raises:
        WeightsNotFoundError: no URL is known, or ``$MASTERPIECE_OFFLINE`` forbids downloads.
        DownloadError: the server could not be reached or answered with an error.
        ChecksumMismatchError: the downloaded file does not have the published sha256.
    """
    destination = weights_path_for(spec)
    expected = normalized_sha256(spec.sha256)
    if spec.bundled:
        _verify_registered(destination, spec, name)
        return destination
    present = destination.is_file()
    actual = sha256_of(destination) if present else None
    if actual == expected:
        logger.info("%s is already downloaded and verified", destination)
        return destination
    if spec.url is None:
        raise WeightsNotFoundError(
            f"no download address is known for {spec.filename}; pass --weights FILE"
        )
    if offline():
        if present:  # not "missing": the file is there, and damaged or another one
            raise _mismatch(str(destination), actual, expected, _offline_replacement(name))
        raise WeightsNotFoundError(
            _missing_message(spec, name, f"downloads are disabled ({OFFLINE_ENV} is set)")
        )
    if present:  # replaced atomically once the new download is verified
        logger.warning("%s does not have the published sha256; replacing it", destination)
    _ensure_cache_dir(destination.parent)
    # what a killed download left (about 130 MB each); a day old, so no running pull's own file
    remove_stale_temporaries([destination], older_than_s=STALE_DOWNLOAD_S)
    logger.info("downloading %s to %s", spec.url, destination)
    try:
        _fetch(spec.url, destination, expected, progress, name)
    except OutputError as error:  # the verified download could not be renamed into place
        cause = error.__cause__
        raise _cache_write_error(destination.parent, cause if isinstance(cause, OSError) else OSError(str(error))) from error
    except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
        if _is_cache_write_error(error):
            raise _cache_write_error(destination.parent, error) from error
        raise DownloadError(
            f"could not download {spec.url} ({_reason(error)}); check the connection and retry "
            f"{_pull_hint(name)}, or download the file yourself, check that its sha256 is {expected} "
            "and pass --weights FILE"
        ) from error
    return destination


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


# --------------------------------------------------------------------------- resolving


def _missing_message(spec: WeightsSpec, name: str | None, why: str) -> str:
    model = f"model {name!r}" if name else spec.filename
    source = f" (it downloads {spec.url})" if spec.url else ""
    return (
        f"weights for {model} are not available: {spec.filename} (sha256 {normalized_sha256(spec.sha256)}) "
        f"is not in the cache directory {cache_dir()} and {why}. On a machine with internet run "
        f"{_pull_hint(name)}{source}, then copy its cache directory here "
        f"(or point {CACHE_ENV} at it); or pass --weights FILE"
    )


def _offline_replacement(name: str | None) -> str:
    """What to do with a damaged cached file when downloads are disabled."""
    return (f"delete it, then copy a good one here from a machine with internet (run {_pull_hint(name)} "
            f"there), or unset {OFFLINE_ENV} and run {_pull_hint(name)}")


def _verify_registered(path: Path, spec: WeightsSpec, name: str | None) -> None:
    if spec.bundled and not path.is_file():
        raise WeightsNotFoundError(f"the bundled weights {path} are missing; reinstall masterpiece")
    if spec.bundled:
        advice = "reinstall masterpiece"
    else:
        advice = _offline_replacement(name) if offline() else f"run {_pull_hint(name)} to replace it"
    verify_sha256(path, spec.sha256, what_to_do=advice)


def published_weights(info: ModelInfo) -> WeightsSpec:
    """The registered weights of ``info``; raises :class:`WeightsNotFoundError` if it has none."""
    if info.weights is None:
        raise WeightsNotFoundError(
            f"model {info.name!r} has no published weights; pass --weights FILE (weights= in Python) "
            "or build it with pretrained=False"
        )
    return info.weights


def ensure_weights(info: ModelInfo, download: bool = True, progress: bool = True) -> Path:
    """The verified weights file of a registered model, downloading it if allowed.

    Raises:
        WeightsNotFoundError: the model has no published weights, or they are not cached and
            cannot be downloaded (``download=False``, ``$MASTERPIECE_OFFLINE``, no network).
        ChecksumMismatchError: the file present or downloaded is not the published one.
    """
    spec = published_weights(info)
    path = weights_path_for(spec)
    if spec.bundled or path.is_file():
        _verify_registered(path, spec, info.name)
        return path
    if not download:
        raise WeightsNotFoundError(_missing_message(spec, info.name, "downloading was not allowed"))
    try:
        return download_weights(spec, progress, name=info.name)
    except DownloadError as error:
        if not _is_network_error(error.__cause__):
            raise
        why = f"the download failed ({_reason(error.__cause__)})"
        raise WeightsNotFoundError(_missing_message(spec, info.name, why)) from error


# --------------------------------------------------------------------------- loading


def _load_pickle_checkpoint(path: Path) -> object:
    torch = require_torch(f"loading the PyTorch checkpoint {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"[^\n]*(?:GLOBAL|[Uu]nsupported)[^\n]*", str(error))
        reason = f" ({found.group(0).strip()})" if found else ""
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it would execute code when unpickled{reason}; only if you "
            "trust its source, convert it to a plain state dict or safetensors and load that"
        ) from error
    except Exception as error:  # torch raises RuntimeError, KeyError, EOFError... for corrupt files
        summary = str(error).splitlines()[0].split(". ")[0] if str(error) else ""
        raise WeightsError(
            f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {summary}); "
            "it may be truncated or in another format"
        ) from error


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    require_torch(f"loading {path} into a PyTorch model")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{path} is not a readable safetensors file ({error})") from error


def _as_state_dict(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """Accept a plain state dict or a training checkpoint holding one under ``model``."""
    if isinstance(loaded, Mapping):
        for key in _CHECKPOINT_WEIGHT_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    import torch  # a state dict was loaded: torch is there

    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise IncompatibleWeightsError(
            f"{path} does not hold a state dict (a mapping of parameter names to tensors, "
            "possibly under a 'model' key)"
        )
    return dict(loaded)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weights file safely into a CPU state dict.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``. A training checkpoint that keeps the weights under a
    ``"model"`` key is accepted.

    Raises:
        WeightsNotFoundError: the file does not exist.
        UnsafeCheckpointError: the pickle would execute code when loaded.
        WeightsError: the file is unreadable or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"weights file {path} does not exist; check the path given to --weights"
        )
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    return _as_state_dict(_load_pickle_checkpoint(path), path)


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED_KEYS])
    return shown + (
        f" and {len(keys) - _MAX_LISTED_KEYS} more" if len(keys) > _MAX_LISTED_KEYS else ""
    )


def check_compatible(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`IncompatibleWeightsError` unless the keys and shapes match ``model``.

    Keys ending in ``num_batches_tracked`` may be missing from ``state_dict``.
    """
    expected = model.state_dict()
    missing = [
        key for key in expected if key not in state_dict and not key.endswith(_OPTIONAL_KEY_SUFFIX)
    ]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched = [
        f"{key} {tuple(state_dict[key].shape)} instead of {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state_dict and state_dict[key].shape != value.shape
    ]
    problems = [
        f"{label}: {_listed(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", mismatched),
        )
        if keys
    ]
    if problems:
        raise IncompatibleWeightsError(
            f"the weights in {source} do not fit {type(model).__name__} ({'; '.join(problems)}); "
            "check that the file belongs to this model"
        )


def load_weights_into(
    model: nn.Module,
    info: ModelInfo,
    weights_path: str | Path | None = None,
    download: bool = True,
) -> None:
    """Load weights into ``model``: a user file, or the registered (verified) weights of ``info``.

    A user file (``weights_path``) is not hash-checked but its keys and shapes must match.
    Otherwise the registered file is verified at every load and downloaded when missing and
    allowed (see :func:`ensure_weights`).
    """
    path = Path(weights_path) if weights_path is not None else ensure_weights(info, download)
    state_dict = load_state_dict(path)
    check_compatible(model, state_dict, str(path))
    model.load_state_dict(state_dict, strict=False)
    logger.info("loaded weights for %s from %s", info.name, path)


# --------------------------------------------------------------------------- saving


def refuse_overwrite(path: str | Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is false."""
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; choose another output or pass --overwrite")


def save_safetensors(
    state_dict: Mapping[str, torch.Tensor], path: str | Path, overwrite: bool = False
) -> Path:
    """Write a state dict as safetensors atomically (temporary file, then rename).

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        OutputError: the file cannot be written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    refuse_overwrite(path, overwrite)
    tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    with atomic_path(path) as temporary:
        try:
            save_file(tensors, temporary)
        except OSError as error:
            raise output_error(path, error) from error
    return path
