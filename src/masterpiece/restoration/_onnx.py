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


def open_session(path: Path, threads: int | None, what: str, *, blocked_layout: bool = True) -> Any:
    """An ONNX Runtime CPU session on ``path`` (``threads`` intra-op threads; None: every core).

    The session keeps ONNX Runtime's memory arena (allocating each band afresh was slower:
    the detector's 12-megapixel pass took 0.93-0.97 s instead of 0.75-0.80 s); the last band of
    an image runs with :func:`release_after_run`, which hands the arena back, so the
    detector's and the filler's largest bands are not held at once.

    ``blocked_layout``: let ONNX Runtime rewrite the convolutions into its channel-blocked
    layout (NCHWc, blocks of 8 or 16 channels), its default. The damage detector turns it off:
    its full-resolution head has 5 -> 8 -> 1 channels, which the blocks pad to 16 and convert
    back and forth; without them a 4-megapixel band ran in 163 ms instead of 211 ms (Intel
    Xeon, 2 cores; the same results to 1e-6, the same masks). The 30-megapixel peak moved
    both ways: 1,199 -> 1,161 MB on the harness's scan, 1,010 -> 1,132 MB on another, where
    the plain convolutions' unfolded inputs stay in the arena (BENCHMARKS.md). The filler's
    convolutions are all at a quarter of the resolution and 16 channels wide: it is faster
    with the blocks (46 ms against 71 ms).

    Raises:
        WeightsError: ONNX Runtime cannot load the file.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if not blocked_layout:  # every optimization but the layout ones
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
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
