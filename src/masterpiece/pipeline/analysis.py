"""Looking inside a prediction: the colours a model considers at each point, and its doubt.

Classification models (every registered one has a classification head) predict, for each
cell of a coarse grid (a quarter of the network's input side), a probability distribution
over quantized ``ab`` bins (``model.bin_centers``). The :class:`Colorizer` decodes it into a
single colour by the annealed mean; this module keeps the whole distribution:

- :func:`predict_distribution` runs the network once and returns a :class:`ColorDistribution`;
- :meth:`ColorDistribution.suggest` (and :func:`suggest_colors`) lists the most probable
  distinct colours at one point, drawn at that point's own lightness (swatches for hints);
- :meth:`ColorDistribution.uncertainty` (and :func:`uncertainty_map`) is the normalized
  entropy of the distribution: 0 where the model is sure, 1 where every bin is equally likely;
- :func:`heatmap_overlay` paints an uncertainty map over the grayscale photo;
- :func:`downscale` makes a screen-sized copy of an image for display, and
  :func:`rescale_hints` carries hints over to it.

The probabilities are those of the network at temperature 1 (the annealed-mean temperature
changes the decoded colour, not the model's belief).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np

from ..color.annealed import softmax
from ..color.lab_np import lab_to_rgb
from ..errors import InvalidHintError, InvalidInputError, ModelError
from .bands import band_lightness, network_lightness, upsample_ab
from .decoding import LoadedImage
from .image import ColorHint, Colorizer, hint_maps

__all__ = [
    "ColorDistribution",
    "ColorSuggestion",
    "downscale",
    "heatmap_overlay",
    "predict_distribution",
    "rescale_hints",
    "suggest_colors",
    "uncertainty_map",
]

logger = logging.getLogger(__name__)

ImageInput = LoadedImage | np.ndarray

#: bins closer than this (Lab units) to an already suggested one are skipped: the grids of
#: the registered models have a step of 10, so this skips direct and diagonal neighbours.
DEFAULT_MIN_DISTANCE = 15.0
#: half side, in pixels, of the window whose mean lightness colours a suggestion's swatch
_SWATCH_RADIUS = 2
#: default opacity of the heat map over the photo
DEFAULT_OPACITY = 0.6


class ColorSuggestion(NamedTuple):
    """One colour the model considers at a point.

    Attributes:
        rgb: sRGB ``(r, g, b)`` in 0..255: the bin's ``ab`` at the point's lightness.
        probability: the bin's probability in [0, 1] (temperature 1).
    """

    rgb: tuple[int, int, int]
    probability: float

    @property
    def hex(self) -> str:
        """The colour as ``"#rrggbb"``."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


