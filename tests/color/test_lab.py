"""Lab conversions against reference values.

Reference values were computed with scikit-image 0.26 (``skimage.color.rgb2lab``, D65/2°)
and checked against the CIE formulas by hand for white and black.
"""

import numpy as np
import pytest
import torch

from masterpiece.color.lab import (
    fit_chroma_to_gamut,
    gray_to_lightness,
    lab_to_linear_rgb,
    lab_to_rgb,
    rgb_to_lab,
    rgb_to_lab_array,
    rgb_to_lightness,
)

# (sRGB in [0, 1], Lab) pairs from skimage.color.rgb2lab
REFERENCE = [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.2408, 80.0925, 67.2032)),
    ((0.0, 1.0, 0.0), (87.7347, -86.1827, 83.1793)),
    ((0.0, 0.0, 1.0), (32.2970, 79.1875, -107.8602)),
    ((0.5, 0.5, 0.5), (53.3890, 0.0, 0.0)),
]


def _pixel(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype).view(3, 1, 1)


@pytest.mark.parametrize(("rgb", "lab"), REFERENCE)
def test_rgb_to_lab_matches_reference(rgb, lab):
    result = rgb_to_lab(_pixel(rgb))[:, 0, 0]
    assert result.tolist() == pytest.approx(lab, abs=0.01)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5), (2, 2, 3, 1, 1)])
def test_round_trip_keeps_shape_and_values(shape):
    rgb = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert back.shape == rgb.shape
    assert torch.allclose(back, rgb, atol=1e-9)


def test_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"\(\*, 3, H, W\)"):
        rgb_to_lab(torch.rand(4, 8, 8))


def test_out_of_gamut_colour_keeps_lightness_and_hue():
    lab = torch.tensor([60.0, 90.0, -80.0]).view(3, 1, 1)
    assert (lab_to_linear_rgb(lab) > 1).any() or (lab_to_linear_rgb(lab) < 0).any()
    fitted = fit_chroma_to_gamut(lab)
    assert fitted[0].item() == pytest.approx(60.0)
    ratio = fitted[1:] / lab[1:]
    assert ratio[0].item() == pytest.approx(ratio[1].item(), rel=1e-6)  # same hue
    assert 0.5 < ratio[0].item() < 1.0
    rgb = lab_to_rgb(lab)
    assert rgb_to_lab(rgb.double())[0].item() == pytest.approx(60.0, abs=0.05)


def test_clipping_instead_of_fitting_shifts_lightness():
    lab = torch.tensor([60.0, 90.0, -80.0]).view(3, 1, 1)
    clipped = lab_to_rgb(lab, fit_gamut=False)
    assert abs(rgb_to_lab(clipped)[0].item() - 60.0) > 1.0


def test_in_gamut_pixels_are_untouched():
    lab = rgb_to_lab(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(fit_chroma_to_gamut(lab), lab)


def test_gray_to_lightness_equals_full_conversion():
    gray = torch.linspace(0, 1, 256).view(1, 1, 256)
    expected = rgb_to_lightness(gray.expand(3, 1, 256))
    assert torch.allclose(gray_to_lightness(gray), expected, atol=1e-4)


def test_opencv_conversion_agrees_with_torch():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    fast = rgb_to_lab_array(rgb)
    exact = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255).permute(1, 2, 0).numpy()
    assert np.abs(fast - exact).max() < 0.5
