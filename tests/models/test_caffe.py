"""Importing the ECCV16 Caffe release, on a caffemodel generated here in the protobuf wire format.

The generated file has the release's layer names and blob shapes (including a
``conv8_313_rh`` scale layer and an empty softmax) and random values; BatchNorm blobs carry a
Caffe scale factor that the import must divide out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from masterpiece.errors import (
    IncompatibleWeightsError,
    InvalidInputError,
    OutputExistsError,
    WeightsError,
)
from masterpiece.models import create_model
from masterpiece.models.caffe import (
    import_caffe_eccv16,
    import_caffe_eccv16_to_file,
    parse_caffemodel,
)
from tests.support.caffe_writer import (
    encode_blob,
    encode_field,
    encode_layer,
    encode_net,
    encode_varint,
    random_eccv16,
    write_caffe_release,
)

BN_SCALE_FACTOR = 999.98
CONVS_PER_BLOCK = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3, 6: 3, 7: 3}
WIDTHS = {0: 1, 1: 64, 2: 128, 3: 256, 4: 512, 5: 512, 6: 512, 7: 512}


# --------------------------------------------------------------------------- protobuf writer

_varint, _field, _blob, _layer, _net = encode_varint, encode_field, encode_blob, encode_layer, encode_net


# --------------------------------------------------------------------------- the generated release


def _caffe_layers(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Caffe layer name -> arrays, in the release's shapes (conv: OIHW, deconv: IOHW)."""

    def conv(out_channels: int, in_channels: int, kernel: int = 3) -> list[np.ndarray]:
        weight = rng.standard_normal((out_channels, in_channels, kernel, kernel), dtype=np.float32)
        return [weight * 0.05, rng.standard_normal(out_channels, dtype=np.float32)]

    layers: dict[str, list[np.ndarray]] = {}
    for block, count in CONVS_PER_BLOCK.items():
        width = WIDTHS[block]
        for index in range(1, count + 1):
            layers[f"conv{block}_{index}"] = conv(width, WIDTHS[block - 1] if index == 1 else width)
        stats = [
            rng.standard_normal(width, dtype=np.float32),
            rng.random(width, dtype=np.float32) + 0.5,
        ]
        layers[f"conv{block}_{count}norm"] = [s * BN_SCALE_FACTOR for s in stats] + [
            np.array([BN_SCALE_FACTOR])
        ]
    deconv_weight = rng.standard_normal((512, 256, 4, 4), dtype=np.float32)
    layers["conv8_1"] = [deconv_weight, rng.standard_normal(256, dtype=np.float32)]
    layers["conv8_2"] = conv(256, 256)
    layers["conv8_3"] = conv(256, 256)
    layers["conv8_313"] = conv(313, 256, kernel=1)
    return layers


def _write_release(
    directory: Path, layers: dict[str, list[np.ndarray]], pts: np.ndarray
) -> dict[str, Path]:
    serialized = [
        _layer(
            name,
            "BatchNorm" if name.endswith("norm") else "Convolution",
            [_blob(array, legacy_shape=name.endswith("norm")) for array in arrays],
        )
        for name, arrays in layers.items()
    ]
    serialized.append(_layer("conv8_313_rh", "Scale", [_blob(np.full(1, 2.606))]))
    serialized.append(_layer("class8_313_rh", "Softmax", []))
    serialized.append(_layer("class8_ab", "Convolution", []))
    paths = {
        "caffemodel": directory / "colorization_release_v2.caffemodel",
        "prototxt": directory / "colorization_deploy_v2.prototxt",
        "pts_in_hull": directory / "pts_in_hull.npy",
    }
    paths["caffemodel"].write_bytes(_net(serialized))
    names = [*layers, "conv8_313_rh", "class8_313_rh", "class8_ab"]
    paths["prototxt"].write_text(
        'name: "LtoAB"\n' + "".join(f'layer {{ name: "{n}" }}\n' for n in names)
    )
    np.save(paths["pts_in_hull"], pts)
    return paths


@pytest.fixture(scope="module")
def release(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Path], dict[str, list[np.ndarray]], np.ndarray]:
    rng = np.random.default_rng(0)
    layers = _caffe_layers(rng)
    pts = (rng.integers(-11, 12, size=(313, 2)) * 10).astype(np.float64)
    return _write_release(tmp_path_factory.mktemp("caffe"), layers, pts), layers, pts


@pytest.fixture(scope="module")
def imported(release) -> dict[str, torch.Tensor]:
    paths, _, _ = release
    return import_caffe_eccv16(paths["prototxt"], paths["caffemodel"], paths["pts_in_hull"])


# --------------------------------------------------------------------------- tests


def test_convolutions_are_copied(release, imported: dict[str, torch.Tensor]) -> None:
    _, layers, _ = release
    for caffe_name, key in (
        ("conv1_1", "model1.0"),
        ("conv3_3", "model3.4"),
        ("conv8_1", "model8.0"),
        ("conv8_313", "model8.6"),
    ):
        np.testing.assert_array_equal(imported[f"{key}.weight"].numpy(), layers[caffe_name][0])
        np.testing.assert_array_equal(imported[f"{key}.bias"].numpy(), layers[caffe_name][1])


