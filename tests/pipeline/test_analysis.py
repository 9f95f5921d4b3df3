"""The predicted distribution: colour suggestions, uncertainty, the heat map, display helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masterpiece.color.lab import lab_to_rgb
from masterpiece.errors import InvalidHintError, InvalidInputError, ModelError
from masterpiece.models import ColorizationModel, ColorPrediction, create_model
from masterpiece.pipeline.analysis import (
    downscale,
    heatmap_overlay,
    predict_distribution,
    rescale_hints,
    suggest_colors,
    uncertainty_map,
)
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.image import ColorHint, Colorizer

# Five bins: gray, its neighbour 10 units away, and three far apart (Lab units).
CENTERS = torch.tensor([[0.0, 0.0], [10.0, 0.0], [50.0, 50.0], [-40.0, 30.0], [0.0, -60.0]])


class FixedLogits(ColorizationModel):
    """Predicts the given ``(Q, h, w)`` logits whatever it sees; records the hint masks."""

    accepts_hints = True

    def __init__(self, logits: torch.Tensor, centers: torch.Tensor | None = CENTERS) -> None:
        super().__init__()
        self.logits = logits
        self.centers = centers
        self.hint_pixels: list[float] = []

    @property
    def bin_centers(self) -> torch.Tensor | None:
        return self.centers

    def predict(self, lightness, hint_ab=None, hint_mask=None) -> ColorPrediction:
        self.hint_pixels.append(0.0 if hint_mask is None else float(hint_mask.sum()))
        return ColorPrediction(logits=self.logits[None].expand(lightness.shape[0], -1, -1, -1))


def gray(value: float, height: int = 48, width: int = 64) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.float32)


def colorizer_for(probabilities: list[float], grid: tuple[int, int] = (4, 4)) -> Colorizer:
    """A colorizer whose model predicts ``probabilities`` over CENTERS in every cell."""
    logits = torch.log(torch.tensor(probabilities)).view(-1, 1, 1).expand(-1, *grid).clone()
    return Colorizer(FixedLogits(logits), size=32)


def test_distribution_of_the_compact_model(gray_photo: np.ndarray) -> None:
    torch.manual_seed(0)
    colorizer = Colorizer(create_model("compact", pretrained=False))
    found = predict_distribution(colorizer, read_image(gray_photo))
    bins = colorizer.model.bin_centers.shape[0]
    assert found.probabilities.shape == (bins, 64, 64)  # a quarter of the 256 network input
    np.testing.assert_allclose(found.probabilities.sum(axis=0), np.ones((64, 64)), atol=1e-5)
    assert found.centers.shape == (bins, 2)
    assert found.lightness.shape == (96, 128) and found.image_size == (128, 96)
    assert 0.0 <= found.lightness.min() and found.lightness.max() <= 100.0


def test_suggestions_are_the_likeliest_distinct_colours_at_the_points_lightness() -> None:
    colorizer = colorizer_for([0.4, 0.3, 0.15, 0.1, 0.05])
    found = suggest_colors(colorizer, gray(128 / 255), 10, 10, k=3)
    # the neighbour of the gray bin (10 units away) is skipped
    assert [round(item.probability, 6) for item in found] == [0.4, 0.15, 0.1]
    lightness = predict_distribution(colorizer, gray(128 / 255)).lightness[0, 0]
    for item, (a, b) in zip(found, [(0.0, 0.0), (50.0, 50.0), (-40.0, 30.0)]):
        lab = torch.tensor([float(lightness), a, b]).view(3, 1, 1)
        expected = (lab_to_rgb(lab)[:, 0, 0] * 255.0).round().int().tolist()
        assert list(item.rgb) == expected
    assert found[0].rgb == (128, 128, 128)  # gray bin at the gray's own lightness: itself
    assert found[0].hex == "#808080"


def test_suggestions_follow_the_cell_under_the_point() -> None:
    logits = torch.full((5, 4, 4), -10.0)
    logits[2, :, :2] = 10.0  # left half: the (50, 50) bin
    logits[3, :, 2:] = 10.0  # right half: the (-40, 30) bin
    colorizer = Colorizer(FixedLogits(logits), size=32)
    found = predict_distribution(colorizer, gray(0.5))
    left, right = found.suggest(5, 20, k=1)[0], found.suggest(60, 20, k=1)[0]
    assert left.rgb != right.rgb
    assert left.rgb[0] > left.rgb[1] and right.rgb[1] > right.rgb[0]  # red-ish, green-ish
    with pytest.raises(InvalidHintError, match="outside"):
        found.suggest(64, 20)


def test_very_dark_points_do_not_repeat_a_colour() -> None:
    found = suggest_colors(colorizer_for([0.3, 0.05, 0.25, 0.2, 0.2]), gray(0.0), 3, 3, k=5)
    colours = [item.rgb for item in found]
    assert colours[0] == (0, 0, 0) and len(set(colours)) == len(colours)


def test_uncertainty_is_normalized_entropy() -> None:
    uniform = uncertainty_map(colorizer_for([0.2] * 5), gray(0.5))
    assert uniform.shape == (48, 64) and uniform.dtype == np.float32
    np.testing.assert_allclose(uniform, 1.0, atol=1e-5)
    sure = uncertainty_map(colorizer_for([1.0 - 4e-9, 1e-9, 1e-9, 1e-9, 1e-9]), gray(0.5))
    assert float(sure.max()) < 1e-6
    half = predict_distribution(colorizer_for([0.5, 0.5, 1e-12, 1e-12, 1e-12]), gray(0.5))
    np.testing.assert_allclose(half.uncertainty((8, 6)), np.log(2) / np.log(5), atol=1e-4)
    assert half.uncertainty((8, 6)).shape == (6, 8)


def test_hints_reach_models_that_accept_them() -> None:
    colorizer = colorizer_for([0.2] * 5)
    predict_distribution(colorizer, gray(0.5), [ColorHint(10, 10, "#ff0000", size=3)])
    assert colorizer.model.hint_pixels[-1] == 9.0
    colorizer.model.accepts_hints = False
    predict_distribution(colorizer, gray(0.5), [ColorHint(10, 10, "#ff0000")])
    assert colorizer.model.hint_pixels[-1] == 0.0


def test_a_model_without_bins_has_no_distribution() -> None:
    model = FixedLogits(torch.zeros(5, 4, 4), centers=None)
    with pytest.raises(ModelError, match="no colour distribution"):
        predict_distribution(Colorizer(model, size=32), gray(0.5))


def test_bad_image_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"\(H, W, 3\)"):
        predict_distribution(colorizer_for([0.2] * 5), np.zeros((4, 4), np.float32))


def test_heatmap_overlay() -> None:
    rgb = np.zeros((2, 3, 3), np.float32)
    rgb[..., 0] = 0.9  # red: its gray is 0.3
    uncertainty = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
    np.testing.assert_allclose(heatmap_overlay(rgb, uncertainty, opacity=0.0), 0.3, atol=1e-6)
    heat = heatmap_overlay(rgb, uncertainty, opacity=1.0)
    assert heat.shape == (2, 3, 3) and heat.dtype == np.float32
    assert heat[0].max() < 0.1  # sure: near black
    red, green, blue = heat[1, 0]
    assert red > 0.9 and green > 0.9 and blue < 0.8  # unsure: pale yellow
    with pytest.raises(InvalidInputError, match="must match"):
        heatmap_overlay(rgb, uncertainty[:1])


def test_downscale_keeps_small_images_and_shrinks_large_ones() -> None:
    small = np.zeros((10, 20, 3), np.float32)
    assert downscale(small, 20) is small
    large = np.ones((100, 300, 3), np.float32) * 0.25
    shrunk = downscale(large, 60)
    assert shrunk.shape == (20, 60, 3) and shrunk.dtype == np.float32
    np.testing.assert_allclose(shrunk, 0.25, atol=1e-6)
    with pytest.raises(InvalidInputError):
        downscale(large, 0)


def test_rescale_hints() -> None:
    hints = [ColorHint(100.0, 50.0, "#123456", size=5)]
    [moved] = rescale_hints(hints, (400, 200), (100, 50))
    assert (moved.x, moved.y, moved.color, moved.size) == (25.0, 12.5, "#123456", 5)
