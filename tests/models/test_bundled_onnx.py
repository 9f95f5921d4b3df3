"""The ONNX files shipped with the bundled model: built from the shipped weights, equal to the
PyTorch model (int8 within its measured accuracy), verified at load, rebuilt by one command."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from masterpiece.cli.main import EXIT_OK, EXIT_USAGE, main
from masterpiece.errors import (
    ChecksumMismatchError,
    ConfigError,
    WeightsError,
    WeightsNotFoundError,
)
from masterpiece.models import ColorPrediction, bundled_onnx, create_model, get_model_info
from masterpiece.models.bundled_onnx import (
    BUNDLED_PRECISIONS,
    BundledOnnxFile,
    bundled_dir,
    bundled_onnx_path,
    onnx_filename,
    read_manifest,
    write_manifest_entry,
)
from masterpiece.models.export import (
    METADATA_PREFIX,
    bundled_model_names,
    generated_calibration_images,
)

pytestmark = pytest.mark.filterwarnings("ignore::Warning")

BUNDLED = bundled_model_names()
REBUILD = "rebuild them with `masterpiece models bundle` and commit the result"
#: int8 vs float32 on decoded ab (T = 0.38), mean over the image: the runtime's documented
#: accuracy on photographs is about 1 ab (models/runtime.py), the target below 1.5
INT8_MEAN_AB = 1.5


def _registered_sha256(name: str) -> str:
    return get_model_info(name).weights.sha256.lower().removeprefix("sha256:")


def _metadata(path: Path) -> dict[str, str]:
    import onnx

    return {entry.key: entry.value for entry in onnx.load(str(path), load_external_data=False).metadata_props}


def _session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session, lightness: torch.Tensor, hint_ab: torch.Tensor, hint_mask: torch.Tensor) -> ColorPrediction:
    feed = {"lightness": lightness.numpy(), "hint_ab": hint_ab.numpy(), "hint_mask": hint_mask.numpy()}
    names = [output.name for output in session.get_outputs()]
    results = dict(zip(names, session.run(names, feed)))
    return ColorPrediction(logits=torch.from_numpy(results["logits"]), ab=torch.from_numpy(results["ab"]))


def _hints(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    hint_ab, hint_mask = torch.zeros(1, 2, height, width), torch.zeros(1, 1, height, width)
    hint_ab[:, 0, 10:14, 20:24], hint_ab[:, 1, 10:14, 20:24], hint_mask[:, :, 10:14, 20:24] = 40.0, -30.0, 1.0
    return hint_ab, hint_mask


@pytest.fixture(scope="module")
def shipped_models() -> dict[str, torch.nn.Module]:
    return {name: create_model(name) for name in BUNDLED}


# --------------------------------------------------------------------------- (a) built from the shipped weights


def test_every_bundled_model_ships_both_precisions() -> None:
    assert BUNDLED == ["compact"]
    manifest = read_manifest()
    assert {name: sorted(manifest.get(name, {})) for name in BUNDLED} == {name: ["fp32", "int8"] for name in BUNDLED}


@pytest.mark.parametrize("precision", BUNDLED_PRECISIONS)
@pytest.mark.parametrize("name", BUNDLED)
def test_shipped_onnx_was_built_from_the_shipped_safetensors(name: str, precision: str) -> None:
    spec = get_model_info(name).weights
    registered = _registered_sha256(name)
    source = bundled_dir() / spec.filename
    entry = read_manifest()[name][precision]
    path = bundled_dir() / entry.filename
    assert hashlib.sha256(source.read_bytes()).hexdigest() == registered
    stale = f"the {precision} ONNX of {name!r} was not rebuilt from the bundled {spec.filename}; {REBUILD}"
    assert (entry.source_filename, entry.source_sha256) == (spec.filename, registered), stale
    assert entry.filename == onnx_filename(spec.filename, precision), stale
    metadata = _metadata(path)
    assert metadata[f"{METADATA_PREFIX}source_sha256"] == registered, stale
    assert (metadata[f"{METADATA_PREFIX}model"], metadata[f"{METADATA_PREFIX}precision"]) == (name, precision)
    content = path.read_bytes()
    assert (hashlib.sha256(content).hexdigest(), len(content)) == (entry.sha256, entry.size), f"{path}: {REBUILD}"
    assert bundled_onnx_path(name, precision, source_sha256=registered) == path


def test_no_stale_onnx_file_ships() -> None:
    listed = {entry.filename for files in read_manifest().values() for entry in files.values()}
    assert {path.name for path in bundled_dir().glob("*.onnx")} == listed, REBUILD


# --------------------------------------------------------------------------- (b) same outputs as PyTorch


@pytest.mark.parametrize("name", BUNDLED)
def test_shipped_fp32_equals_the_pytorch_model(name: str, shipped_models: dict[str, torch.nn.Module]) -> None:
    model, session = shipped_models[name], _session(bundled_onnx_path(name, "fp32"))
    for height, width in ((256, 256), (128, 192)):  # dynamic sides
        lightness = torch.from_numpy(generated_calibration_images(17, max(height, width))[16])[..., :height, :width]
        hints = _hints(height, width)
        with torch.no_grad():
            expected = model.predict(lightness.contiguous(), *hints)
        actual = _run(session, lightness.contiguous(), *hints)
        torch.testing.assert_close(actual.logits, expected.logits, atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(actual.ab, expected.ab, atol=1e-3, rtol=1e-4)
        with torch.no_grad():
            torch.testing.assert_close(model.decode(actual, 0.38), model.decode(expected, 0.38), atol=1e-3, rtol=1e-4)


def _int8_mean_ab(model: torch.nn.Module, session, images: list[np.ndarray], hinted: bool) -> float:
    differences = []
    for image in images:
        lightness = torch.from_numpy(image)
        hints = _hints(*image.shape[-2:]) if hinted else (torch.zeros(1, 2, *image.shape[-2:]), torch.zeros(1, 1, *image.shape[-2:]))
        with torch.no_grad():
            expected = model.decode(model.predict(lightness, *hints), 0.38)
            actual = model.decode(_run(session, lightness, *hints), 0.38)
        differences.append(float((actual - expected).abs().mean()))
    return float(np.mean(differences))


@pytest.mark.parametrize("hinted", [False, True], ids=["automatic", "hinted"])
@pytest.mark.parametrize("name", BUNDLED)
def test_shipped_int8_stays_within_its_accuracy(name: str, hinted: bool, shipped_models: dict[str, torch.nn.Module]) -> None:
    images = generated_calibration_images(18, 256)[16:]  # seeds the calibration did not use
    difference = _int8_mean_ab(shipped_models[name], _session(bundled_onnx_path(name, "int8")), images, hinted)
    assert difference < INT8_MEAN_AB


@pytest.mark.data
@pytest.mark.parametrize("name", BUNDLED)
def test_shipped_int8_stays_within_its_accuracy_on_photographs(name: str, shipped_models: dict[str, torch.nn.Module]) -> None:
    from masterpiece.cli.models import calibration_from_folder

    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "val"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (the project's shared data is not next to this checkout)")
    images = calibration_from_folder(folder, 4, 256)
    difference = _int8_mean_ab(shipped_models[name], _session(bundled_onnx_path(name, "int8")), images, hinted=False)
    assert difference < INT8_MEAN_AB


# --------------------------------------------------------------------------- (c) verified at load


@pytest.fixture
def small_bundle(tmp_path: Path) -> Path:
    """A folder with one 'ONNX' file and its manifest entry (``demo`` fp32)."""
    (tmp_path / "demo_v1-fp32.onnx").write_bytes(b"network bytes" * 100)
    write_manifest_entry(tmp_path, "demo", {"fp32": _entry(tmp_path / "demo_v1-fp32.onnx")}, {"torch": "x"})
    return tmp_path


def _entry(path: Path, source: str = "demo_v1.safetensors", source_sha256: str = "a" * 64) -> BundledOnnxFile:
    content = path.read_bytes()
    return BundledOnnxFile(path.name, hashlib.sha256(content).hexdigest(), len(content), source, source_sha256)


def test_a_verified_file_is_returned_and_hashed_once(small_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(bundled_onnx.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        assert bundled_onnx_path("demo", "fp32", directory=small_bundle) == small_bundle / "demo_v1-fp32.onnx"
    assert len(calls) == 1


def test_no_onnx_is_none_and_a_bad_precision_is_refused(small_bundle: Path, tmp_path: Path) -> None:
    assert bundled_onnx_path("demo", "int8", directory=small_bundle) is None
    assert bundled_onnx_path("other", "fp32", directory=small_bundle) is None
    assert bundled_onnx_path("demo", "fp32", directory=tmp_path / "nothing") is None
    with pytest.raises(ConfigError, match="fp32 or int8"):
        bundled_onnx_path("demo", "bf16", directory=small_bundle)


@pytest.mark.parametrize("damage", ["tampered", "truncated"])
def test_a_damaged_file_is_refused_with_advice(small_bundle: Path, damage: str) -> None:
    path = small_bundle / "demo_v1-fp32.onnx"
    assert bundled_onnx_path("demo", "fp32", directory=small_bundle) == path  # verified once...
    content = path.read_bytes()
    path.write_bytes(content[:-1] + b"?" if damage == "tampered" else content[:50])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(ChecksumMismatchError, match="truncated or tampered") as caught:
        bundled_onnx_path("demo", "fp32", directory=small_bundle)  # ...checked again once changed
    message = str(caught.value)
    assert str(path) in message and "reinstall masterpiece" in message and "masterpiece models bundle" in message


def test_the_shipped_files_are_refused_when_tampered(tmp_path: Path) -> None:
    for path in [bundled_dir() / bundled_onnx.MANIFEST_NAME, *bundled_dir().glob("*.onnx")]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    entry = read_manifest()["compact"]["int8"]
    copy = tmp_path / entry.filename
    content = bytearray(copy.read_bytes())
    content[len(content) // 2] ^= 0xFF
    copy.write_bytes(bytes(content))
    with pytest.raises(ChecksumMismatchError, match=f"{entry.filename} has sha256"):
        bundled_onnx_path("compact", "int8", directory=tmp_path)
    assert bundled_onnx_path("compact", "fp32", directory=tmp_path) == tmp_path / read_manifest()["compact"]["fp32"].filename


def test_a_file_from_other_weights_is_refused_as_stale(small_bundle: Path) -> None:
    with pytest.raises(ChecksumMismatchError, match="stale.*masterpiece models bundle"):
        bundled_onnx_path("demo", "fp32", directory=small_bundle, source_sha256="b" * 64)
    assert bundled_onnx_path("demo", "fp32", directory=small_bundle, source_sha256="A" * 64) is not None


def test_a_missing_file_or_a_broken_manifest_is_reported(small_bundle: Path) -> None:
    (small_bundle / "demo_v1-fp32.onnx").unlink()
    with pytest.raises(WeightsNotFoundError, match="is missing; reinstall masterpiece"):
        bundled_onnx_path("demo", "fp32", directory=small_bundle)
    (small_bundle / bundled_onnx.MANIFEST_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="manifest .* is unreadable"):
        bundled_onnx_path("demo", "fp32", directory=small_bundle)


def test_a_new_entry_replaces_the_old_files_and_keeps_other_models(small_bundle: Path) -> None:
    (small_bundle / "other-fp32.onnx").write_bytes(b"other")
    write_manifest_entry(small_bundle, "other", {"fp32": _entry(small_bundle / "other-fp32.onnx", "other.st")}, {})
    (small_bundle / "demo_v2-fp32.onnx").write_bytes(b"retrained")
    new = _entry(small_bundle / "demo_v2-fp32.onnx", "demo_v2.safetensors", "c" * 64)
    removed = write_manifest_entry(small_bundle, "demo", {"fp32": new}, {})
    assert removed == [small_bundle / "demo_v1-fp32.onnx"] and not removed[0].exists()
    assert read_manifest(small_bundle)["demo"] == {"fp32": new}
    assert bundled_onnx_path("other", "fp32", directory=small_bundle) == small_bundle / "other-fp32.onnx"
    assert sorted(path.name for path in small_bundle.iterdir()) == ["demo_v2-fp32.onnx", "onnx_manifest.json", "other-fp32.onnx"]


def test_the_module_imports_neither_torch_nor_onnx() -> None:
    source = Path(bundled_onnx.__file__)
    tree = ast.parse(source.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {f"{'.' * node.level}{node.module}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"hashlib", "json", "logging", "os", "tempfile", "__future__", "collections.abc",
                        "dataclasses", "pathlib", "..atomic", "..errors"}
    # and it finds and verifies the shipped files in a process where torch and onnx cannot load
    script = (
        "import sys, importlib.util\n"
        "sys.modules.update(torch=None, onnx=None, onnxruntime=None, numpy=None)\n"
        f"spec = importlib.util.spec_from_file_location('masterpiece.models.bundled_onnx', {str(source)!r})\n"
        "module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(module.bundled_onnx_path('compact', 'int8').name)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == read_manifest()["compact"]["int8"].filename


# --------------------------------------------------------------------------- (d) the command


@pytest.mark.slow
def test_bundle_command_builds_a_working_manifest_and_files(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], shipped_models: dict[str, torch.nn.Module]
) -> None:
    import onnx
    import onnxruntime

    out = tmp_path / "bundle"
    assert main(["models", "bundle", "--out", str(out), "--calibration-count", "2"]) == EXIT_OK
    printed, errors = capfd.readouterr()
    assert "compact fp32" in printed and "compact int8" in printed and str(out / "onnx_manifest.json") in printed
    assert "histogram" not in printed + errors and "Percentile" not in printed + errors  # the calibrator's chatter
    registered = _registered_sha256("compact")
    paths = {precision: bundled_onnx_path("compact", precision, directory=out, source_sha256=registered)
             for precision in BUNDLED_PRECISIONS}
    assert sorted(path.name for path in out.iterdir()) == sorted([*(p.name for p in paths.values()), "onnx_manifest.json"])
    assert all(_metadata(path)[f"{METADATA_PREFIX}source_sha256"] == registered for path in paths.values())
    image = generated_calibration_images(17, 256)[16:]
    assert _int8_mean_ab(shipped_models["compact"], _session(paths["int8"]), image, hinted=False) < INT8_MEAN_AB
    # deterministic: the same tools rebuild the shipped float32 file byte for byte
    shipped = read_manifest()["compact"]["fp32"]
    versions = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    if _built_with("compact") == versions:
        assert read_manifest(out)["compact"]["fp32"].sha256 == shipped.sha256


def _built_with(name: str) -> dict[str, str]:
    import json

    return json.loads((bundled_dir() / bundled_onnx.MANIFEST_NAME).read_text())["models"][name]["built_with"]


def test_bundle_refuses_a_model_without_bundled_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "bundle", "--model", "eccv16", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "no bundled weights; bundled models: compact" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_shipped_onnx_decodes_as_the_registered_model(precision: str) -> None:
    """The decoding settings in the shipped files are the architecture's (a rebuild is needed when they change)."""
    from masterpiece.models import create_model
    from masterpiece.models.bundled_onnx import bundled_onnx_path
    from masterpiece.models.onnx_backend import OnnxBackend

    model = create_model("compact", download=False)
    backend = OnnxBackend(bundled_onnx_path("compact", precision))
    assert (backend.decoder, backend.annealed_weight, backend.regression_tint) == (
        model.decoder, model.annealed_weight, model.regression_tint
    )
