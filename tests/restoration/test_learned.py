"""The bundled learned detector: finds known synthetic damage, runs in bands as on the whole
image, is verified by sha256 when loaded, is the export of the shipped safetensors, rebuilds
to the same bytes, and needs no torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from masterpiece.errors import (
    ChecksumMismatchError,
    ConfigError,
    WeightsError,
    WeightsNotFoundError,
)
from masterpiece.models.bundled_onnx import file_sha256, read_manifest
from masterpiece.restoration import Restorer, learned
from masterpiece.restoration.damage import DamageConfig, draw_damage
from masterpiece.restoration.learned import (
    DETECTOR_NAME,
    DETECTOR_WEIGHTS,
    LearnedDetector,
    detector_dir,
)

pytestmark = pytest.mark.skipif(
    not (detector_dir() / "onnx_manifest.json").is_file(), reason="this installation ships no damage detector"
)

SCRATCHES = DamageConfig(kinds=("scratch", "dust", "hairline", "spot"), scratches=8, dust=60, hairlines=6, spots=4,
                         scratch_contrast=(0.6, 1.0), dust_contrast=(0.6, 1.0), grain_sigma=(1.0, 1.0))


def _f1(predicted: np.ndarray, target: np.ndarray) -> float:
    return float(2 * (predicted & target).sum() / max(1, predicted.sum() + target.sum()))


def test_finds_known_damage_better_than_the_baseline(photo: np.ndarray) -> None:
    damaged, truth = draw_damage(photo, seed=21, config=SCRATCHES)
    found = Restorer().detect(damaged)
    baseline = Restorer("classical").detect(damaged)
    assert found.dtype == bool and found.shape == photo.shape
    assert _f1(found, truth) > 0.7
    assert _f1(found, truth) > _f1(baseline, truth)


def test_clean_photograph_is_left_alone(photo: np.ndarray) -> None:
    result = Restorer().restore(photo)
    assert result.mask.mean() < 0.005
    assert np.array_equal(result.lightness[~result.mask], photo[~result.mask])


@pytest.mark.parametrize("band_rows", [64, 65, 67])
def test_bands_agree_with_the_whole_image(photo: np.ndarray, band_rows: int) -> None:
    """Also bands of rows off the network's 4 x 4 block grid (rounded down onto it)."""
    damaged, _ = draw_damage(np.vstack([photo, photo[::-1]]), seed=5, config=SCRATCHES)
    whole = LearnedDetector(band_rows=10_000)(damaged)
    banded = LearnedDetector(band_rows=band_rows)(damaged)
    assert (whole != banded).sum() == 0


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 130), (130, 6)])
def test_any_size(shape: tuple[int, int]) -> None:
    plane = np.full(shape, 50.0, np.float32)
    assert LearnedDetector()(plane).shape == shape


def test_the_files_are_small_and_made_from_the_shipped_weights() -> None:
    entry = read_manifest(detector_dir())[DETECTOR_NAME]["fp32"]
    weights = detector_dir() / entry.source_filename
    assert entry.source_filename == DETECTOR_WEIGHTS[0]
    assert file_sha256(weights) == entry.source_sha256 == DETECTOR_WEIGHTS[1]
    assert sum(path.stat().st_size for path in detector_dir().iterdir()) < 5_000_000


def _copy_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bundled"
    shutil.copytree(detector_dir(), folder)
    monkeypatch.setattr(learned, "detector_dir", lambda: folder)
    return folder


def test_a_tampered_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_bundle(tmp_path, monkeypatch)
    onnx_file = folder / read_manifest(folder)[DETECTOR_NAME]["fp32"].filename
    content = bytearray(onnx_file.read_bytes())
    content[-10] ^= 0xFF
    onnx_file.write_bytes(bytes(content))
    with pytest.raises(ChecksumMismatchError, match="tampered"):
        Restorer()


def test_a_missing_file_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_bundle(tmp_path, monkeypatch)
    (folder / read_manifest(folder)[DETECTOR_NAME]["fp32"].filename).unlink()
    with pytest.raises(WeightsNotFoundError, match="missing"):
        Restorer()
    (folder / "onnx_manifest.json").unlink()
    with pytest.raises(WeightsNotFoundError, match="classical"):
        Restorer()


def test_a_file_that_is_no_model_is_a_weights_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="cannot load"):
        LearnedDetector(bogus)
    with pytest.raises(ConfigError, match="threshold"):
        LearnedDetector(threshold=1.5)


def test_onnx_matches_the_network_in_torch(photo: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    from masterpiece.restoration.features import detector_features
    from masterpiece.restoration.training import load_bundled_weights

    model, metadata = load_bundled_weights(detector_dir() / DETECTOR_WEIGHTS[0])
    damaged, _ = draw_damage(photo, seed=2, config=SCRATCHES)
    with torch.no_grad():
        expected = model(torch.from_numpy(detector_features(damaged))[None])[0, 0].numpy()
    detector = LearnedDetector()
    assert detector.threshold == float(metadata["threshold"])
    assert np.abs(detector.logits(damaged) - expected).max() < 1e-3


def test_the_detector_runs_without_the_blocked_layout_and_marks_what_it_would_with_it(
    photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detector's session skips ONNX Runtime's channel-blocked rewriting (faster for its
    thin full-resolution head, BENCHMARKS.md); the filler's keeps it. Both layouts give the
    same logits."""
    import onnxruntime

    from masterpiece.restoration import _onnx
    from masterpiece.restoration.learned_fill import LearnedFiller

    detector = LearnedDetector()
    level = detector._session.get_session_options().graph_optimization_level
    assert level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    filler_level = LearnedFiller()._session.get_session_options().graph_optimization_level
    assert filler_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    damaged, _ = draw_damage(photo, seed=2, config=SCRATCHES)
    blocked = _onnx.open_session
    monkeypatch.setattr(learned, "open_session", lambda *args, **kwargs: blocked(*args[:3]))
    with_blocks = LearnedDetector()
    assert with_blocks._session.get_session_options().graph_optimization_level == filler_level
    assert np.abs(detector.logits(damaged) - with_blocks.logits(damaged)).max() < 1e-4


def test_the_rebuild_gives_the_same_bytes(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from masterpiece.restoration.training import export_bundled_detector

    folder = tmp_path / "rebuilt"
    folder.mkdir()
    shutil.copy(detector_dir() / DETECTOR_WEIGHTS[0], folder)
    rebuilt = export_bundled_detector(folder)["fp32"]
    shipped = read_manifest(detector_dir())[DETECTOR_NAME]["fp32"]
    assert rebuilt == shipped, "the shipped ONNX is stale: run `python -m masterpiece.restoration.training export`"


NO_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoTorch())
import numpy as np
from masterpiece.restoration import Restorer
plane = np.full((64, 80), 50.0, np.float32)
plane[30, 5:70] = 95.0
result = Restorer().restore(plane)
print(int(result.mask[30, 10:60].sum()), "torch" in sys.modules, "onnx" in sys.modules)
"""


def test_restores_without_torch() -> None:
    done = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, check=True, timeout=120)
    found, imported_torch, imported_onnx = done.stdout.split()
    assert imported_torch == "False" and imported_onnx == "False"
    assert int(found) > 25
