"""sRGB <-> CIE Lab (D65) on torch tensors, shaped ``(*, 3, H, W)``: for training and evaluation.

Inference uses the NumPy versions of the same formulas (:mod:`masterpiece.color.lab_np`, no
torch); the constants are shared and ``tests/color/test_lab.py`` pins the two together.
Constants are built on the input's device and dtype. ``lab_to_rgb`` brings colours that
fall outside the sRGB gamut inside by reducing their chroma at constant ``L`` (never by
clipping RGB channels, which would shift the lightness).
"""

from __future__ import annotations

import torch

from .lab_np import D65_WHITE as _D65_WHITE
from .lab_np import DELTA as _DELTA
from .lab_np import RGB_TO_XYZ as _RGB_TO_XYZ
from .lab_np import rgb_to_lab_array

__all__ = [
    "fit_chroma_to_gamut",
    "gray_to_lightness",
    "lab_to_linear_rgb",
    "lab_to_rgb",
    "linear_to_srgb",
    "max_chroma_in_gamut",
    "rgb_to_lab",
    "rgb_to_lab_array",
    "rgb_to_lightness",
    "srgb_to_linear",
]


def _channel_matrix(matrix: tuple[tuple[float, ...], ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(matrix, device=like.device, dtype=like.dtype)


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply each pixel's 3-vector by ``matrix``; ``image`` is ``(*, 3, H, W)``."""
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve; input and output in [0, 1]."""
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0.0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve; input and output in [0, 1] (clamped at 0)."""
    linear = linear.clamp(min=0.0)
    return torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1.0 / 2.4) - 0.055)


