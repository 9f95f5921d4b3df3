"""``--precision auto``: the backend chosen by measuring the candidates once on this machine.

:func:`choose_backend` builds each candidate backend (``fp32`` and ``int8`` in ONNX Runtime,
``bf16`` in PyTorch where the caller offers it), runs it on :data:`PROBE_COUNT` generated ``L``
images at the Colorizer's size, measures its mean ab distance from the float32 reference on
them, times it, and picks the fastest whose distance is within :data:`ACCURACY_BOUND_AB`
(the float32 reference itself always qualifies). Candidates that cannot be built (an extra
missing, an export failing) are recorded and skipped.

The choice is cached as a small JSON file per model and weights in ``<weights cache>/backends``
(the folder downloaded weights live in; bundled weights may sit in a read-only package folder),
written atomically::

    {"format": 1, "key": {"model": ..., "weights_sha256": ..., "size": 256, "threads": 2,
     "cpu": "AMD EPYC", "cpu_flags": [...], "versions": {"onnxruntime": ..., ...}},
     "precision": "int8", "measured": {"int8": {"seconds": 0.011, "mean_ab": 0.8}, ...}}

The key (:func:`choice_key`) is the CPU model and its SIMD flags, the threads, the library
versions, the weights' sha256, the network size and the decoding: when any of them changes,
the candidates are timed again. An unreadable or malformed file is ignored and rewritten. A cache folder that
cannot be written costs a warning and a new measurement in the next process, nothing else.

Budget (measured on the 2-core AMD EPYC, busy): the bundled model's two ONNX files take
about 0.3-0.5 s once (sessions, 2 probe runs each, up to 3 timed rounds within
:data:`TIMING_BUDGET_S`); ECCV16 takes a few seconds once, next to its one-time ONNX exports.
This module imports neither torch nor onnx.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import write_bytes_atomically
from ..errors import MasterpieceError, OutputError
from .catalogue import DEFAULT_TEMPERATURE
from .onnx_backend import NetworkBackend

logger = logging.getLogger(__name__)

#: the most a faster backend may move the network's output: mean ab distance (Lab units) from
#: float32 over the probe images (issue 15's accuracy bound)
ACCURACY_BOUND_AB = 1.5
#: generated ``L`` images each candidate runs on (its warm-up and its accuracy check)
PROBE_COUNT = 2
#: seeds of the probe images: not the int8 calibration's (0..15), which would flatter int8
PROBE_SEEDS = (1000, 1001, 1002, 1003)
#: timed rounds (one run of every candidate per round, interleaved against load changes) stop
#: after this much timed work, after at least one round
TIMING_BUDGET_S = 0.15
MAX_TIMED_ROUNDS = 3
#: the CPU flags that decide which backend is fastest (recorded in the key)
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_int8", "amx_bf16")
#: libraries whose kernels decide the speed (recorded in the key)
LIBRARIES = ("onnxruntime", "torch", "numpy", "masterpiece")
_FORMAT = 1


def cpu_description() -> tuple[str, list[str]]:
    """This CPU's model name and which of :data:`CPU_FLAGS` it has (Linux ``/proc/cpuinfo``;
    elsewhere ``platform.processor()`` and no flags)."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                label, _, value = line.partition(":")
                if label.strip() == "model name" and not name:
                    name = value.strip()
                elif label.strip() == "flags" and not flags:
                    flags = set(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), [flag for flag in CPU_FLAGS if flag in flags]


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`LIBRARIES` (None when absent), read without importing them."""
    versions: dict[str, str | None] = {}
    for library in LIBRARIES:
        try:
            versions[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            versions[library] = None
    return versions


def choice_key(model_name: str, weights_sha256: str, size: int, threads: int, decoding: str = "") -> dict[str, object]:
    """What a cached choice is valid for: this CPU, these libraries, these weights, this size,
    and the model's decoding (:func:`~masterpiece.models.catalogue.decoding_tag`, part of the
    key only when it is not the plain annealed mean): the accuracy measured depends on it."""
    cpu, flags = cpu_description()
    key: dict[str, object] = {"model": model_name, "weights_sha256": weights_sha256.lower(), "size": int(size),
                              "threads": int(threads), "cpu": cpu, "cpu_flags": flags, "versions": library_versions()}
    if decoding:
        key["decoding"] = decoding
    return key


def choice_file(cache: Path, model_name: str, weights_sha256: str) -> Path:
    """``<cache>/backends/<model>-<first 16 hex of the weights' sha256>.json``."""
    return cache / "backends" / f"{model_name}-{weights_sha256.lower()[:16]}.json"


