"""User colour hints as the networks take them: an ab map and a mask beside the lightness.

A hint is a colour a user (or the evaluation's simulated user) sets on a few pixels. The
networks that accept hints (SIGGRAPH17, the bundled compact model) read them as two dense
maps at their own resolution, and every layer from the samplers to the ONNX Runtime feed
passes them on together: :class:`HintMaps` is that pair. It is a ``NamedTuple``, so
``ab, mask = hints`` works, and it holds NumPy arrays (the pipeline, ONNX Runtime) or torch
tensors (training, the evaluation's samplers) alike. ``None`` in place of a :class:`HintMaps`
means "no hints" everywhere.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import InvalidHintError

__all__ = ["HintMaps", "adaptive_average", "float32_array"]


class HintMaps(NamedTuple):
    """Hint maps for a batch of images.

    Attributes:
        ab: ``(B, 2, h, w)`` float32, the hint's a and b (Lab units, about -110..110) where
            ``mask`` is 1, else 0. A NumPy array or a torch tensor.
        mask: ``(B, 1, h, w)`` float32 in {0, 1}: 1 where a hint is set. Same kind as ``ab``.
    """

    ab: Any
    mask: Any

    @classmethod
    def zeros(cls, batch: int, height: int, width: int) -> HintMaps:
        """No hint anywhere: NumPy float32 maps of ``batch`` images of ``height`` x ``width``."""
        return cls(np.zeros((batch, 2, height, width), np.float32), np.zeros((batch, 1, height, width), np.float32))

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` of the maps."""
        return int(self.mask.shape[-2]), int(self.mask.shape[-1])

    def checked(self) -> HintMaps:
        """The maps after checking their shapes agree.

        Raises:
            InvalidHintError: ``ab`` is not ``(B, 2, h, w)``, ``mask`` not ``(B, 1, h, w)``.
        """
        ab_shape, mask_shape = tuple(self.ab.shape), tuple(self.mask.shape)
        if len(ab_shape) != 4 or ab_shape[1] != 2 or mask_shape != (ab_shape[0], 1, *ab_shape[2:]):
            raise InvalidHintError(
                f"hint maps must be ab (B, 2, h, w) and mask (B, 1, h, w), got {ab_shape} and {mask_shape}"
            )
        return self

    def as_numpy(self) -> HintMaps:
        """Contiguous NumPy float32 maps (a torch tensor, on any device, is copied to the CPU)."""
        return HintMaps(float32_array(self.ab), float32_array(self.mask))

    def resized(self, size: tuple[int, int]) -> HintMaps:
        """NumPy maps at ``size`` ``(h, w)``: each cell gets the mean ab of the hinted pixels
        it covers (cells as PyTorch's ``adaptive_avg_pool2d``), and is hinted if any is."""
        maps = self.checked().as_numpy()
        if maps.size == tuple(size):
            return maps
        coverage = adaptive_average(maps.mask, size)
        ab = adaptive_average(maps.ab * maps.mask, size) / np.maximum(coverage, 1e-8)
        mask = (coverage > 0).astype(np.float32)
        return HintMaps(ab * mask, mask)


def adaptive_average(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(*, H, W)`` -> ``(*, h, w)`` float32: the mean over the cells of PyTorch's
    ``adaptive_avg_pool2d`` (cell ``i`` spans ``floor(i H / h)`` to ``ceil((i + 1) H / h)``)."""
    for axis, target in ((-2, size[0]), (-1, size[1])):
        source = planes.shape[axis]
        index = np.arange(target)
        starts, stops = (index * source) // target, -((-(index + 1) * source) // target)
        total = np.concatenate((np.zeros_like(np.take(planes, [0], axis=axis)),
                                np.cumsum(planes, axis=axis, dtype=np.float64)), axis=axis)
        sums = np.take(total, stops, axis=axis) - np.take(total, starts, axis=axis)
        shape = [1] * planes.ndim
        shape[axis] = target
        planes = (sums / (stops - starts).reshape(shape)).astype(np.float32)
    return planes


def float32_array(values: Any) -> np.ndarray:
    """A contiguous NumPy float32 array of an array or a (CPU or GPU) torch tensor (a view when it already is one)."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().float().cpu().numpy()
    return np.ascontiguousarray(values, np.float32)
