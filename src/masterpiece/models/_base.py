"""The contract every colorization network in the model zoo fulfils.

A model sees the lightness ``L`` of an image (CIE Lab, ``L`` in [0, 100]) and, when it
accepts hints, a sparse map of user colours; it predicts the ``ab`` chroma. Normalization
constants live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..color.annealed import blend_decoded
from ..color.quantize import decode_annealed_mean
from .catalogue import DEFAULT_TEMPERATURE

#: ``L`` is fed to the networks as ``(L - L_CENTER) / L_SCALE``.
L_CENTER = 50.0
L_SCALE = 100.0
#: ``ab`` is fed to and predicted by the networks divided by ``AB_SCALE``.
AB_SCALE = 110.0


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """Map ``L`` in [0, 100] to the network range [-0.5, 0.5]."""
    return (lightness - L_CENTER) / L_SCALE


def hints_or_zeros(
    lightness: torch.Tensor, hint_ab: torch.Tensor | None, hint_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The given hint maps, or empty ones (automatic mode) shaped like ``lightness``.

    Returns:
        ``(hint_ab (B, 2, H, W), hint_mask (B, 1, H, W))``.
    """
    if hint_ab is not None and hint_mask is not None:
        return hint_ab, hint_mask
    batch, _, height, width = lightness.shape
    return lightness.new_zeros(batch, 2, height, width), lightness.new_zeros(batch, 1, height, width)


@dataclass
class ColorPrediction:
    """Raw network outputs before decoding.

    Attributes:
        logits: ``(B, Q, h, w)`` unnormalized scores over the model's ab bins, or ``None``
            for models without a classification head.
        ab: ``(B, 2, h', w')`` regressed ab in Lab units (about [-110, 110]), or ``None``.
    """

    logits: torch.Tensor | None = None
    ab: torch.Tensor | None = None


class ColorizationModel(nn.Module):
    """Base class: ``predict`` runs the network, ``decode`` turns its output into ab.

    Subclasses set ``accepts_hints`` (the built-in ones read it from their catalogue entry,
    :func:`~masterpiece.models.catalogue.builtin`) and implement :meth:`predict`. Models with a
    classification head expose their bin centres through :attr:`bin_centers`.
    """

    accepts_hints: bool = False
    #: ``"classification"`` decodes ab by annealed mean over bins, ``"regression"`` uses the
    #: regression head.
    decoder: str = "classification"
    #: weight of the annealed mean when a classification model also has a regression head:
    #: ``decode`` returns ``w * annealed + (1 - w) * regressed`` (1: the annealed mean alone)
    annealed_weight: float = 1.0
    #: how far ``decode`` then moves the image's mean ab from that blend's to the regression
    #: head's (0: not at; 1: all the way), see :func:`~masterpiece.color.annealed.blend_decoded`
    regression_tint: float = 0.0
    #: submodules left in float32 by int8 quantization: the full-resolution layers, whose
    #: few input channels (``L`` and hints) quantize badly (measured on the bundled model:
    #: quantizing its first block alone moves ab by 2.2 on average, the rest together by 0.3)
    int8_float_modules: tuple[str, ...] = ()

    @property
    def bin_centers(self) -> torch.Tensor | None:
        """``(Q, 2)`` ab centres (Lab units) of the classification bins, or ``None``."""
        return None

    def predict(
        self,
        lightness: torch.Tensor,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
    ) -> ColorPrediction:
        """Run the network.

        Args:
            lightness: ``(B, 1, H, W)`` float, ``L`` in [0, 100].
            hint_ab: ``(B, 2, H, W)`` user ab in Lab units where ``hint_mask`` is 1, else 0.
                Ignored by models that do not accept hints.
            hint_mask: ``(B, 1, H, W)`` 1 where the user set a colour, else 0.
        """
        raise NotImplementedError

    def decode(self, prediction: ColorPrediction, temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
        """Turn a prediction into ``(B, 2, h, w)`` ab in Lab units.

        ``temperature`` applies to the annealed mean of classification models (1 = plain
        mean, towards 0 = mode); regression models ignore it.
        """
        if self.decoder == "classification" and prediction.logits is not None:
            centers = self.bin_centers
            assert centers is not None, "classification models must define bin_centers"
            annealed = decode_annealed_mean(prediction.logits, centers, temperature)
            if prediction.ab is None or prediction.ab.shape != annealed.shape:
                return annealed
            return blend_decoded(annealed, prediction.ab, self.annealed_weight, self.regression_tint)
        if prediction.ab is None:
            raise RuntimeError(f"{type(self).__name__} produced neither logits nor ab")
        return prediction.ab

    def forward(
        self,
        lightness: torch.Tensor,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        predict_only: bool = False,
    ):
        """``predict`` then ``decode``: ``(B, 1, H, W)`` L -> ``(B, 2, h, w)`` ab.

        With ``predict_only`` it returns the raw ``(logits, ab)`` pair instead (either may be
        ``None``); distributed training calls the model this way so gradients synchronize.
        """
        prediction = self.predict(lightness, hint_ab, hint_mask)
        if predict_only:
            return prediction.logits, prediction.ab
        return self.decode(prediction, temperature)
