"""The bundled learned filler: better than the inpainting it corrects on known synthetic damage,
never changes a pixel outside the mask, runs in bands as on the whole image, is verified by
sha256 when loaded, is the export of the shipped safetensors, and rebuilds to the same bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from masterpiece.errors import (
    ChecksumMismatchError,
    ConfigError,
    InvalidInputError,
    WeightsError,
    WeightsNotFoundError,
)
from masterpiece.models.bundled_onnx import file_sha256, read_manifest
from masterpiece.restoration import Restorer, learned_fill
from masterpiece.restoration.damage import DamageConfig, draw_damage
from masterpiece.restoration.fill import fill_damage
from masterpiece.restoration.learned_fill import (
    FILLER_NAME,
    FILLER_WEIGHTS,
    INPAINT_RADIUS,
    LearnedFiller,
    filler_planes,
)

from .conftest import photo_lightness

pytestmark = pytest.mark.skipif(
    FILLER_NAME not in read_manifest(learned_fill.detector_dir()), reason="this installation ships no damage filler"
)

#: damage whose picture partly survives (stains, faint scratches)
SURVIVING = DamageConfig(kinds=("stain", "scratch"), stains=12, scratches=6, scratch_contrast=(0.35, 0.6),
                         grain_sigma=(0.5, 0.5))
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _textured(height: int = 256, width: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.normal(0, 5, (height, width)).astype(np.float32), (0, 0), 1.0)
    return np.clip(photo_lightness(height, width, seed) + texture, 0, 100).astype(np.float32)


def _psnr(first: np.ndarray, second: np.ndarray) -> float:
    return float(10 * np.log10(100**2 / np.mean((first.astype(np.float64) - second) ** 2)))


def _inpainted(damaged: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.clip(cv2.inpaint(damaged, mask.view(np.uint8), INPAINT_RADIUS, cv2.INPAINT_NS), 0, 100)


def test_better_than_the_inpainting_it_corrects() -> None:
    clean = _textured()
    damaged, mask = draw_damage(clean, seed=11, config=SURVIVING)
    assert mask.mean() > 0.02
    inpainted = _inpainted(damaged, mask)
    filled = LearnedFiller()(damaged, inpainted, mask)
    assert _psnr(filled[mask], clean[mask]) > _psnr(inpainted[mask], clean[mask]) + 0.5


@pytest.mark.skipif(not (DATA / "train").is_dir(), reason=f"the training photographs are not in {DATA / 'train'}")
def test_better_than_opencv_on_held_out_photographs() -> None:
    """Every kind of damage (the measurement's), the drawn mask, photographs never trained on."""
    from masterpiece.restoration.training import held_out_photos, load_lightness

    squared = {"learned": 0.0, "ns": 0.0}
    for index, path in enumerate(held_out_photos(DATA)[:16]):
        clean = load_lightness(path)
        damaged, mask = draw_damage(clean, seed=500 + index)
        for method in squared:
            squared[method] += float(((fill_damage(damaged, mask, method=method) - clean)[mask] ** 2).sum())
    assert squared["learned"] < 0.5 * squared["ns"]  # at least 3 dB better, pooled


def test_the_learned_filling_beats_opencv_on_stains() -> None:
    """Through fill_damage, with its bands, against OpenCV's filling with the tone correction."""
    clean = _textured(seed=2)
    damaged, mask = draw_damage(clean, seed=3, config=DamageConfig(kinds=("stain",), stains=30, grain_sigma=(0.5, 0.5)))
    learned = fill_damage(damaged, mask, method="learned", band_rows=100)
    opencv = fill_damage(damaged, mask, method="ns")
    assert np.array_equal(learned.view(np.uint32)[~mask], damaged.view(np.uint32)[~mask])
    assert _psnr(learned[mask], clean[mask]) > _psnr(opencv[mask], clean[mask]) + 1


@pytest.mark.parametrize("band_rows", [32, 64])
def test_bands_agree_with_the_whole_image(band_rows: int) -> None:
    clean = np.vstack([_textured(seed=4), _textured(seed=5)])
    damaged, mask = draw_damage(clean, seed=6, config=SURVIVING)
    inpainted = _inpainted(damaged, mask)
    whole = LearnedFiller(band_rows=10_000)(damaged, inpainted, mask)
    banded = LearnedFiller(band_rows=band_rows)(damaged, inpainted, mask)
    assert np.abs(whole - banded).max() < 1e-3
    assert np.array_equal(banded.view(np.uint32)[~mask], damaged.view(np.uint32)[~mask])


@pytest.mark.parametrize("band_rows,margin_rows", [(66, 32), (50, 0), (1000, 96)])
def test_the_learned_filling_in_bands_agrees_with_the_whole_image(band_rows: int, margin_rows: int) -> None:
    """Off the block grid and with margins under the network's reach too: fill_damage rounds the
    bands onto the grid and widens the margin. Small holes, which OpenCV fills alike in bands."""
    clean = np.vstack([_textured(seed=4), _textured(seed=5)])
    rng = np.random.default_rng(0)
    mask = np.zeros(clean.shape, np.uint8)
    for _ in range(300):
        cv2.circle(mask, (int(rng.integers(0, clean.shape[1])), int(rng.integers(0, clean.shape[0]))), 1, 1, -1)
    mask = mask.view(bool)
    damaged = np.where(mask, np.float32(95), clean)
    whole = fill_damage(damaged, mask, method="learned", band_rows=10_000)
    banded = fill_damage(damaged, mask, method="learned", band_rows=band_rows, margin_rows=margin_rows)
    assert np.abs(whole - banded).max() < 1e-3
    assert np.array_equal(banded.view(np.uint32)[~mask], damaged.view(np.uint32)[~mask])


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 130), (130, 6)])
def test_any_size(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    plane = rng.uniform(0, 100, shape).astype(np.float32)
    mask = rng.random(shape) < 0.3
    mask[0, 0] = True
    filled = LearnedFiller()(plane, rng.uniform(0, 100, shape).astype(np.float32), mask)
    assert filled.shape == shape and filled.dtype == np.float32
    assert filled.min() >= 0 and filled.max() <= 100
    assert np.array_equal(filled.view(np.uint32)[~mask], plane.view(np.uint32)[~mask])


def test_bad_input_says_what_is_wrong() -> None:
    plane = np.full((8, 8), 50.0, np.float32)
    filler = LearnedFiller()
    with pytest.raises(InvalidInputError, match="inpainting has shape"):
        filler(plane, plane[:4], np.zeros((8, 8), bool))
    with pytest.raises(InvalidInputError, match="mask has shape"):
        filler(plane, plane, np.zeros((4, 8), bool))
    with pytest.raises(InvalidInputError, match="outside CIE L"):
        filler(plane * 3, plane, np.zeros((8, 8), bool))
    with pytest.raises(ConfigError, match="band_rows"):
        LearnedFiller(band_rows=0)


def test_the_files_are_made_from_the_shipped_weights() -> None:
    entry = read_manifest(learned_fill.detector_dir())[FILLER_NAME]["fp32"]
    assert entry.source_filename == FILLER_WEIGHTS[0]
    assert file_sha256(learned_fill.detector_dir() / entry.source_filename) == entry.source_sha256 == FILLER_WEIGHTS[1]


def _copy_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bundled"
    shutil.copytree(learned_fill.detector_dir(), folder)
    monkeypatch.setattr(learned_fill, "detector_dir", lambda: folder)
    return folder


def test_a_tampered_or_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_bundle(tmp_path, monkeypatch)
    onnx_file = folder / read_manifest(folder)[FILLER_NAME]["fp32"].filename
    content = bytearray(onnx_file.read_bytes())
    content[-10] ^= 0xFF
    onnx_file.write_bytes(bytes(content))
    with pytest.raises(ChecksumMismatchError, match="tampered"):
        LearnedFiller()
    onnx_file.unlink()
    with pytest.raises(WeightsNotFoundError, match="missing"):
        LearnedFiller()


def test_a_file_that_is_no_filler_is_a_weights_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="cannot load the damage filler"):
        LearnedFiller(bogus)
    detector = learned_fill.detector_dir() / read_manifest(learned_fill.detector_dir())["damage_detector"]["fp32"].filename
    with pytest.raises(WeightsError, match="is not the damage filler"):
        LearnedFiller(detector)


