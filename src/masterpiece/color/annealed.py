"""Annealed-mean decoding on NumPy arrays (inference, no torch).

``f_T(z) = softmax(log z / T)`` then the expectation over the bin centres: with logits this is
``softmax(logits / T)``. ``T = 1`` is the plain mean, ``T -> 0`` the mode. The PyTorch version
for training and evaluation is :func:`masterpiece.color.quantize.decode_annealed_mean`
(``tests/color/test_quantize.py`` pins the two together).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..settings import DEFAULT_TEMPERATURE

#: the smallest annealed-mean temperature accepted: below it ``logits / T`` overflows float32
#: (1e-300 gave NaN colours) and the result is the mode anyway
MIN_TEMPERATURE = 0.01


def check_temperature(temperature: float) -> float:
    """Validate an annealed-mean temperature (must be in [:data:`MIN_TEMPERATURE`, 10])."""
    if not MIN_TEMPERATURE <= float(temperature) <= 10.0:
        raise ConfigError(
            f"temperature must be between {MIN_TEMPERATURE} and 10, got {temperature}; "
            f"{DEFAULT_TEMPERATURE} is the paper's value, 1 the plain mean, lower values tend to the most likely colour"
        )
    return float(temperature)


def softmax(values: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax along ``axis``, float32 (the maximum is subtracted first: no overflow)."""
    shifted = np.asarray(values, np.float32) - np.max(values, axis=axis, keepdims=True)
    weights = np.exp(shifted, out=shifted)
    weights /= weights.sum(axis=axis, keepdims=True)
    return weights


def annealed_mean(logits: np.ndarray, centers: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Annealed mean of a distribution over ab bins.

    Args:
        logits: ``(B, Q, H, W)`` unnormalized log-probabilities.
        centers: ``(Q, 2)`` bin centres in Lab units.
        temperature: in [0.01, 10].

    Returns:
        ``(B, 2, H, W)`` float32 ab in Lab units.
    """
    temperature = check_temperature(temperature)
    weights = softmax(np.asarray(logits, np.float32) / np.float32(temperature), axis=1)
    return np.einsum("bqhw,qc->bchw", weights, np.asarray(centers, np.float32), optimize=True)


def _image_mean(ab):
    """``(B, 2, 1, 1)`` mean over each image's cells of ``(B, 2, h, w)`` NumPy or torch ab."""
    if isinstance(ab, np.ndarray):
        return ab.mean(axis=(-2, -1), keepdims=True)
    return ab.mean(dim=(-2, -1), keepdim=True)


def blend_decoded(annealed, regressed, annealed_weight: float, regression_tint: float = 0.0):
    """Combine the annealed mean with the regression head's ab.

    Works on NumPy arrays and torch tensors alike (``(B, 2, h, w)`` ab in Lab units, the same
    shape; each of the ``B`` images is one whole picture, as the network sees it).

    1. ``annealed_weight`` times the annealed mean plus the rest times the regression head's
       ab. A weight of 1 is the annealed mean alone (the paper's decoding), 0 the regression
       head alone: the annealed mean keeps rare, saturated colours, the regression head the
       average colour.
    2. The image's overall tint (its mean ab) is then moved ``regression_tint`` of the way to
       the regression head's mean ab; the colours around that mean are left as they are. The
       regression head is trained for the average colour, so its mean is the least biased
       guess of the whole picture's tint, while the annealed mean's tint drifts towards the
       saturated warm tones that made faces look seen through a red filter (MODEL_CARD.md
       measures the choice).

    Args:
        annealed: annealed-mean ab.
        regressed: the regression head's ab.
        annealed_weight: in [0, 1].
        regression_tint: in [0, 1]; 0 leaves the blend's tint as it is.
    """
    if annealed_weight >= 1.0:
        decoded = annealed
    elif annealed_weight <= 0.0:
        decoded = regressed
    else:
        decoded = annealed_weight * annealed + (1.0 - annealed_weight) * regressed
    if regression_tint <= 0.0 or decoded is regressed:
        return decoded
    return decoded + regression_tint * (_image_mean(regressed) - _image_mean(decoded))
