"""``--precision auto``: the backend is chosen by measurement, within the accuracy bound, and cached."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from masterpiece.errors import MissingExtraError
from masterpiece.models import backend_choice, runtime
from masterpiece.models.backend_choice import (
    ACCURACY_BOUND_AB,
    choice_file,
    choice_key,
    choose_backend,
    generated_lightness,
)
from masterpiece.models.catalogue import builtin_decoding_tag
from masterpiece.models.onnx_backend import OnnxBackend


class FakeClock:
    """A clock that only moves when a fake backend computes."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeBackend:
    """A network whose run takes ``seconds`` on the fake clock and whose ab is ``offset`` Lab
    units from the reference's, in the a direction."""

    accepts_hints = False
    threads = 1
    bin_centers = None

    def __init__(self, precision: str, seconds: float, offset: float, clock: FakeClock) -> None:
        self.precision, self.seconds, self.offset, self.clock = precision, seconds, offset, clock
        self.runs = 0

    def network_ab(self, lightness, hints, temperature):
        self.runs += 1
        self.clock.now += self.seconds
        ab = np.stack((lightness[:, 0, ::4, ::4] - 50 + self.offset, 50 - lightness[:, 0, ::4, ::4]), axis=1)
        return ab.astype(np.float32)


class Fakes:
    """Candidates of known speed and accuracy; counts how often each is built."""

    def __init__(self, speeds: dict[str, tuple[float, float]]) -> None:
        self.clock = FakeClock()
        self.built: dict[str, int] = dict.fromkeys(speeds, 0)
        self.backends: dict[str, FakeBackend] = {}
        self.speeds = speeds

    def candidates(self) -> dict:
        def builder(precision: str):
            def build() -> FakeBackend:
                self.built[precision] += 1
                seconds, offset = self.speeds[precision]
                self.backends[precision] = FakeBackend(precision, seconds, offset, self.clock)
                return self.backends[precision]
            return build

        return {precision: builder(precision) for precision in self.speeds}

    def choose(self, key: dict, cache_file: Path):
        return choose_backend(self.candidates(), key=key, cache_file=cache_file, timer=self.clock)


@pytest.fixture
def key() -> dict:
    return choice_key("fake", "ab" * 32, 64, 2)


def test_the_fastest_accurate_candidate_is_chosen(tmp_path: Path, key: dict) -> None:
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.8), "bf16": (0.20, 0.2)})
    choice = fakes.choose(key, tmp_path / "choice.json")
    assert choice.precision == "int8" and choice.backend is fakes.backends["int8"] and not choice.cached
    assert choice.measured["int8"].seconds == pytest.approx(0.10)
    assert choice.measured["bf16"].seconds == pytest.approx(0.20)
    assert choice.measured["int8"].mean_ab == pytest.approx(0.8, abs=1e-5)
    assert choice.measured["fp32"].mean_ab == 0.0


def test_a_candidate_beyond_the_accuracy_bound_is_never_chosen(tmp_path: Path, key: dict) -> None:
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.05, ACCURACY_BOUND_AB + 0.1), "bf16": (0.20, 1.0)})
    assert fakes.choose(key, tmp_path / "one.json").precision == "bf16"
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.05, 20.0), "bf16": (0.10, 3.0)})
    assert fakes.choose(key, tmp_path / "two.json").precision == "fp32"  # only the reference qualifies


def test_the_choice_is_cached_and_reused_without_timing(tmp_path: Path, key: dict) -> None:
    cache = tmp_path / "choice.json"
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)})
    assert fakes.choose(key, cache).precision == "int8"
    stored = json.loads(cache.read_text())
    assert stored["key"] == key and stored["precision"] == "int8"
    assert stored["measured"]["fp32"]["seconds"] == pytest.approx(0.30)
    again = Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)})
    choice = again.choose(key, cache)
    assert choice.cached and choice.precision == "int8" and not choice.measured
    assert again.built == {"fp32": 0, "int8": 1}  # only the chosen one is built
    assert again.backends["int8"].runs == 0 and again.clock.now == 0  # nothing was run or timed


