"""The fast Lab -> sRGB path against the exact one."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from masterpiece.color.fast import fit_chroma_with_table, lab_to_rgb_fast, max_chroma_table
from masterpiece.color.lab import lab_to_linear_rgb, lab_to_rgb, max_chroma_in_gamut


def _random_lab(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, 100, (size, size)), rng.uniform(-110, 110, (size, size)),
                     rng.uniform(-110, 110, (size, size))], axis=-1).astype(np.float32)


def test_max_chroma_is_the_edge_of_the_gamut() -> None:
    lightness = torch.tensor([20.0, 50.0, 80.0], dtype=torch.float64)
    hue = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    chroma = max_chroma_in_gamut(lightness, hue)
    for scale, inside in ((0.999, True), (1.01, False)):
        lab = torch.stack((lightness, scale * chroma * torch.cos(hue), scale * chroma * torch.sin(hue)), dim=-1)
        linear = lab_to_linear_rgb(lab.T[None, :, :, None])
        assert bool(((linear >= -1e-4) & (linear <= 1 + 1e-4)).all(dim=1).all()) is inside
    table = max_chroma_table()
    assert np.all(table[0] < 2) and np.all(table[-1] < 2)  # black and white have no chroma
    np.testing.assert_array_equal(table[:, 0], table[:, -1])  # the hue wraps around


def test_fast_conversion_is_within_one_delta_e_of_the_exact_one() -> None:
    lab = _random_lab(256)  # most of these colours are outside the sRGB gamut
    exact = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    fast = lab_to_rgb_fast(lab[..., 0], lab[..., 1], lab[..., 2], table=True)
    assert fast.dtype == np.float32 and fast.shape == lab.shape
    assert fast.min() >= 0.0 and fast.max() <= 1.0
    delta_e = np.linalg.norm(cv2.cvtColor(fast, cv2.COLOR_RGB2Lab) - cv2.cvtColor(exact, cv2.COLOR_RGB2Lab), axis=-1)
    assert delta_e.max() < 1.0 and delta_e.mean() < 0.1
    # lightness kept: chroma is reduced, channels are not clipped
    assert np.abs(cv2.cvtColor(fast, cv2.COLOR_RGB2Lab)[..., 0] - lab[..., 0]).max() < 0.5


def test_colours_inside_the_gamut_are_not_changed() -> None:
    lab = np.array([[50.0, 10.0, -10.0], [70.0, -20.0, 30.0], [30.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(fit_chroma_with_table(lab), lab, rtol=0, atol=1e-4)
    pure = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]], np.float32)  # black and white stay put
    rgb = lab_to_rgb_fast(pure[:, 0:1], pure[:, 1:2], pure[:, 2:3], table=True)
    np.testing.assert_allclose(rgb[:, 0], [[0, 0, 0], [1, 1, 1]], atol=1e-3)


def test_abrupt_gamut_edges_are_fitted_exactly() -> None:
    # a saturated yellow near white: the gamut edge has a narrow spike there
    lab = np.array([[96.59954, -23.937044, 95.928406]], np.float32)
    exact = fit_chroma_with_table(lab)
    reference = lab_to_rgb(torch.from_numpy(lab.T.copy())[None, :, :, None])[0, :, 0, 0].numpy()
    np.testing.assert_allclose(cv2.cvtColor(exact[:, None, :], cv2.COLOR_Lab2RGB)[0, 0], reference, atol=0.01)


def test_panoramas_wider_than_opencv_maps_are_converted() -> None:
    # cv2.remap takes no side of 32767 or more: wide (or tall) planes are cut into blocks
    rng = np.random.default_rng(2)
    for shape in ((3, 40_000), (40_000, 2)):
        lab = np.stack([rng.uniform(0, 100, shape), rng.uniform(-110, 110, shape), rng.uniform(-110, 110, shape)],
                       axis=-1).astype(np.float32)
        fast = lab_to_rgb_fast(lab[..., 0], lab[..., 1], lab[..., 2], table=True)
        exact = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
        assert fast.shape == (*shape, 3)
        delta_e = np.linalg.norm(cv2.cvtColor(fast, cv2.COLOR_RGB2Lab) - cv2.cvtColor(exact, cv2.COLOR_RGB2Lab), axis=-1)
        assert delta_e.mean() < 0.1 and delta_e.max() < 1.0


def test_planes_one_pixel_wide_or_tall() -> None:
    # found by fuzzing: OpenCV read a Python scalar as a matrix when a plane was one column wide
    for shape in ((4, 1), (1, 4), (1, 1), (5, 1)):
        lab = np.zeros((*shape, 3), np.float32)
        lab[..., 0], lab[..., 1], lab[..., 2] = 40.0, 15.5, 6.1
        fast = lab_to_rgb_fast(lab[..., 0], lab[..., 1], lab[..., 2], table=True)
        exact = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(fast, exact, atol=2e-3)


def test_bright_colours_where_the_gamut_is_not_one_interval_stay_inside() -> None:
    # found in review: near white the gamut along a chroma ray can be inside, outside, inside;
    # the table holds the far edge, so fitted colours there are checked and fitted exactly
    rng = np.random.default_rng(3)
    n = 200_000
    lightness = rng.uniform(85, 100, n).astype(np.float32)
    hue = rng.choice([np.deg2rad(100), np.deg2rad(200)], n) + rng.normal(0, 0.15, n)
    chroma = rng.uniform(0, 120, n)
    a, b = (chroma * np.cos(hue)).astype(np.float32), (chroma * np.sin(hue)).astype(np.float32)
    planes = [p.reshape(400, 500) for p in (lightness, a, b)]
    fast = lab_to_rgb_fast(*planes, table=True)
    exact = lab_to_rgb(torch.from_numpy(np.stack(planes))[None])[0].permute(1, 2, 0).numpy()
    delta_e = np.linalg.norm(cv2.cvtColor(fast, cv2.COLOR_RGB2Lab) - cv2.cvtColor(exact, cv2.COLOR_RGB2Lab), axis=-1)
    assert delta_e.max() < 1.0
    worst = np.array([[[95.38, -14.65, 70.08]]], np.float32)  # 15 delta E apart before the check
    fast_worst = lab_to_rgb_fast(worst[..., 0], worst[..., 1], worst[..., 2], table=True)
    exact_worst = lab_to_rgb(torch.from_numpy(worst).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(fast_worst, exact_worst, atol=0.01)


def test_small_images_are_fitted_exactly_without_building_the_table() -> None:
    # a one-photo command should not pay for the table (about 0.3 s to build)
    lab = _random_lab(64, seed=5)
    max_chroma_table.cache_clear()
    fast = lab_to_rgb_fast(lab[..., 0], lab[..., 1], lab[..., 2])
    assert max_chroma_table.cache_info().currsize == 0
    exact = lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    delta_e = np.linalg.norm(cv2.cvtColor(fast, cv2.COLOR_RGB2Lab) - cv2.cvtColor(exact, cv2.COLOR_RGB2Lab), axis=-1)
    assert delta_e.max() < 0.5 and delta_e.mean() < 0.02  # OpenCV's own Lab -> sRGB rounding