def test_onnx_matches_the_network_in_torch() -> None:
    torch = pytest.importorskip("torch")
    from masterpiece.restoration.filler_training import load_bundled_weights

    model, _ = load_bundled_weights(learned_fill.detector_dir() / FILLER_WEIGHTS[0])
    clean = _textured(seed=7)
    damaged, mask = draw_damage(clean, seed=2, config=SURVIVING)
    inpainted = _inpainted(damaged, mask)
    with torch.no_grad():
        expected = model(torch.from_numpy(filler_planes(damaged, inpainted, mask))[None])[0, 0].numpy()
    assert np.abs(LearnedFiller()(damaged, inpainted, mask) - expected).max() < 1e-3


def test_the_rebuild_gives_the_same_bytes(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from masterpiece.restoration.filler_training import export_bundled_filler

    folder = tmp_path / "rebuilt"
    folder.mkdir()
    shutil.copy(learned_fill.detector_dir() / FILLER_WEIGHTS[0], folder)
    rebuilt = export_bundled_filler(folder)["fp32"]
    shipped = read_manifest(learned_fill.detector_dir())[FILLER_NAME]["fp32"]
    assert rebuilt == shipped, "the shipped ONNX is stale: run `python -m masterpiece.restoration.filler_training export`"


def test_the_restorer_fills_with_it() -> None:
    clean = _textured(seed=8)
    damaged, _ = draw_damage(clean, seed=9, config=SURVIVING)
    result = Restorer(fill_method="learned", threads=1).restore(damaged)
    assert result.mask.any()
    assert np.array_equal(result.lightness, fill_damage(damaged, result.mask, method="learned"))
    assert not np.array_equal(result.lightness, fill_damage(damaged, result.mask, method="ns"))
    assert np.array_equal(result.lightness[~result.mask], damaged[~result.mask])


class _RecordingSession:
    """An ONNX Runtime session that records whether each run hands its buffers back."""

    def __init__(self, session: object) -> None:
        self.session, self.releases = session, []

    def run(self, outputs, feeds, run_options=None):
        self.releases.append(run_options is not None)
        return self.session.run(outputs, feeds, run_options)


def test_only_the_last_band_hands_the_buffers_back() -> None:
    """Both networks keep their buffers from band to band of an image and hand them back after
    its last one, so the detector's are gone before the filler's are taken (the 30 MP limit)."""
    from masterpiece.restoration.learned import LearnedDetector

    clean = np.vstack([_textured(seed=4), _textured(seed=5)])
    damaged, mask = draw_damage(clean, seed=6, config=SURVIVING)
    detector, filler = LearnedDetector(band_rows=128), LearnedFiller(band_rows=128)
    detector._session = _RecordingSession(detector._session)
    filler._session = _RecordingSession(filler._session)
    detector(damaged)
    filler(damaged, _inpainted(damaged, mask), mask)
    assert detector._session.releases == [False, False, False, True]
    assert len(filler._session.releases) >= 3 and filler._session.releases[-1]
    assert not any(filler._session.releases[:-1])
    filler._session.releases.clear()
    filler(damaged, _inpainted(damaged, mask), mask, release=False)
    assert not any(filler._session.releases)


def _block_step_ratio(filler: LearnedFiller) -> float:
    """Mean step of the filler's correction across the network's 4-pixel block boundaries over
    the mean step inside blocks, in a wide filled region (1: no block pattern)."""
    clean = _textured(seed=3)
    mask = np.zeros(clean.shape, np.uint8)
    cv2.circle(mask, (160, 128), 60, 1, -1)
    mask = mask.view(bool)
    damaged = np.where(mask, np.float32(90), clean)
    inpainted = _inpainted(damaged, mask)
    correction = (filler(damaged, inpainted, mask) - inpainted)[88:168, 120:200]
    steps = np.abs(np.diff(correction, axis=1))
    across = steps[:, 3::4].mean()
    return float(across / np.delete(steps, np.s_[3::4], axis=1).mean())


def test_no_block_pattern_in_wide_filled_regions() -> None:
    """The coefficient maps come out one 4 x 4 block at a time; the shipped filler smooths them."""
    assert _block_step_ratio(LearnedFiller()) < 2  # 1.4 smoothed, 6.3 without (the first bundle)
