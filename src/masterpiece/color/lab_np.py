"""sRGB <-> CIE Lab (D65) on NumPy arrays shaped ``(*, 3, H, W)``: what inference uses.

The same formulas as :mod:`masterpiece.color.lab` (the PyTorch versions that training and
evaluation use on tensors), in float32 arithmetic where the input is float32: the two agree
within float32 rounding (``tests/color/test_lab.py`` runs the same reference values through
both). This module imports no torch, so colorizing needs only NumPy, OpenCV and ONNX Runtime.
``lab_to_rgb`` brings colours outside the sRGB gamut inside by reducing their chroma at
constant ``L`` (never by clipping RGB channels, which would shift the lightness).
"""

from __future__ import annotations

import cv2
import numpy as np

#: sRGB (D65) primaries: linear RGB -> XYZ (the PyTorch module uses these too)
RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
D65_WHITE = (0.950456, 1.0, 1.088754)
DELTA = 6.0 / 29.0


def _float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image if np.issubdtype(image.dtype, np.floating) else image.astype(np.float32)


def _check_channels(image: np.ndarray, what: str) -> None:
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ValueError(f"{what} must be shaped (*, 3, H, W), got {tuple(image.shape)}")


def _apply_matrix(matrix: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Multiply each pixel's 3-vector by ``matrix``; ``image`` is ``(*, 3, H, W)``."""
    shape = image.shape
    return np.matmul(matrix, image.reshape(*shape[:-2], shape[-2] * shape[-1])).reshape(shape)


def _white(dtype: np.dtype) -> np.ndarray:
    return np.asarray(D65_WHITE, dtype).reshape(3, 1, 1)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve; input and output in [0, 1]."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((np.maximum(rgb, 0.0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer curve; input and output in [0, 1] (clamped at 0)."""
    linear = np.maximum(linear, 0.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1.0 / 2.4) - 0.055)


def _lab_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > DELTA**3, np.maximum(t, DELTA**3) ** (1.0 / 3.0), t / (3 * DELTA**2) + 4.0 / 29.0)


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """``(*, 3, H, W)`` float sRGB in [0, 1] -> Lab: ``L`` in [0, 100], ``a``, ``b`` in about [-128, 127]."""
    image = _float(image)
    _check_channels(image, "image")
    xyz = _apply_matrix(np.asarray(RGB_TO_XYZ, image.dtype), srgb_to_linear(image))
    f = _lab_f(xyz / _white(image.dtype))
    fx, fy, fz = f[..., 0, :, :], f[..., 1, :, :], f[..., 2, :, :]
    return np.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), axis=-3)


def rgb_to_lightness(image: np.ndarray) -> np.ndarray:
    """``(*, 3, H, W)`` RGB in [0, 1] -> ``(*, 1, H, W)`` CIE ``L`` in [0, 100]."""
    return rgb_to_lab(image)[..., :1, :, :]


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """Gray sRGB values in [0, 1] (any shape) -> ``L`` in [0, 100] (same shape)."""
    return 116.0 * _lab_f(srgb_to_linear(_float(gray))) - 16.0


def _f_inverse(f: np.ndarray) -> np.ndarray:
    """The inverse of the Lab companding function: ``f`` -> ``X / Xn`` (and ``Y``, ``Z``)."""
    return np.where(f > DELTA, f**3, 3 * DELTA**2 * (f - 4.0 / 29.0))


def _xyz_to_rgb(dtype: np.dtype) -> np.ndarray:
    return np.linalg.inv(np.asarray(RGB_TO_XYZ, np.float64)).astype(dtype)


