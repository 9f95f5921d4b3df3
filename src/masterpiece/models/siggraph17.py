"""The SIGGRAPH 2017 user-guided colorization network (Zhang, Zhu, Isola et al.).

"Real-Time User-Guided Image Colorization with Learned Deep Priors": a U-Net over the
ECCV 2016 trunk that sees ``L``, a sparse user ab hint map and its mask (4 channels) and
regresses ab at the full input resolution. A side head classifies ab at 1/4 resolution
over a 23x23 grid (529 bins) to suggest likely colours at a point. The module and parameter
names are those of the published PyTorch checkpoint.

Layout for a 256x256 input (channels @ resolution)::

    model1..model3  4 -> 64 @256, 128 @128, 256 @64 (downsampling by taking every 2nd pixel)
    model4..model7  512 @32 (model5 and model6 dilated by 2)
    model8up + model3short8 -> model8    256 @64   -> model_class: 529 bin logits @64
    model9up + model2short9 -> model9    128 @128
    model10up + model1short10 -> model10 128 @256  -> model_out: tanh, x 110 = ab @256
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ._base import AB_SCALE, ColorizationModel, ColorPrediction, hints_or_zeros, normalize_l
from ._registry import register_model
from .catalogue import SIGGRAPH17_WEIGHTS, builtin  # noqa: F401  (re-exported: the metadata lives in the catalogue)
from .eccv16 import conv_block, upsample_x2

#: the classification head's ab grid: step 10 from -110 to 110 on both axes (23 x 23 bins)
GRID_LIMIT = 110.0
GRID_STEP = 10.0
GRID_SIDE = 23
#: subtracted from the hint mask before it is fed to the network
MASK_CENTER = 0.5
#: input sides must be multiples of this (three halvings, then three doublings)
SIZE_MULTIPLE = 8


def grid_bin_centers() -> torch.Tensor:
    """The 529 classification bins: ``(529, 2)`` float32 ab, index ``23 * a_index + b_index``."""
    levels = torch.linspace(-GRID_LIMIT, GRID_LIMIT, GRID_SIDE)
    a, b = torch.meshgrid(levels, levels, indexing="ij")
    return torch.stack((a.flatten(), b.flatten()), dim=1)


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


def _check_size(lightness: torch.Tensor) -> None:
    height, width = lightness.shape[-2:]
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise InvalidInputError(
            f"siggraph17 needs an input whose height and width are multiples of {SIZE_MULTIPLE}, "
            f"got {height}x{width}; resize the L image first (the pipeline does this for you)"
        )


class SIGGRAPH17Colorizer(ColorizationModel):
    """The SIGGRAPH 2017 network (see the module docstring for the layout)."""

    accepts_hints = builtin("siggraph17").accepts_hints  # stated once, in the catalogue
    decoder = "regression"
    int8_float_modules = ("model1", "model1short10", "model10up", "model10")

    def __init__(self) -> None:
        super().__init__()
        self.model1 = conv_block(4, 64, 2)
        self.model2 = conv_block(64, 128, 2)
        self.model3 = conv_block(128, 256, 3)
        self.model4 = conv_block(256, 512, 3)
        self.model5 = conv_block(512, 512, 3, dilation=2)
        self.model6 = conv_block(512, 512, 3, dilation=2)
        self.model7 = conv_block(512, 512, 3)
        self.model8up = nn.Sequential(upsample_x2(512, 256))
        self.model3short8 = nn.Sequential(_conv3x3(256, 256))
        self.model8 = nn.Sequential(nn.ReLU(inplace=True), *conv_block(256, 256, 2))
        self.model9up = nn.Sequential(upsample_x2(256, 128))
        self.model2short9 = nn.Sequential(_conv3x3(128, 128))
        self.model9 = nn.Sequential(nn.ReLU(inplace=True), *conv_block(128, 128, 1))
        self.model10up = nn.Sequential(upsample_x2(128, 128))
        self.model1short10 = nn.Sequential(_conv3x3(64, 128))
        self.model10 = nn.Sequential(
            nn.ReLU(inplace=True), _conv3x3(128, 128), nn.LeakyReLU(negative_slope=0.2)
        )
        self.model_class = nn.Sequential(nn.Conv2d(256, GRID_SIDE * GRID_SIDE, kernel_size=1))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, kernel_size=1), nn.Tanh())
        self.register_buffer("grid_centers", grid_bin_centers(), persistent=False)

    @property
    def bin_centers(self) -> torch.Tensor:
        """``(529, 2)`` centres (Lab units) of the classification head's bins."""
        return self.grid_centers

    def predict(
        self,
        lightness: torch.Tensor,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
    ) -> ColorPrediction:
        """Run the network.

        Args:
            lightness: ``(B, 1, H, W)`` L in [0, 100]; ``H`` and ``W`` multiples of 8.
            hint_ab: ``(B, 2, H, W)`` user ab in Lab units where ``hint_mask`` is 1, else 0;
                ``None`` for automatic mode.
            hint_mask: ``(B, 1, H, W)`` 1 where the user set a colour, else 0.

        Returns:
            ``ab`` ``(B, 2, H, W)`` in [-110, 110] and class ``logits`` ``(B, 529, H/4, W/4)``.
        """
        _check_size(lightness)
        hint_ab, hint_mask = hints_or_zeros(lightness, hint_ab, hint_mask)
        x = torch.cat((normalize_l(lightness), hint_ab / AB_SCALE, hint_mask - MASK_CENTER), dim=1)
        conv1 = self.model1(x)
        conv2 = self.model2(conv1[:, :, ::2, ::2])
        conv3 = self.model3(conv2[:, :, ::2, ::2])
        trunk = conv3[:, :, ::2, ::2]
        for block in (self.model4, self.model5, self.model6, self.model7):
            trunk = block(trunk)
        conv8 = self.model8(self.model8up(trunk) + self.model3short8(conv3))
        conv9 = self.model9(self.model9up(conv8) + self.model2short9(conv2))
        conv10 = self.model10(self.model10up(conv9) + self.model1short10(conv1))
        return ColorPrediction(logits=self.model_class(conv8), ab=self.model_out(conv10) * AB_SCALE)


@register_model()
def siggraph17(**kwargs: object) -> SIGGRAPH17Colorizer:
    """The SIGGRAPH 2017 colorizer with random weights (``create_model`` loads the published ones)."""
    return SIGGRAPH17Colorizer(**kwargs)