@dataclass(frozen=True, eq=False)
class ColorDistribution:
    """A model's predicted distribution over ``ab`` bins for one image.

    Attributes:
        probabilities: ``(Q, h, w)`` float32 on the CPU, each cell summing to 1 over ``Q``
            (softmax of the logits at temperature 1); ``(h, w)`` is the network's output grid.
        centers: ``(Q, 2)`` float32 ``ab`` centres of the bins, Lab units (about [-110, 110]).
        lightness: ``(H, W)`` float32 ``L`` in [0, 100] of the full-resolution image.
    """

    probabilities: np.ndarray
    centers: np.ndarray
    lightness: np.ndarray

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the full-resolution image."""
        return self.lightness.shape[1], self.lightness.shape[0]

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """``(row, column)`` of the grid cell covering full-resolution pixel ``(x, y)``.

        Raises:
            InvalidHintError: ``(x, y)`` lies outside the image.
        """
        width, height = self.image_size
        if not (0 <= x < width and 0 <= y < height):
            raise InvalidHintError(f"point ({x}, {y}) lies outside the {width}x{height} image")
        grid_h, grid_w = self.probabilities.shape[-2:]
        return min(int(y * grid_h / height), grid_h - 1), min(int(x * grid_w / width), grid_w - 1)

    def suggest(
        self, x: float, y: float, k: int = 6, min_distance: float = DEFAULT_MIN_DISTANCE
    ) -> list[ColorSuggestion]:
        """The ``k`` most probable distinct colours at full-resolution pixel ``(x, y)``.

        Bins are taken in order of probability, skipping any within ``min_distance`` (Lab
        units) of one already taken and any that looks the same once drawn (very dark or light
        points leave little room for chroma). Each colour is the bin's ``ab`` at the mean
        lightness of a small window around the point, brought into the sRGB gamut.

        Returns:
            Up to ``k`` suggestions, most probable first.
        """
        row, column = self.cell_of(x, y)
        probabilities = self.probabilities[:, row, column]
        order = np.argsort(-probabilities, kind="stable")
        centres = self.centers[order]
        distances = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)
        lab = self._lab_at(x, y, centres)
        colours = np.round(lab_to_rgb(lab.T[:, None, :])[:, 0, :].T * 255.0).astype(np.uint8).tolist()
        chosen: list[int] = []
        for position, rgb in enumerate(colours):
            if len(chosen) == k:
                break
            near = bool((distances[position, chosen] < min_distance).any()) if chosen else False
            if not near and all(colours[taken] != rgb for taken in chosen):
                chosen.append(position)
        return [ColorSuggestion(tuple(colours[p]), float(probabilities[order[p]])) for p in chosen]

    def _lab_at(self, x: float, y: float, ab: np.ndarray) -> np.ndarray:
        """``(N, 3)`` Lab: the ``(N, 2)`` ``ab`` at the mean ``L`` around ``(x, y)``."""
        column, row = int(x), int(y)
        window = self.lightness[
            max(0, row - _SWATCH_RADIUS) : row + _SWATCH_RADIUS + 1,
            max(0, column - _SWATCH_RADIUS) : column + _SWATCH_RADIUS + 1,
        ]
        lightness = np.full((ab.shape[0], 1), float(window.mean()), dtype=ab.dtype)
        return np.concatenate((lightness, ab), axis=1)

    def uncertainty(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """Normalized entropy of the distribution, upsampled bilinearly.

        Args:
            size: ``(width, height)`` of the map; ``None`` for the full image.

        Returns:
            ``(height, width)`` float32 in [0, 1]: 0 where one bin has all the probability,
            1 where all ``Q`` bins are equally likely.
        """
        width, height = size or self.image_size
        p = self.probabilities
        entropy = -(p * np.log(np.maximum(p, 1e-12))).sum(axis=0) / math.log(p.shape[0])
        grid = upsample_ab(entropy.astype(np.float32)[None], (height, width))[0]
        return np.clip(grid, 0.0, 1.0).astype(np.float32, copy=False)


def _rgb_of(image: ImageInput) -> np.ndarray:
    rgb = image.rgb if isinstance(image, LoadedImage) else image
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        found = getattr(rgb, "shape", type(rgb))
        raise InvalidInputError(
            f"expected an (H, W, 3) float RGB array or a LoadedImage, got {found}"
        )
    return rgb


def predict_distribution(
    colorizer: Colorizer, image: ImageInput, hints: Sequence[ColorHint] = ()
) -> ColorDistribution:
    """Run ``colorizer``'s network once and keep its distribution over ``ab`` bins.

    The network sees the image's ``L`` at ``colorizer.size`` (as when colorizing) and the
    hints if the model accepts them (ignored otherwise, with a log message).

    Args:
        colorizer: a loaded model and its settings (``model``, ``size``, ``device``).
        image: a :class:`LoadedImage`, or ``(H, W, 3)`` float32 sRGB in [0, 1].
        hints: colour hints in full-resolution pixel coordinates.

    Raises:
        ModelError: the model has no classification head (no distribution to show).
        InvalidHintError: a hint lies outside the image or is malformed.
    """
    rgb = np.ascontiguousarray(_rgb_of(image), dtype=np.float32)
    backend = colorizer.backend
    centers = backend.bin_centers
    if centers is None:
        raise ModelError(
            f"model {colorizer.model_name!r} predicts no colour distribution; choose a model "
            "with a classification head (compact, eccv16, siggraph17)"
        )
    network_l = network_lightness(rgb, colorizer.size)
    maps = None
    if hints and colorizer.accepts_hints:
        maps = hint_maps(hints, (rgb.shape[1], rgb.shape[0]), (colorizer.size, colorizer.size))
    elif hints:
        logger.info("model %s does not accept hints; they are ignored", colorizer.model_name)
    logits = backend.logits(network_l, maps)
    if logits is None:
        raise ModelError(f"model {colorizer.model_name!r} returned no class logits")
    return ColorDistribution(
        probabilities=softmax(logits[0], axis=0),
        centers=np.asarray(centers, np.float32),
        lightness=band_lightness(rgb),
    )


def suggest_colors(
    colorizer: Colorizer,
    image: ImageInput,
    x: float,
    y: float,
    hints: Sequence[ColorHint] = (),
    k: int = 6,
) -> list[ColorSuggestion]:
    """The ``k`` most probable distinct colours the model sees at pixel ``(x, y)``.

    One network run; to ask about several points, call :func:`predict_distribution` once and
    :meth:`ColorDistribution.suggest` for each.

    Returns:
        ``[(rgb 0..255 tuple, probability in [0, 1]), ...]`` most probable first.
    """
    return predict_distribution(colorizer, image, hints).suggest(x, y, k)


def uncertainty_map(
    colorizer: Colorizer, image: ImageInput, hints: Sequence[ColorHint] = ()
) -> np.ndarray:
    """Where the model is unsure of the colour: ``(H, W)`` float32 in [0, 1].

    The normalized entropy of the predicted distribution, upsampled to the full image.
    """
    return predict_distribution(colorizer, image, hints).uncertainty()


def heatmap_overlay(
    rgb: np.ndarray, uncertainty: np.ndarray, opacity: float = DEFAULT_OPACITY
) -> np.ndarray:
    """Paint ``uncertainty`` (inferno colour map: dark = sure, yellow = unsure) over the photo.

    Args:
        rgb: ``(H, W, 3)`` float sRGB in [0, 1] (its gray version is the background).
        uncertainty: ``(H, W)`` float in [0, 1].
        opacity: weight of the heat map, in [0, 1].

    Returns:
        ``(H, W, 3)`` float32 sRGB in [0, 1].
    """
    if uncertainty.shape != rgb.shape[:2]:
        raise InvalidInputError(
            f"uncertainty {uncertainty.shape} must match the image {rgb.shape[:2]}"
        )
    if not 0.0 <= opacity <= 1.0:
        raise InvalidInputError(f"opacity must be in [0, 1], got {opacity}")
    levels = (np.clip(uncertainty, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    heat = cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)[..., ::-1].astype(np.float32) / 255.0
    gray = np.clip(rgb, 0.0, 1.0).astype(np.float32).mean(axis=2, keepdims=True)
    return (1.0 - opacity) * gray + opacity * heat


def downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """A copy no larger than ``max_side`` on its longer side (area averaging), for display.

    Args:
        rgb: ``(H, W, C)`` or ``(H, W)`` float32 (any range) or uint8.
        max_side: the longest side allowed, in pixels (at least 1).

    Returns:
        The same array when it is small enough, else the resized one (same dtype).
    """
    if max_side < 1:
        raise InvalidInputError(f"max_side must be at least 1, got {max_side}")
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def rescale_hints(
    hints: Sequence[ColorHint], from_size: tuple[int, int], to_size: tuple[int, int]
) -> tuple[ColorHint, ...]:
    """The same hints on a resized copy of the image.

    Args:
        hints: hints in pixel coordinates of an image of ``from_size`` ``(width, height)``.
        to_size: ``(width, height)`` of the resized copy.

    Returns:
        Hints at the same relative places in ``to_size`` pixel coordinates (colour and size,
        which is in network pixels, unchanged).
    """
    (from_w, from_h), (to_w, to_h) = from_size, to_size
    return tuple(
        replace(hint, x=hint.x * to_w / from_w, y=hint.y * to_h / from_h) for hint in hints
    )
