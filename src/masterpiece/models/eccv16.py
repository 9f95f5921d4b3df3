"""The ECCV 2016 colorization network (Zhang, Isola, Efros, "Colorful Image Colorization").

A VGG-like stack of eight convolution blocks sees ``L`` only and predicts a distribution
over Q = 313 quantized ab bins at 1/4 of the input resolution. The module and parameter
names are those of the published PyTorch checkpoint, so its file loads as published.

Layout for a 256x256 input (channels @ resolution)::

    model1  1 -> 64 @128      2 convs, the second with stride 2, BatchNorm
    model2  128 @64           2 convs, stride 2, BatchNorm
    model3  256 @32           3 convs, stride 2, BatchNorm
    model4  512 @32           3 convs, BatchNorm
    model5  512 @32           3 convs with dilation 2, BatchNorm
    model6  512 @32           3 convs with dilation 2, BatchNorm
    model7  512 @32           3 convs, BatchNorm
    model8  256 @64 -> 313    transposed conv x2, 2 convs, 1x1 conv to the bin logits
    model_out 313 -> 2        1x1 conv without bias: its columns are the bin centres / 110

The published model outputs ``upsample4(model_out(softmax(logits))) * 110`` (the plain mean,
T = 1). Here :meth:`ECCV16Colorizer.predict` returns the ``model8`` logits and the inherited
``decode`` takes the annealed mean over :attr:`ECCV16Colorizer.bin_centers` at any
temperature; the pipeline upsamples ab to the image size.
"""

from __future__ import annotations

import torch
from torch import nn

from ._base import AB_SCALE, ColorizationModel, ColorPrediction, normalize_l
from ._registry import register_model
from .catalogue import ECCV16_WEIGHTS, builtin  # noqa: F401  (re-exported: the metadata lives in the catalogue)

#: number of quantized ab bins of the published model
NUM_BINS = 313


def conv_block(
    in_channels: int,
    out_channels: int,
    num_convs: int,
    *,
    last_stride: int = 1,
    dilation: int = 1,
    batch_norm: bool = True,
) -> nn.Sequential:
    """``num_convs`` 3x3 convolutions, each followed by ReLU, then an optional BatchNorm.

    Only the last convolution has stride ``last_stride``. Module indices are those of the
    published checkpoints: convolutions at 0, 2, 4, ... and the BatchNorm at ``2 * num_convs``.
    """
    layers: list[nn.Module] = []
    for index in range(num_convs):
        stride = last_stride if index == num_convs - 1 else 1
        layers.append(
            nn.Conv2d(
                in_channels if index == 0 else out_channels,
                out_channels,
                kernel_size=3,
                stride=stride,
                padding=dilation,
                dilation=dilation,
            )
        )
        layers.append(nn.ReLU(inplace=True))
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


def upsample_x2(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """The transposed 4x4 convolution with stride 2 that doubles the resolution."""
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)


class ECCV16Colorizer(ColorizationModel):
    """The ECCV 2016 network (see the module docstring for the layout).

    Input ``L`` sides should be multiples of 8 for the output to be exactly 1/4 of them.
    """

    accepts_hints = builtin("eccv16").accepts_hints  # stated once, in the catalogue
    decoder = "classification"
    int8_float_modules = ("model1",)

    def __init__(self) -> None:
        super().__init__()
        self.model1 = conv_block(1, 64, 2, last_stride=2)
        self.model2 = conv_block(64, 128, 2, last_stride=2)
        self.model3 = conv_block(128, 256, 3, last_stride=2)
        self.model4 = conv_block(256, 512, 3)
        self.model5 = conv_block(512, 512, 3, dilation=2)
        self.model6 = conv_block(512, 512, 3, dilation=2)
        self.model7 = conv_block(512, 512, 3)
        self.model8 = nn.Sequential(
            upsample_x2(512, 256),
            nn.ReLU(inplace=True),
            *conv_block(256, 256, 2, batch_norm=False),
            nn.Conv2d(256, NUM_BINS, kernel_size=1),
        )
        self.model_out = nn.Conv2d(NUM_BINS, 2, kernel_size=1, bias=False)

    @property
    def bin_centers(self) -> torch.Tensor:
        """``(313, 2)`` bin centres in Lab units, read from ``model_out`` (columns x 110)."""
        return self.model_out.weight[:, :, 0, 0].T * AB_SCALE

    def predict(
        self,
        lightness: torch.Tensor,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
    ) -> ColorPrediction:
        """``(B, 1, H, W)`` L in [0, 100] -> logits ``(B, 313, H/4, W/4)``; hints are ignored."""
        features = normalize_l(lightness)
        for block in (
            self.model1,
            self.model2,
            self.model3,
            self.model4,
            self.model5,
            self.model6,
            self.model7,
        ):
            features = block(features)
        return ColorPrediction(logits=self.model8(features))


@register_model()
def eccv16(**kwargs: object) -> ECCV16Colorizer:
    """The ECCV 2016 colorizer with random weights (``create_model`` loads the published ones)."""
    return ECCV16Colorizer(**kwargs)
