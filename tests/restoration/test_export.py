"""Export helpers of the restoration networks: the space-to-depth and 1x1 convolution that open
both bodies fold into one strided convolution that computes the same thing, and the exported
graphs carry no transpose."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

from masterpiece.models.bundled_onnx import read_manifest
from masterpiece.restoration._export import fuse_space_to_depth
from masterpiece.restoration.features import BLOCK, FEATURE_CHANNELS
from masterpiece.restoration.filler_training import FillNet
from masterpiece.restoration.learned import DETECTOR_NAME, detector_dir
from masterpiece.restoration.learned_fill import FILLER_NAME, FILLER_PLANES
from masterpiece.restoration.training import DamageNet


def _trained_like(model: nn.Module, seed: int) -> nn.Module:
    """``model`` with non-trivial weights everywhere (biases included)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model.eval()


@pytest.mark.parametrize(("network", "channels"), [(lambda: DamageNet(8, (1, 2)), FEATURE_CHANNELS),
                                                   (lambda: FillNet(8, (1, 2)), FILLER_PLANES)],
                         ids=["detector", "filler"])
def test_the_fused_body_computes_what_the_body_does(network, channels: int) -> None:
    body = _trained_like(network(), 0).body
    fused = fuse_space_to_depth(body)
    assert not any(isinstance(layer, nn.PixelUnshuffle) for layer in fused)
    assert len(fused) == len(body) - 1
    inputs = torch.randn(2, channels, 6 * BLOCK, 5 * BLOCK)
    with torch.no_grad():
        expected, got = body(inputs), fused(inputs)
    assert float(expected.abs().max()) > 0.1  # a body that says something
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4, rtol=1e-4)


def test_other_bodies_are_left_as_they_are() -> None:
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    wide_mix = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 4, 3))
    grouped = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 6, 1, groups=3))
    strided = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 4, 1, stride=2))
    padded = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 4, 1, padding=1))
    for body in (plain, wide_mix, grouped, strided, padded, nn.Sequential(nn.PixelUnshuffle(2))):
        assert fuse_space_to_depth(body) is body


def test_the_shipped_graphs_have_no_transpose() -> None:
    """The bundled ONNX files were exported fused: no Transpose (the space-to-depth) in either."""
    onnx = pytest.importorskip("onnx")
    manifest = read_manifest(detector_dir())
    for name in (DETECTOR_NAME, FILLER_NAME):
        graph = onnx.load(str(detector_dir() / manifest[name]["fp32"].filename)).graph
        operators = {node.op_type for node in graph.node}
        assert "Conv" in operators and not operators & {"Transpose", "SpaceToDepth"}, (name, operators)