def test_a_new_key_times_again(tmp_path: Path, key: dict) -> None:
    cache = tmp_path / "choice.json"
    Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)}).choose(key, cache)
    upgraded = {**key, "versions": {**key["versions"], "onnxruntime": "99.0"}}
    other_cpu = {**key, "cpu": "Another CPU", "cpu_flags": ["avx2"]}
    for changed in (upgraded, other_cpu):
        fakes = Fakes({"fp32": (0.10, 0.0), "int8": (0.30, 0.5)})  # int8 is slower there
        choice = fakes.choose(changed, cache)
        assert not choice.cached and choice.precision == "fp32" and fakes.built == {"fp32": 1, "int8": 1}
        assert json.loads(cache.read_text())["key"] == changed


@pytest.mark.parametrize("content", [b"{not json", b"\x00\xff\xfe", b'{"format": 1, "key": 3}', b"[]", b""])
def test_a_corrupt_cache_is_ignored_and_rewritten(
    tmp_path: Path, key: dict, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "choice.json"
    cache.write_bytes(content)
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)})
    with caplog.at_level(logging.INFO, logger="masterpiece.models.backend_choice"):
        choice = fakes.choose(key, cache)
    assert choice.precision == "int8" and not choice.cached
    assert json.loads(cache.read_text())["precision"] == "int8"
    assert not list(tmp_path.glob("*.part"))  # the atomic write left no temporary file


def test_an_unwritable_cache_costs_a_warning(tmp_path: Path, key: dict, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)})
    with caplog.at_level(logging.WARNING):
        assert fakes.choose(key, blocker / "backends" / "choice.json").precision == "int8"
    assert "cannot cache the backend choice" in caplog.text


def test_a_candidate_that_cannot_be_built_is_skipped(tmp_path: Path, key: dict) -> None:
    fakes = Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)})
    candidates = fakes.candidates()

    def no_torch():
        raise MissingExtraError("--precision bf16 needs PyTorch")

    candidates["bf16"] = no_torch
    choice = choose_backend(candidates, key=key, cache_file=tmp_path / "c.json", timer=fakes.clock)
    assert choice.precision == "int8"
    assert "needs PyTorch" in choice.measured["bf16"].error and choice.measured["bf16"].seconds is None


def test_the_timing_stays_within_its_budget(tmp_path: Path, key: dict) -> None:
    fakes = Fakes({"fp32": (0.40, 0.0), "int8": (0.15, 0.5), "bf16": (0.2, 0.3)})
    fakes.choose(key, tmp_path / "c.json")
    # one timed round already passes the budget: after the probe runs, one timed run each
    assert {name: backend.runs for name, backend in fakes.backends.items()} == {
        name: backend_choice.PROBE_COUNT + 1 for name in fakes.backends
    }


def test_the_key_names_this_cpu_and_the_libraries() -> None:
    key = choice_key("compact", "AB" * 32, 256, 4)
    assert key["weights_sha256"] == "ab" * 32 and key["size"] == 256 and key["threads"] == 4
    assert key["cpu"] and set(key["cpu_flags"]) <= set(backend_choice.CPU_FLAGS)
    assert key["versions"]["numpy"] == np.__version__ and "onnxruntime" in key["versions"]
    assert choice_file(Path("/c"), "compact", "AB" * 32) == Path("/c/backends/compact-abababababababab.json")


def test_probe_images_are_fixed_and_span_the_lightness_range() -> None:
    first, again, other = generated_lightness(1000, 64), generated_lightness(1000, 64), generated_lightness(1001, 64)
    assert first.shape == (1, 1, 64, 64) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other) and 0 <= first.min() and first.max() <= 100 and np.ptp(first) > 50


# --------------------------------------------------------------------------- with real backends


