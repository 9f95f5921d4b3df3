import pytest
import torch

from masterpiece.color.quantize import (
    BinLookup,
    decode_annealed_mean,
    gamut_bin_centers,
    nearest_bin,
    rebalancing_weights,
    smooth_prior,
    soft_encode,
    soft_encode_dense,
)
from masterpiece.errors import ConfigError


def test_gamut_bins_are_the_plain_srgb_gamut_test():
    centers = gamut_bin_centers()
    assert centers.shape == (262, 2)  # the number the reference notes give for a plain gamut test
    assert torch.all(centers % 10 == 0)
    assert [0.0, 0.0] in centers.tolist()


def test_soft_encoding_sums_to_one_and_peaks_at_nearest_bin():
    centers = gamut_bin_centers()
    ab = torch.tensor([[[[3.0]], [[-12.0]]]])  # nearest bin (0, -10)
    dense = soft_encode_dense(ab, centers)
    assert dense.sum(1).item() == pytest.approx(1.0)
    assert (dense > 0).sum().item() == 5
    assert centers[dense[0, :, 0, 0].argmax()].tolist() == [0.0, -10.0]
    assert nearest_bin(ab, centers).item() == dense[0, :, 0, 0].argmax().item()


def test_soft_encoding_weights_follow_gaussian_kernel():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, 0.0], [0.0, -10.0], [50.0, 50.0]])
    ab = torch.zeros(1, 2, 1, 1)
    _, weights = soft_encode(ab, centers, neighbors=5, sigma=5.0)
    w = weights[0, :, 0, 0]
    # centre weight exp(0), the four neighbours exp(-100 / 50) each, normalized
    expected_center = 1.0 / (1.0 + 4.0 * torch.exp(torch.tensor(-2.0)).item())
    assert w.max().item() == pytest.approx(expected_center, rel=1e-5)


def test_lookup_matches_exact_soft_encoding_closely():
    centers = gamut_bin_centers()
    ab = torch.randn(2, 2, 12, 12, generator=torch.Generator().manual_seed(0)) * 40
    exact = soft_encode_dense(ab, centers)
    indices, weights = BinLookup(centers).soft_encode(ab)
    fast = torch.zeros_like(exact).scatter_(1, indices, weights)
    assert (exact - fast).abs().sum(1).mean().item() < 0.05


@pytest.mark.parametrize("temperature", [0.01, 0.38, 1.0])
def test_annealed_mean_interpolates_between_mode_and_mean(temperature):
    centers = torch.tensor([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0]])
    probabilities = torch.tensor([0.5, 0.3, 0.2]).view(1, 3, 1, 1)
    ab = decode_annealed_mean(probabilities.log(), centers, temperature)[0, :, 0, 0]
    mean = torch.tensor([12.0, 8.0])
    if temperature == 1.0:
        assert ab.tolist() == pytest.approx(mean.tolist(), abs=1e-5)
    elif temperature == 0.01:
        assert ab.tolist() == pytest.approx([0.0, 0.0], abs=1e-3)  # the mode
    else:
        assert 0 < ab[0] < mean[0] and 0 < ab[1] < mean[1]


@pytest.mark.parametrize("temperature", [0.0, -1.0, 11.0])
def test_bad_temperature_is_a_config_error(temperature):
    with pytest.raises(ConfigError, match="temperature"):
        decode_annealed_mean(torch.zeros(1, 3, 1, 1), torch.zeros(3, 2), temperature)


def test_rebalancing_weights_favour_rare_bins_and_have_unit_expectation():
    centers = gamut_bin_centers()
    counts = torch.ones(len(centers))
    counts[0] = 1000.0
    prior = smooth_prior(counts, centers)
    weights = rebalancing_weights(prior, 0.5)
    assert (prior * weights.double()).sum().item() == pytest.approx(1.0, rel=1e-5)
    assert weights[0] < weights[100]
    assert torch.allclose(rebalancing_weights(prior, 1.0), torch.ones(len(centers)))


def test_temperatures_below_the_minimum_are_refused() -> None:
    import pytest

    from masterpiece.color.quantize import MIN_TEMPERATURE, check_temperature
    from masterpiece.errors import ConfigError

    assert check_temperature(MIN_TEMPERATURE) == MIN_TEMPERATURE
    for bad in (1e-300, 0.0, -1.0, 10.5):
        with pytest.raises(ConfigError, match="temperature must be between"):
            check_temperature(bad)