def generated_lightness(seed: int, size: int) -> np.ndarray:
    """A ``(1, 1, size, size)`` float32 ``L`` image in [0, 100] drawn from ``seed``: smooth
    gradients, discs and noise over the whole range (probe and int8 calibration images)."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * np.pi)
    image = 50 + 45 * np.sin(3 * (rows * np.cos(angle) + columns * np.sin(angle)) + rng.uniform(0, 6))
    for _ in range(int(rng.integers(2, 6))):
        centre, radius = rng.uniform(0, 1, 2), rng.uniform(0.05, 0.3)
        image[(rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < radius**2] = rng.uniform(0, 100)
    image += rng.normal(0, 3, image.shape).astype(np.float32)
    return np.clip(image, 0, 100).astype(np.float32)[None, None]


@dataclass
class Measurement:
    """One candidate on this machine.

    Attributes:
        seconds: its fastest timed run of ``network_ab`` at the probe size, or None.
        mean_ab: its mean ab distance (Lab units) from the float32 reference, or None.
        error: why it could not be built or run, or None.
    """

    seconds: float | None = None
    mean_ab: float | None = None
    error: str | None = None

    def eligible(self, bound: float) -> bool:
        return self.error is None and self.seconds is not None and self.mean_ab is not None and self.mean_ab <= bound


@dataclass
class Choice:
    """The outcome of :func:`choose_backend`.

    Attributes:
        precision: the chosen candidate.
        backend: its backend, ready to run.
        measured: what was measured, by candidate (empty when the choice came from the cache).
        cached: the choice was read from the cache file (nothing was timed).
    """

    precision: str
    backend: NetworkBackend
    measured: dict[str, Measurement] = field(default_factory=dict)
    cached: bool = False


def read_choice(path: Path, key: Mapping[str, object]) -> str | None:
    """The precision cached in ``path`` for ``key``, or None (absent, another key, unreadable)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content.get("format") == _FORMAT and content.get("key") == dict(key) and isinstance(content["precision"], str):
            return content["precision"]
        logger.info("%s was measured for another CPU, library or weights: timing the backends again", path)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        logger.warning("ignoring the unreadable backend choice %s (%s); it will be rewritten", path, error)
    return None


def write_choice(path: Path, key: Mapping[str, object], precision: str, measured: Mapping[str, Measurement]) -> None:
    """Record the choice atomically (temporary file, rename); a folder that cannot be written
    costs a warning (the next process measures again)."""
    content = {"format": _FORMAT, "key": dict(key), "precision": precision,
               "measured": {name: vars(result) for name, result in measured.items()}}
    try:
        write_bytes_atomically(path, json.dumps(content, indent=1).encode("utf-8"))
    except OutputError as error:
        logger.warning("cannot cache the backend choice (%s); it will be measured again next time", error)


def _distance(output: np.ndarray, reference: np.ndarray) -> float:
    """Mean Euclidean ab distance over pixels of two ``(B, 2, h, w)`` ab arrays."""
    return float(np.linalg.norm(np.asarray(output, np.float32) - reference, axis=1).mean())