def _bundled_ships_onnx() -> bool:
    from masterpiece.models.bundled_onnx import read_manifest

    return "fp32" in read_manifest().get("compact", {})


@pytest.mark.skipif(not _bundled_ships_onnx(), reason="this checkout ships no ONNX files for the bundled model")
def test_the_bundled_model_is_measured_once_then_read_from_the_cache(
    isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masterpiece.pipeline.image import Colorizer

    first = Colorizer("compact", precision="auto", download=False)
    assert first.precision in ("fp32", "int8") and isinstance(first.backend, OnnxBackend)
    (stored,) = (isolated_cache / "backends").glob("compact-*.json")
    record = json.loads(stored.read_text())
    assert record["precision"] == first.precision and set(record["measured"]) == {"fp32", "int8"}
    assert record["measured"]["int8"]["mean_ab"] < ACCURACY_BOUND_AB  # the shipped int8 file is accurate
    assert record["key"]["decoding"] == builtin_decoding_tag("compact") != ""  # accuracy depends on it
    monkeypatch.setattr(backend_choice, "measure", lambda *a, **k: pytest.fail("timed again"))
    assert Colorizer("compact", precision="auto", download=False).precision == first.precision


def test_a_choice_made_for_another_decoding_is_measured_again(tmp_path: Path) -> None:
    """A choice cached before the decoding changed (the same weights) is not reused."""
    cache = tmp_path / "choice.json"
    old = choice_key("compact", "ab" * 32, 64, 2)
    new = choice_key("compact", "ab" * 32, 64, 2, decoding="-a0.8-t0.6")
    assert "decoding" not in old and new["decoding"] == "-a0.8-t0.6"
    Fakes({"fp32": (0.30, 0.0), "int8": (0.10, 0.5)}).choose(old, cache)
    fakes = Fakes({"fp32": (0.10, 0.0), "int8": (0.30, 0.5)})
    choice = fakes.choose(new, cache)
    assert not choice.cached and choice.precision == "fp32" and fakes.built == {"fp32": 1, "int8": 1}


def test_a_weights_file_loads_from_its_cached_export_without_pytorch(
    isolated_cache: Path, compact_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from masterpiece.pipeline.image import Colorizer

    first = Colorizer("compact", weights=compact_weights, size=64, precision="auto")
    record = json.loads(next((isolated_cache / "backends").glob("compact-*.json")).read_text())
    assert set(record["measured"]) == {"fp32", "int8", "bf16"} and record["precision"] == first.precision
    if first.precision == "bf16":
        pytest.skip("bf16 (PyTorch) was fastest here: nothing is loaded from an export")
    assert isinstance(first.backend, OnnxBackend) and first.backend.source_sha256 == record["key"]["weights_sha256"]
    # the second load finds the choice and the export: the PyTorch model is never built
    monkeypatch.setattr(runtime._WeightsSource, "model", lambda self: pytest.fail("built the PyTorch model"))
    monkeypatch.setattr(backend_choice, "measure", lambda *a, **k: pytest.fail("timed again"))
    second = Colorizer("compact", weights=compact_weights, size=64, precision="auto")
    assert second.precision == first.precision
    np.testing.assert_allclose(second.network_ab(generated_lightness(5, 64)), first.network_ab(generated_lightness(5, 64)))


def test_a_corrupt_cached_export_is_made_again(isolated_cache: Path, compact_weights: Path) -> None:
    from masterpiece.pipeline.image import Colorizer

    first = Colorizer("compact", weights=compact_weights, size=64, precision="int8")
    (export,) = (isolated_cache / "onnx").glob("compact-*-int8.onnx")
    export.write_bytes(export.read_bytes()[:1000])  # truncated
    again = Colorizer("compact", weights=compact_weights, size=64, precision="int8")
    probe = generated_lightness(7, 64)
    np.testing.assert_allclose(again.network_ab(probe), first.network_ab(probe), atol=1e-4)
    assert export.stat().st_size > 100_000