def test_batch_norm_statistics_are_divided_by_the_scale_factor(
    release, imported: dict[str, torch.Tensor]
) -> None:
    _, layers, _ = release
    mean, variance, _ = layers["conv5_3norm"]
    np.testing.assert_allclose(
        imported["model5.6.running_mean"].numpy(), mean / BN_SCALE_FACTOR, rtol=1e-6
    )
    np.testing.assert_allclose(
        imported["model5.6.running_var"].numpy(), variance / BN_SCALE_FACTOR, rtol=1e-6
    )
    assert (imported["model5.6.weight"] == 1).all() and (imported["model5.6.bias"] == 0).all()


def test_bin_centres_come_from_pts_in_hull(release, imported: dict[str, torch.Tensor]) -> None:
    _, _, pts = release
    assert imported["model_out.weight"].shape == (2, 313, 1, 1)
    np.testing.assert_allclose(
        imported["model_out.weight"][:, :, 0, 0].T.numpy() * 110, pts, rtol=1e-6
    )


def test_saved_file_loads_into_eccv16(release, tmp_path: Path) -> None:
    paths, layers, pts = release
    output = tmp_path / "eccv16-caffe.safetensors"
    import_caffe_eccv16_to_file(
        paths["prototxt"], paths["caffemodel"], paths["pts_in_hull"], output
    )
    model = create_model("eccv16", weights=output)
    np.testing.assert_array_equal(model.model4[2].weight.detach().numpy(), layers["conv4_2"][0])
    np.testing.assert_allclose(model.bin_centers.detach().numpy(), pts, rtol=1e-5)
    before = output.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        import_caffe_eccv16_to_file(
            paths["prototxt"], paths["caffemodel"], paths["pts_in_hull"], output
        )
    assert output.read_bytes() == before


def _small_caffemodel(path: Path, layers: list[bytes]) -> Path:
    path.write_bytes(_net(layers))
    return path


def test_a_missing_layer_is_named(release, tmp_path: Path) -> None:
    paths, layers, _ = release
    caffemodel = _small_caffemodel(
        tmp_path / "partial.caffemodel",
        [_layer("conv1_1", "Convolution", [_blob(array) for array in layers["conv1_1"]])],
    )
    with pytest.raises(IncompatibleWeightsError, match="no layer 'conv1_2'"):
        import_caffe_eccv16(paths["prototxt"], caffemodel, paths["pts_in_hull"])


def test_a_wrong_shape_is_named(release, tmp_path: Path) -> None:
    paths, _, _ = release
    caffemodel = _small_caffemodel(
        tmp_path / "rgb.caffemodel",
        [_layer("conv1_1", "Convolution", [_blob(np.zeros((64, 3, 3, 3))), _blob(np.zeros(64))])],
    )
    with pytest.raises(
        IncompatibleWeightsError, match=r"'conv1_1'.*\(64, 3, 3, 3\).*\(64, 1, 3, 3\)"
    ):
        import_caffe_eccv16(paths["prototxt"], caffemodel, paths["pts_in_hull"])


def test_files_of_the_wrong_kind_are_rejected(release, tmp_path: Path) -> None:
    paths, _, _ = release
    prototxt, caffemodel, pts = paths["prototxt"], paths["caffemodel"], paths["pts_in_hull"]
    with pytest.raises(InvalidInputError, match="does not exist"):
        import_caffe_eccv16(prototxt, tmp_path / "absent.caffemodel", pts)
    with pytest.raises(WeightsError, match="not a Caffe model"):
        import_caffe_eccv16(prototxt, prototxt, pts)  # the text prototxt instead of the caffemodel
    other_net = tmp_path / "other.prototxt"
    other_net.write_text('name: "ResNet"\nlayer { name: "conv1" }\n')
    with pytest.raises(IncompatibleWeightsError, match="not the ECCV16 colorization deploy net"):
        import_caffe_eccv16(other_net, caffemodel, pts)
    wrong_pts = tmp_path / "pts.npy"
    np.save(wrong_pts, np.zeros((262, 2)))
    with pytest.raises(IncompatibleWeightsError, match=r"\(262, 2\)"):
        import_caffe_eccv16(prototxt, caffemodel, wrong_pts)
    pickled_pts = tmp_path / "pickled.npy"
    np.save(pickled_pts, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(WeightsError, match="not a .npy array"):
        import_caffe_eccv16(prototxt, caffemodel, pickled_pts)


def test_legacy_v1_layers_and_unpacked_floats_parse() -> None:
    """V1LayerParameter (NetParameter field 2: name = 4, blobs = 6) with one float per field."""
    floats = b"".join(_varint(5 << 3 | 5) + np.float32(value).tobytes() for value in (1.5, -2.0))
    legacy_blob = _field(2, 2) + floats  # channels = 2
    data = _field(2, _field(4, b"conv1_1") + _field(5, 4) + _field(6, legacy_blob))
    (blob,) = parse_caffemodel(data)["conv1_1"]
    assert blob.shape == (1, 2, 1, 1)
    assert blob.data.tolist() == [1.5, -2.0]


def test_written_release_imports_back_exactly(tmp_path: Path) -> None:
    """The writer (used by the benchmark's OpenCV DNN baseline) is the import's inverse."""
    model = random_eccv16()
    paths = write_caffe_release(model, tmp_path)
    imported = import_caffe_eccv16(paths["prototxt"], paths["caffemodel"], paths["pts_in_hull"])
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(imported[key], value, msg=key)
    assert "convolution_param { num_output: 313" in paths["prototxt"].read_text()
