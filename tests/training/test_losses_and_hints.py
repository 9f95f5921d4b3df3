import pytest
import torch

from masterpiece.color.quantize import gamut_bin_centers
from masterpiece.models import ColorPrediction
from masterpiece.training.hints import simulate_hints
from masterpiece.training.losses import ColorizationLoss, class_prior_from_ab


def _loss(mix=0.5, regression_weight=0.0):
    centers = gamut_bin_centers()
    prior = torch.full((len(centers),), 1.0 / len(centers), dtype=torch.float64)
    return ColorizationLoss(centers, prior, rebalance_mix=mix, regression_weight=regression_weight), centers


def test_loss_is_minimal_at_the_soft_target_and_equals_its_entropy():
    loss, centers = _loss()
    true_ab = torch.zeros(1, 2, 8, 8)  # exactly on the (0, 0) centre: 4 neighbours at distance 10
    neighbour = torch.exp(torch.tensor(-100.0 / 50.0))  # Gaussian kernel, sigma 5
    weights = torch.tensor([1.0, neighbour, neighbour, neighbour, neighbour]) / (1 + 4 * neighbour)
    entropy = -(weights * weights.log()).sum().item()  # 1.1396...
    from masterpiece.color.quantize import soft_encode_dense

    target = soft_encode_dense(torch.zeros(1, 2, 2, 2), centers)
    best = loss(ColorPrediction(logits=(target + 1e-12).log()), true_ab)["loss"].item()
    assert best == pytest.approx(entropy, abs=1e-3)
    peaked = torch.full((1, len(centers), 2, 2), -10.0)
    peaked[:, centers.tolist().index([0.0, 0.0])] = 10.0
    assert loss(ColorPrediction(logits=peaked), true_ab)["loss"].item() > best


def test_uniform_prior_gives_unit_rebalancing_weights():
    loss, _ = _loss()
    assert torch.allclose(loss.class_weights, torch.ones_like(loss.class_weights))


def test_class_weights_of_a_real_prior_average_to_one(photo_ab):
    """The paper's normalisation of the loss weights, E[w] = sum_q p_q w_q = 1, under the
    smoothed empirical distribution of a real photograph's ab (lambda 1/2)."""
    centers = gamut_bin_centers()
    prior = class_prior_from_ab([photo_ab], centers)
    weights = ColorizationLoss(centers, prior, rebalance_mix=0.5).class_weights.double()
    assert float((prior * weights).sum()) == pytest.approx(1.0, abs=1e-6)
    assert float(weights.max()) > 10 * float(weights.min())  # a real prior: far from flat


def test_regression_term_counts_only_with_weight():
    loss, centers = _loss(regression_weight=2.0)
    true_ab = torch.full((1, 2, 8, 8), 30.0)
    prediction = ColorPrediction(logits=torch.zeros(1, len(centers), 2, 2), ab=torch.zeros(1, 2, 2, 2))
    parts = loss(prediction, true_ab)
    assert parts["regression"] > 0
    assert parts["loss"].item() == pytest.approx((parts["classification"] + 2.0 * parts["regression"]).item(), rel=1e-5)


def test_prior_peaks_at_the_dominant_colour():
    centers = gamut_bin_centers()
    ab = torch.zeros(1, 2, 10, 10)
    ab[..., :2] = 40.0
    prior = class_prior_from_ab([ab], centers)
    assert centers[prior.argmax()].tolist() == [0.0, 0.0]
    assert prior.sum().item() == pytest.approx(1.0)


def test_hints_mix_automatic_images_and_geometric_counts():
    generator = torch.Generator().manual_seed(0)
    true_ab = torch.randn(2000, 2, 16, 16, generator=generator) * 20
    hint_ab, hint_mask = simulate_hints(true_ab, generator, hint_probability=0.5, geometric_p=0.125, max_patch=1)
    counts = hint_mask.sum(dim=(1, 2, 3))  # 1-pixel patches: one pixel per hint, unless two coincide
    automatic = (counts == 0).float().mean().item()
    assert 0.45 < automatic < 0.55
    assert 6.5 < counts[counts > 0].mean().item() < 8.5  # 1 + geometric(1/8): mean 8, minus overlaps
    revealed = hint_mask[:, 0] > 0
    assert torch.allclose(hint_ab.movedim(1, -1)[revealed], true_ab.movedim(1, -1)[revealed])
    assert torch.all(hint_ab.movedim(1, -1)[~revealed] == 0)