def measure(
    candidates: Mapping[str, Callable[[], NetworkBackend]],
    reference: str,
    size: int,
    *,
    timer: Callable[[], float] = time.perf_counter,
    bound: float = ACCURACY_BOUND_AB,
    reference_backend: Callable[[], NetworkBackend] | None = None,
) -> tuple[dict[str, Measurement], dict[str, NetworkBackend]]:
    """Build, check and time every candidate (see the module docstring).

    Args:
        candidates: precision -> a function building its backend.
        reference: the candidate whose outputs are the accuracy reference (``fp32``), unless
            ``reference_backend`` builds another one (PyTorch's eager float32).
        size: side of the probe images (the Colorizer's network size).
        timer: the clock (injected by tests).
        bound: the accuracy bound (mean ab).

    Returns:
        What was measured and the backends built, by precision.

    Raises:
        MasterpieceError: the reference itself cannot be built.
    """
    probes = [generated_lightness(seed, size) for seed in PROBE_SEEDS[:PROBE_COUNT]]
    backends: dict[str, NetworkBackend] = {}
    measured: dict[str, Measurement] = {}
    reference_model = (reference_backend or candidates[reference])()
    if reference_backend is None:
        backends[reference] = reference_model
    expected = [reference_model.network_ab(probe, None, DEFAULT_TEMPERATURE) for probe in probes]
    for precision, build in candidates.items():
        try:
            if precision in backends:  # the reference: its probe runs are done
                backend, outputs = backends[precision], expected
            else:
                backend = build()
                outputs = [backend.network_ab(probe, None, DEFAULT_TEMPERATURE) for probe in probes]
        except MasterpieceError as error:
            measured[precision] = Measurement(error=str(error))
            logger.info("backend %s is not available here: %s", precision, error)
            continue
        backends[precision] = backend
        measured[precision] = Measurement(mean_ab=float(np.mean([_distance(o, e) for o, e in zip(outputs, expected)])))
    timed = [precision for precision in backends if measured[precision].error is None]
    runs: dict[str, list[float]] = {precision: [] for precision in timed}
    spent = 0.0
    for _ in range(MAX_TIMED_ROUNDS):
        for precision in timed:
            start = timer()
            backends[precision].network_ab(probes[0], None, DEFAULT_TEMPERATURE)
            runs[precision].append(timer() - start)
            spent += runs[precision][-1]
        if spent >= TIMING_BUDGET_S:
            break
    for precision in timed:
        measured[precision].seconds = min(runs[precision])
    return measured, backends


def fastest(measured: Mapping[str, Measurement], reference: str, bound: float = ACCURACY_BOUND_AB) -> str:
    """The fastest candidate within ``bound``; the reference when none is (or it alone runs)."""
    eligible = [name for name, result in measured.items() if result.eligible(bound)]
    return min(eligible, key=lambda name: measured[name].seconds) if eligible else reference


def choose_backend(
    candidates: Mapping[str, Callable[[], NetworkBackend]],
    *,
    key: Mapping[str, object],
    cache_file: Path,
    reference: str = "fp32",
    reference_backend: Callable[[], NetworkBackend] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> Choice:
    """The backend ``auto`` means here: the cached choice for ``key``, else measured and cached.

    Args:
        candidates: precision -> a function building its backend (nothing is built but the
            chosen one when the cache answers).
        key: what the choice is valid for (:func:`choice_key`).
        cache_file: where the choice is cached (:func:`choice_file`).
        reference: the float32 candidate, chosen when no faster one is accurate enough.
        reference_backend: builds the accuracy reference when it is not a candidate.
        timer: the clock (injected by tests).
    """
    cached = read_choice(cache_file, key)
    if cached in candidates:
        try:
            return Choice(cached, candidates[cached](), cached=True)
        except MasterpieceError as error:  # e.g. a cached export deleted and no torch to redo it
            logger.warning("the cached backend choice %s cannot be built (%s); timing the backends again", cached, error)
    measured, backends = measure(candidates, reference, int(key["size"]), timer=timer,
                                 reference_backend=reference_backend)
    precision = fastest(measured, reference)
    summary = ", ".join(f"{name} {result.seconds * 1000:.1f} ms {result.mean_ab:.2f} ab" for name, result in measured.items()
                        if result.error is None and result.seconds is not None)
    logger.info("auto precision on this CPU: %s (%s)", precision, summary)
    write_choice(cache_file, key, precision, measured)
    backend = backends.get(precision) or candidates[precision]()
    return Choice(precision, backend, measured)