def lab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) ``(*, 3, H, W)`` to linear RGB, without gamut handling (may leave [0, 1])."""
    lab = _float(lab)
    _check_channels(lab, "lab")
    lightness, a, b = lab[..., 0, :, :], lab[..., 1, :, :], lab[..., 2, :, :]
    fy = (lightness + 16.0) / 116.0
    t = _f_inverse(np.stack((fy + a / 500.0, fy, fy - b / 200.0), axis=-3))
    return _apply_matrix(_xyz_to_rgb(lab.dtype), t * _white(lab.dtype))


def out_of_gamut(linear: np.ndarray, tolerance: float = 1e-4) -> np.ndarray:
    """``(*, H, W)`` bool: any channel of ``(*, 3, H, W)`` linear RGB outside [0, 1]."""
    return ((linear < -tolerance) | (linear > 1.0 + tolerance)).any(axis=-3)


def _bisect_inside(lightness: np.ndarray, a: np.ndarray, b: np.ndarray, high: float, steps: int,
                   tolerance: float) -> np.ndarray:
    """The largest ``s`` in [0, ``high``] (by bisection) with ``(L, s a, s b)`` inside the gamut.

    All arguments are 1-D arrays of one length; returns ``s`` of that length. The arithmetic
    is :func:`lab_to_linear_rgb`'s, per channel: ``Y`` is the same all along a chroma ray.
    """
    white = D65_WHITE
    fy = (lightness + 16.0) / 116.0
    y = _f_inverse(fy) * white[1]
    a_step, b_step = a / 500.0, b / 200.0
    matrix = _xyz_to_rgb(lightness.dtype)
    low = np.zeros_like(lightness)
    upper = np.full_like(lightness, high)
    for _ in range(steps):
        mid = (low + upper) / 2
        x = _f_inverse(fy + a_step * mid) * white[0]
        z = _f_inverse(fy - b_step * mid) * white[2]
        inside = np.ones(lightness.shape, bool)
        for row in matrix:
            channel = row[0] * x + row[1] * y + row[2] * z
            inside &= (channel >= -tolerance) & (channel <= 1.0 + tolerance)
        low = np.where(inside, mid, low)
        upper = np.where(inside, upper, mid)
    return low


def fit_chroma_to_gamut(lab: np.ndarray, steps: int = 12, tolerance: float = 1e-4) -> np.ndarray:
    """Scale down ``ab`` of out-of-gamut pixels until they fit sRGB, keeping ``L`` and hue.

    For each pixel outside the gamut, finds by bisection the largest ``s`` in [0, 1] such that
    ``(L, s*a, s*b)`` is inside (``s = 0``, a neutral grey, always is for ``L`` in [0, 100]).

    Args:
        lab: ``(*, 3, H, W)`` Lab with ``L`` in [0, 100].
        steps: bisection steps (12 gives a chroma error below 0.03 %).

    Returns:
        Lab of the same shape whose colours are all inside the sRGB gamut (``lab`` itself
        when all are).
    """
    lab = _float(lab)
    outside = out_of_gamut(lab_to_linear_rgb(lab), tolerance)
    if not outside.any():
        return lab
    pixels = np.moveaxis(lab, -3, -1)[outside]  # (N, 3)
    lightness, ab = pixels[:, :1], pixels[:, 1:]
    low, high = np.zeros_like(lightness), np.ones_like(lightness)
    for _ in range(steps):  # as the PyTorch version: the same candidates, the same conversion
        mid = (low + high) / 2
        candidate = np.concatenate((lightness, ab * mid), axis=1)[:, :, None, None]
        inside = ~out_of_gamut(lab_to_linear_rgb(candidate), tolerance)[:, 0, 0, None]
        low, high = np.where(inside, mid, low), np.where(inside, high, mid)
    fitted = np.moveaxis(lab, -3, -1).copy()
    fitted[outside] = np.concatenate((lightness, ab * low), axis=1)
    return np.moveaxis(fitted, -1, -3)


def max_chroma_in_gamut(lightness: np.ndarray, hue: np.ndarray, steps: int = 18,
                        tolerance: float = 1e-4) -> np.ndarray:
    """The largest chroma ``C`` such that ``(L, C cos h, C sin h)`` is inside the sRGB gamut.

    Bisection on ``C`` in [0, 200] (every sRGB colour has a chroma below 134), 18 steps: a
    resolution under 0.001 chroma units.

    Args:
        lightness: ``L`` in [0, 100], any shape.
        hue: hue angles in radians, the same shape.

    Returns:
        Chroma of the same shape and dtype (0 at ``L`` = 0 and ``L`` = 100).
    """
    lightness, hue = _float(lightness), np.asarray(hue, _float(lightness).dtype)
    flat = lightness.reshape(-1)
    chroma = _bisect_inside(flat, np.cos(hue).reshape(-1), np.sin(hue).reshape(-1), 200.0, steps, tolerance)
    return chroma.reshape(lightness.shape)


def lab_to_rgb(lab: np.ndarray, fit_gamut: bool = True) -> np.ndarray:
    """CIE Lab (D65) ``(*, 3, H, W)`` -> sRGB in [0, 1], same shape.

    ``fit_gamut`` reduces the chroma of out-of-gamut colours at constant ``L`` first (keeps
    the lightness exact); ``False`` clips the RGB channels instead.
    """
    if fit_gamut:
        lab = fit_chroma_to_gamut(lab)
    return np.clip(linear_to_srgb(lab_to_linear_rgb(lab)), 0.0, 1.0)


def rgb_to_lab_array(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's fast sRGB -> Lab (D65) for one ``(H, W, 3)`` image (uint8, or float in [0, 1]).

    Returns ``(H, W, 3)`` float32 Lab; agrees with :func:`rgb_to_lab` within 0.5 Lab units.
    """
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)
