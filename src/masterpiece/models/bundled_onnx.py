"""The ONNX files shipped next to the bundled models' safetensors, verified before use.

``models/bundled`` holds, besides a bundled model's safetensors, its network exported to
ONNX in float32 and int8 (``<safetensors stem>-fp32.onnx``, ``-int8.onnx``) and one manifest,
:data:`MANIFEST_NAME`::

    {"format": 1, "built_by": "masterpiece models bundle",
     "models": {"compact": {
        "fp32": {"filename": "masterpiece_compact_v1-fp32.onnx", "sha256": "...", "size": 20852302,
                 "source_filename": "masterpiece_compact_v1.safetensors", "source_sha256": "..."},
        "int8": {...},
        "built_with": {"torch": "...", "onnx": "...", "onnxruntime": "..."}}}}

``source_sha256`` is the sha256 of the safetensors the file was exported from (also in the
file's ``masterpiece.source_sha256`` metadata). ``masterpiece models bundle`` writes the files
and the manifest (:func:`masterpiece.models.export.export_bundled`); :func:`bundled_onnx_path`
finds and verifies them. This module imports neither torch nor onnx: inference without
PyTorch calls it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ..atomic import write_bytes_atomically
from ..errors import ChecksumMismatchError, ConfigError, WeightsError, WeightsNotFoundError

logger = logging.getLogger(__name__)

#: the manifest's file name, next to the ONNX files
MANIFEST_NAME = "onnx_manifest.json"
#: the precisions shipped for a bundled model
BUNDLED_PRECISIONS = ("fp32", "int8")
#: the command that rebuilds the files (named in error messages)
BUNDLE_COMMAND = "masterpiece models bundle"
_FORMAT = 1
_CHUNK_BYTES = 1 << 20
#: (path, size, mtime_ns) -> sha256 of files already hashed in this process
_HASHED: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class BundledOnnxFile:
    """One shipped ONNX file as the manifest records it.

    Attributes:
        filename: the file's name, in the manifest's folder.
        sha256: full hex sha256 of the file.
        size: its size in bytes.
        source_filename: the safetensors it was exported from.
        source_sha256: that safetensors file's sha256.
    """

    filename: str
    sha256: str
    size: int
    source_filename: str
    source_sha256: str


def bundled_dir() -> Path:
    """The package folder of the bundled weights, ONNX files and manifest."""
    return Path(__file__).resolve().parent / "bundled"


def onnx_filename(source_filename: str, precision: str) -> str:
    """``masterpiece_compact_v1.safetensors``, ``int8`` -> ``masterpiece_compact_v1-int8.onnx``."""
    return f"{Path(source_filename).stem}-{precision}.onnx"


def file_sha256(path: Path) -> str:
    """Full hex sha256 of ``path``, remembered per process while its size and mtime stay the same."""
    status = path.stat()
    key = (str(path), status.st_size, status.st_mtime_ns)
    if key not in _HASHED:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
        _HASHED[key] = digest.hexdigest()
    return _HASHED[key]


def _rebuild_advice(directory: Path) -> str:
    return (
        f"reinstall masterpiece; in a source checkout, rebuild them with `{BUNDLE_COMMAND}`"
        + ("" if directory == bundled_dir() else f" --out {directory}")
    )


def read_manifest(directory: Path | None = None) -> dict[str, dict[str, BundledOnnxFile]]:
    """The manifest of ``directory`` (default :func:`bundled_dir`): model -> precision -> file.

    An absent manifest is an empty one (no model ships ONNX files).

    Raises:
        WeightsError: the manifest is unreadable or malformed.
    """
    directory = bundled_dir() if directory is None else Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content.get("format") != _FORMAT:
            raise ValueError(f"format {content.get('format')!r} instead of {_FORMAT}")
        return {
            model: {precision: BundledOnnxFile(**entry) for precision, entry in files.items()
                    if precision in BUNDLED_PRECISIONS}
            for model, files in content["models"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise WeightsError(f"the ONNX manifest {path} is unreadable ({error}); {_rebuild_advice(directory)}") from error


def bundled_onnx_path(
    model_name: str, precision: str, *, source_sha256: str | None = None, directory: Path | None = None,
    advice: str | None = None,
) -> Path | None:
    """The shipped ONNX file of a bundled model, verified against the manifest; None if it has none.

    The file's full sha256 is checked at the first call in a process (about 0.1 s for 20 MB)
    and remembered while its size and modification time stay the same.

    Args:
        model_name: the registered name (``"compact"``).
        precision: ``"fp32"`` or ``"int8"``.
        source_sha256: the registered sha256 of the model's safetensors, when the caller knows
            it: a file exported from other weights (stale after a retraining) is refused.
        directory: where the files and manifest are (default: the package's :func:`bundled_dir`).
        advice: what the errors tell the user to do (default: reinstall, or rebuild with
            ``masterpiece models bundle``, which rebuilds the colorizers' files).

    Raises:
        ConfigError: ``precision`` is neither ``fp32`` nor ``int8``.
        WeightsNotFoundError: the manifest lists the file but it is missing.
        ChecksumMismatchError: the file is not the one the manifest describes (truncated,
            tampered), or it was exported from other weights than ``source_sha256``.
        WeightsError: the manifest is unreadable.
    """
    if precision not in BUNDLED_PRECISIONS:
        raise ConfigError(f"bundled ONNX files are {' or '.join(BUNDLED_PRECISIONS)}, not {precision!r}")
    directory = bundled_dir() if directory is None else Path(directory)
    entry = read_manifest(directory).get(model_name, {}).get(precision)
    if entry is None:
        return None
    path = directory / entry.filename
    advice = _rebuild_advice(directory) if advice is None else advice
    if not path.is_file():
        raise WeightsNotFoundError(f"the bundled ONNX file {path} is missing; {advice}")
    if source_sha256 is not None and entry.source_sha256 != source_sha256.lower():
        raise ChecksumMismatchError(
            f"{path} was exported from weights with sha256 {entry.source_sha256}, not from the "
            f"registered {model_name!r} weights ({source_sha256}); it is stale: {advice}"
        )
    size = path.stat().st_size
    found = f"{size} bytes" if size != entry.size else f"sha256 {file_sha256(path)}"
    expected = f"{entry.size} bytes" if size != entry.size else f"sha256 {entry.sha256}"
    if found != expected:
        raise ChecksumMismatchError(
            f"{path} has {found} but its manifest says {expected} (truncated or tampered); {advice}"
        )
    return path


def write_manifest_entry(
    directory: Path,
    model_name: str,
    files: Mapping[str, BundledOnnxFile],
    built_with: Mapping[str, str],
) -> list[Path]:
    """Record ``model_name``'s files in ``directory``'s manifest (atomically); drop the stale ones.

    The other models' entries are kept. Files the previous entry listed that the new one does
    not (those of replaced weights) are deleted.

    Returns:
        The stale files deleted.

    Raises:
        WeightsError: the existing manifest is unreadable.
        OutputError: the manifest cannot be written.
    """
    previous = read_manifest(directory).get(model_name, {})
    path = directory / MANIFEST_NAME
    content = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    models = dict(content.get("models", {}))
    models[model_name] = {precision: asdict(entry) for precision, entry in files.items()}
    models[model_name]["built_with"] = dict(built_with)
    content = {"format": _FORMAT, "built_by": BUNDLE_COMMAND, "models": dict(sorted(models.items()))}
    write_bytes_atomically(path, (json.dumps(content, indent=2) + "\n").encode("utf-8"))
    kept = {entry.filename for entry in files.values()}
    stale = [directory / entry.filename for entry in previous.values() if entry.filename not in kept]
    for file_path in stale:
        file_path.unlink(missing_ok=True)
        logger.info("removed the stale %s", file_path)
    return stale
