"""Masterpiece's own compact colorization network (the bundled offline model).

A small encoder-decoder that takes the SIGGRAPH 2017 inputs (``L``, a sparse ab hint map
and its mask) and predicts, at 1/4 of the input resolution, both a distribution over the
quantized ab bins (decoded with the annealed mean, as in ECCV 2016) and a regressed ab.

Layout for a 256x256 input (channels @ resolution)::

    stem    4 -> 32 @128 -> 64 @64 -> 128 @32 -> 256 @16
    context 3 dilated residual blocks @16 (dilation 1, 2, 4) + global context (image mean)
    decoder 256 @16 -> 128 @32 (+skip) -> 64 @64 (+skip, + pooled hints)
    heads   1x1 -> Q bin logits @64, 1x1 -> ab @64

About 4.5 M parameters and 3.5 GFLOPs at 256x256.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..color.quantize import gamut_bin_centers
from ._base import AB_SCALE, ColorizationModel, ColorPrediction, hints_or_zeros, normalize_l
from ._registry import register_model
from .catalogue import builtin


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _ResidualBlock(nn.Module):
    """Two 3x3 convolutions (the second dilated) with an identity shortcut."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(channels, channels, dilation=dilation)
        self.conv2 = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(self.conv1(x)))


class _UpMerge(nn.Module):
    """Upsample x2, project to the skip's width, add the skip, refine with a 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int, extra_channels: int = 0) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.refine = nn.Sequential(
            _conv_bn_relu(out_channels + extra_channels, out_channels),
            _conv_bn_relu(out_channels, out_channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = F.relu(self.project(x) + skip)
        if extra is not None:
            x = torch.cat((x, extra), dim=1)
        return self.refine(x)


class CompactColorizer(ColorizationModel):
    """The compact hint-aware colorizer (see the module docstring for the layout).

    Args:
        num_bins: number of ab bins; their centres default to :func:`gamut_bin_centers`.
        width: channels of the first stage (later stages double it up to ``8 * width``).
    """

    accepts_hints = builtin("compact").accepts_hints  # stated once, in the catalogue
    decoder = "classification"
    #: how the two heads are combined, stated in the catalogue (MODEL_CARD.md measures it)
    annealed_weight = builtin("compact").annealed_weight
    regression_tint = builtin("compact").regression_tint
    int8_float_modules = ("stage1",)

    def __init__(self, num_bins: int | None = None, width: int = 32) -> None:
        super().__init__()
        centers = gamut_bin_centers()
        if num_bins is not None and num_bins != centers.shape[0]:
            centers = torch.zeros(num_bins, 2)  # filled in by the loaded weights
        self.register_buffer("ab_bin_centers", centers)
        c1, c2, c3, c4 = width, 2 * width, 4 * width, 8 * width
        self.stage1 = nn.Sequential(_conv_bn_relu(4, c1, stride=2), _conv_bn_relu(c1, c1))  # 1/2
        self.stage2 = nn.Sequential(_conv_bn_relu(c1, c2, stride=2), _conv_bn_relu(c2, c2))  # 1/4
        self.stage3 = nn.Sequential(_conv_bn_relu(c2, c3, stride=2), _conv_bn_relu(c3, c3))  # 1/8
        self.stage4 = nn.Sequential(_conv_bn_relu(c3, c4, stride=2), _conv_bn_relu(c4, c4))  # 1/16
        self.context = nn.Sequential(*(_ResidualBlock(c4, d) for d in (1, 2, 4)))
        self.global_context = nn.Sequential(nn.Linear(c4, c4), nn.ReLU(inplace=True))
        self.up3 = _UpMerge(c4, c3)
        self.up2 = _UpMerge(c3, c2, extra_channels=3)
        self.class_head = nn.Conv2d(c2, centers.shape[0], 1)
        self.regression_head = nn.Conv2d(c2, 2, 1)

    @property
    def bin_centers(self) -> torch.Tensor:
        return self.ab_bin_centers

    def predict(
        self,
        lightness: torch.Tensor,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
    ) -> ColorPrediction:
        """``(B, 1, H, W)`` L (+ hints) -> logits ``(B, Q, H/4, W/4)`` and ab ``(B, 2, H/4, W/4)``.

        ``H`` and ``W`` should be multiples of 16 (the pipeline resizes to such sizes).
        """
        hint_ab, hint_mask = hints_or_zeros(lightness, hint_ab, hint_mask)
        hint_ab = hint_ab * hint_mask / AB_SCALE
        x = torch.cat((normalize_l(lightness), hint_ab, hint_mask - 0.5), dim=1)
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        f4 = self.context(self.stage4(f3))
        f4 = f4 + self.global_context(f4.mean(dim=(2, 3)))[:, :, None, None]
        pooled_hints = self._pool_hints(hint_ab, hint_mask, f2.shape[-2:])
        features = self.up2(self.up3(f4, f3), f2, pooled_hints)
        ab = torch.tanh(self.regression_head(features)) * AB_SCALE
        return ColorPrediction(logits=self.class_head(features), ab=ab)

    @staticmethod
    def _pool_hints(hint_ab: torch.Tensor, hint_mask: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """Hints at the decoder's resolution: mean hinted ab per cell and hinted fraction."""
        mask = _average_pool(hint_mask, size)
        ab = _average_pool(hint_ab * hint_mask, size) / mask.clamp(min=1e-6)
        return torch.cat((ab, mask), dim=1)


def _average_pool(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Adaptive average pooling to ``size``; a plain ``avg_pool2d`` when the sides divide evenly.

    Both give the same values; the plain pooling also exports to ONNX with dynamic sides.
    """
    height, width = x.shape[-2:]
    if height % size[0] == 0 and width % size[1] == 0 and height // size[0] == width // size[1]:
        return F.avg_pool2d(x, kernel_size=int(height // size[0]))
    return F.adaptive_avg_pool2d(x, size)


@register_model()
def compact(**kwargs: object) -> CompactColorizer:
    """The bundled compact colorizer (about 4.5 M parameters)."""
    return CompactColorizer(**kwargs)