def _check_channels(image: torch.Tensor, what: str) -> None:
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"{what} must be shaped (*, 3, H, W), got {tuple(image.shape)}")


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """Convert sRGB to CIE Lab (D65).

    Args:
        image: ``(*, 3, H, W)`` float RGB in [0, 1].

    Returns:
        ``(*, 3, H, W)`` Lab: ``L`` in [0, 100], ``a`` and ``b`` in about [-128, 127].
    """
    _check_channels(image, "image")
    xyz = _apply_matrix(_channel_matrix(_RGB_TO_XYZ, image), srgb_to_linear(image))
    white = torch.tensor(_D65_WHITE, device=image.device, dtype=image.dtype).view(3, 1, 1)
    t = xyz / white
    f = torch.where(t > _DELTA**3, t.clamp(min=_DELTA**3) ** (1.0 / 3.0), t / (3 * _DELTA**2) + 4.0 / 29.0)
    fx, fy, fz = f.unbind(-3)
    lightness = 116.0 * fy - 16.0
    return torch.stack((lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_linear_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (D65) to linear RGB, without any gamut handling (values may leave [0, 1])."""
    _check_channels(lab, "lab")
    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack((fy + a / 500.0, fy, fy - b / 200.0), dim=-3)
    t = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0))
    white = torch.tensor(_D65_WHITE, device=lab.device, dtype=lab.dtype).view(3, 1, 1)
    xyz_to_rgb = torch.linalg.inv(_channel_matrix(_RGB_TO_XYZ, lab).double()).to(lab.dtype)
    return _apply_matrix(xyz_to_rgb, t * white)


def _out_of_gamut(linear: torch.Tensor, tolerance: float) -> torch.Tensor:
    """``(*, H, W)`` bool: any channel of ``(*, 3, H, W)`` linear RGB outside [0, 1]."""
    return ((linear < -tolerance) | (linear > 1.0 + tolerance)).any(dim=-3)


def fit_chroma_to_gamut(lab: torch.Tensor, steps: int = 12, tolerance: float = 1e-4) -> torch.Tensor:
    """Scale down ``ab`` of out-of-gamut pixels until they fit sRGB, keeping ``L`` and hue.

    For each pixel outside the gamut, finds by bisection the largest ``s`` in [0, 1] such
    that ``(L, s*a, s*b)`` is inside (``s = 0``, a neutral grey, always is for ``L`` in
    [0, 100]). Pixels already inside are untouched.

    Args:
        lab: ``(*, 3, H, W)`` Lab with ``L`` in [0, 100].
        steps: bisection steps (12 gives a chroma error below 0.03 %).

    Returns:
        Lab of the same shape whose colours are all inside the sRGB gamut.
    """
    outside = _out_of_gamut(lab_to_linear_rgb(lab), tolerance)
    if not bool(outside.any()):
        return lab
    # Work on the out-of-gamut pixels only, as an (N, 3, 1, 1) batch.
    flat = lab.movedim(-3, -1)[outside]  # (N, 3)
    lightness, ab = flat[:, :1], flat[:, 1:]
    low = torch.zeros_like(lightness)
    high = torch.ones_like(lightness)
    for _ in range(steps):
        mid = (low + high) / 2
        candidate = torch.cat((lightness, ab * mid), dim=1)[:, :, None, None]
        inside = ~_out_of_gamut(lab_to_linear_rgb(candidate), tolerance)[:, 0, 0, None]
        low = torch.where(inside, mid, low)
        high = torch.where(inside, high, mid)
    fitted = lab.movedim(-3, -1).clone()
    fitted[outside] = torch.cat((lightness, ab * low), dim=1)
    return fitted.movedim(-1, -3)


def max_chroma_in_gamut(
    lightness: torch.Tensor, hue: torch.Tensor, steps: int = 18, tolerance: float = 1e-4
) -> torch.Tensor:
    """The largest chroma ``C`` such that ``(L, C cos h, C sin h)`` is inside the sRGB gamut.

    Bisection on ``C`` in [0, 200] (every sRGB colour has a chroma below 134), 18 steps: a
    resolution under 0.001 chroma units.

    Args:
        lightness: ``L`` in [0, 100], any shape.
        hue: hue angles in radians, the same shape.

    Returns:
        Chroma of the same shape and dtype (0 at ``L`` = 0 and ``L`` = 100).
    """
    low = torch.zeros_like(lightness)
    high = torch.full_like(lightness, 200.0)
    cosine, sine = torch.cos(hue), torch.sin(hue)
    for _ in range(steps):
        mid = (low + high) / 2
        candidate = torch.stack((lightness, mid * cosine, mid * sine), dim=-1).reshape(-1, 3)[:, :, None, None]
        inside = (~_out_of_gamut(lab_to_linear_rgb(candidate), tolerance)[:, 0, 0]).reshape(lightness.shape)
        low = torch.where(inside, mid, low)
        high = torch.where(inside, high, mid)
    return low


def lab_to_rgb(lab: torch.Tensor, fit_gamut: bool = True) -> torch.Tensor:
    """Convert CIE Lab (D65) to sRGB.

    Args:
        lab: ``(*, 3, H, W)`` Lab, ``L`` in [0, 100], ``ab`` in about [-128, 127].
        fit_gamut: reduce the chroma of out-of-gamut colours at constant ``L`` first (keeps
            the lightness exact). ``False`` clips the RGB channels instead.

    Returns:
        ``(*, 3, H, W)`` RGB in [0, 1].
    """
    if fit_gamut:
        lab = fit_chroma_to_gamut(lab)
    return linear_to_srgb(lab_to_linear_rgb(lab)).clamp(0.0, 1.0)


def rgb_to_lightness(image: torch.Tensor) -> torch.Tensor:
    """``(*, 3, H, W)`` RGB in [0, 1] -> ``(*, 1, H, W)`` CIE ``L`` in [0, 100]."""
    return rgb_to_lab(image)[..., :1, :, :]


def gray_to_lightness(gray: torch.Tensor) -> torch.Tensor:
    """``(*, 1, H, W)`` gray sRGB value in [0, 1] -> ``L`` in [0, 100] (same shape).

    A gray pixel has equal R, G and B, so its ``L`` depends on that one value alone.
    """
    y = srgb_to_linear(gray)
    f = torch.where(y > _DELTA**3, y.clamp(min=_DELTA**3) ** (1.0 / 3.0), y / (3 * _DELTA**2) + 4.0 / 29.0)
    return 116.0 * f - 16.0

