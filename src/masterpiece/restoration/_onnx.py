"""What the bundled restoration networks (the detector and the filler) share: their folder, and
opening an ONNX file with ONNX Runtime with errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import WeightsError
from .features import BLOCK

__all__ = ["REEXPORT_ADVICE", "check_model_name", "detector_dir", "open_session", "release_after_run",
           "stated_context_rows"]

REEXPORT_ADVICE = ("reinstall masterpiece, or export the file again from its safetensors "
                   "(python -m masterpiece.restoration.training export for the detector, "
                   "python -m masterpiece.restoration.filler_training export for the filler)")


def detector_dir() -> Path:
    """The package folder of the bundled restoration networks' files."""
    return Path(__file__).resolve().parent / "bundled"


def open_session(path: Path, threads: int | None, what: str) -> Any:
    """An ONNX Runtime CPU session on ``path`` (``threads`` intra-op threads; None: every core).

    Without ONNX Runtime's memory arena: each run's buffers go back to the process's allocator,
    so the detector's and the filler's bands share one heap with NumPy's and OpenCV's instead of
    each session keeping its own largest band (a 30-megapixel scan peaked at 1,736 MB with the
    arenas, 946 MB without; MODEL_CARD.md).

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


def release_after_run() -> Any:
    """ONNX Runtime run options that hand the session's free memory back after the run.

    A session keeps its largest band's buffers (its memory arena) for the next band; the last
    band of an image runs with these options, so the detector's buffers are gone before the
    filler's are taken (a 30-megapixel scan peaked at 1,736 MB when both kept theirs).
    """
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def check_model_name(session: Any, path: Path, expected: str, what: str) -> None:
    """Refuse a file whose ``masterpiece.model`` metadata names another network.

    Raises:
        WeightsError: the file states another model (or none).
    """
    stated = session.get_modelmeta().custom_metadata_map.get("masterpiece.model")
    if stated != expected:
        raise WeightsError(f"{path} is not {what} (its masterpiece.model is {stated!r}, not {expected!r}); "
                           f"{REEXPORT_ADVICE}")


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
