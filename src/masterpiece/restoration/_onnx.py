"""What the bundled restoration networks (the detector and the filler) share: their folder, and
opening an ONNX file with ONNX Runtime with errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import WeightsError
from .features import BLOCK

__all__ = ["REEXPORT_ADVICE", "detector_dir", "open_session", "stated_context_rows"]

REEXPORT_ADVICE = ("reinstall masterpiece, or export the file again from its safetensors "
                   "(python -m masterpiece.restoration.training export, or .filler_training export, --out FOLDER)")


def detector_dir() -> Path:
    """The package folder of the bundled restoration networks' files."""
    return Path(__file__).resolve().parent / "bundled"


def open_session(path: Path, threads: int | None, what: str) -> Any:
    """An ONNX Runtime CPU session on ``path`` (``threads`` intra-op threads; None: every core).

    Raises:
        WeightsError: ONNX Runtime cannot load the file.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own exception types
        raise WeightsError(f"ONNX Runtime cannot load {what} {path}: {error}") from error


def stated_context_rows(session: Any, path: Path, what: str, default: int) -> int:
    """The rows of context above and below a band the file states (``masterpiece.context_rows``),
    else ``default``.

    Raises:
        WeightsError: the value is not a non-negative multiple of the 4-pixel block.
    """
    value = session.get_modelmeta().custom_metadata_map.get("masterpiece.context_rows", default)
    try:
        rows = int(value)
    except ValueError as error:
        raise WeightsError(f"{what} {path} states no valid context rows ({error}); {REEXPORT_ADVICE}") from error
    if rows < 0 or rows % BLOCK:
        raise WeightsError(f"{what} {path} states {rows} context rows, not a non-negative multiple of "
                           f"{BLOCK}; {REEXPORT_ADVICE}")
    return rows
