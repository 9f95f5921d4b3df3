"""Temporal stabilisation of the predicted chroma within a shot.

Colorizing every frame on its own makes colours flicker: the network sees each frame afresh,
and small changes of framing or grain change its guess. Here each frame's prediction is
blended with the previous frame's *stabilised* ``ab``, moved along the optical flow::

    ab_t = pred_t + carry * confidence * (warp(ab_{t-1}) - pred_t)

an exponential moving average along motion trajectories. With ``carry = 0.9`` the change
between consecutive frames that comes from the prediction is cut to about a tenth where the
motion is reliable, while the colours still follow the network (the weight of a frame's
prediction halves in about 7 frames, 0.3 s at 24 frames per second).

The defaults (``carry`` 0.9, tolerances 3 flow pixels and 15 L units) were chosen on the test
clips (pan and zoom over a photograph, moving shapes, a cut; 160 x 120; bundled model),
measured with :mod:`.flicker` on the H.264 files written and read back, against the same
pipeline without stabilisation: flicker 0.47 (pan and zoom), 0.32 (shapes), 0.38 (cut) times
the per-frame result, colourfulness 94 to 97 % of it. Before encoding the ratios are about
0.3: H.264 with 4:2:0 chroma adds a floor of about 0.3 Lab units to any output. ``carry``
0.85 (tolerances 2 and 12) gave 0.52, 0.38 and 0.44 on the files, 0.8 more still.

Decisions:

- Everything runs on small images: the optical flow (OpenCV Farneback, both directions) on
  :data:`FLOW_SIZE` x :data:`FLOW_SIZE` ``L`` taken from the network's input, and the blend on
  the network's ``ab`` grid (64 x 64 for the bundled model). The network's square input
  squeezes the frame's aspect ratio; the flow is computed in that same squeezed geometry, so
  nothing needs converting. Cost: a few milliseconds a frame.
- ``confidence`` is 1 where the motion is trustworthy and falls to 0 where it is not: the
  forward-backward check (following the flow there and back should return to the start;
  Gaussian in the error with scale ``flow_tolerance`` pixels), the lightness check (the warped
  previous ``L`` should match the new ``L``; scale ``lightness_tolerance`` L units), and 0 where
  the flow points outside the previous frame (content entering the picture). Occlusions,
  new objects and flashes therefore take the new prediction.
- Cuts: the stabiliser is reset (the output is exactly the per-frame prediction) at a cut
  found by :mod:`.scenes`, at a frame where the mean confidence (the share of the picture the
  motion explains) is below ``min_coverage``, and where new user hints begin. Colour is never
  carried across a cut.
- Hints given for one frame follow the content through the shot: their maps are moved along
  the same flow (nearest neighbour, dropped where the confidence is low) and end at the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ConfigError
from .scenes import DEFAULT_CUT_THRESHOLD, histogram_distance, lightness_histogram

__all__ = [
    "FLOW_SIZE",
    "ChromaStabiliser",
    "MotionLink",
    "TemporalSettings",
    "link_frames",
    "warp",
]

#: side of the square ``L`` image on which the optical flow is computed
FLOW_SIZE = 128


@dataclass(frozen=True)
class TemporalSettings:
    """How strongly chroma is carried along the motion, and when it is not.

    Attributes:
        carry: weight of the motion-compensated previous chroma where the motion is reliable
            (0 = per-frame colorization, towards 1 = frozen colours).
        flow_tolerance: forward-backward flow error (pixels of the :data:`FLOW_SIZE` grid)
            at which the confidence has fallen to ``exp(-1)``.
        lightness_tolerance: difference of ``L`` (0..100) between the frame and the warped
            previous frame at which the confidence has fallen to ``exp(-1)``.
        min_coverage: below this mean confidence the frame starts a new shot.
        cut_threshold: histogram distance (:mod:`.scenes`) above which the frame starts a new shot.
    """

    carry: float = 0.9
    flow_tolerance: float = 3.0
    lightness_tolerance: float = 15.0
    min_coverage: float = 0.25
    cut_threshold: float = DEFAULT_CUT_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 <= self.carry < 1.0:
            raise ConfigError(f"carry must be in [0, 1), got {self.carry}")
        if self.flow_tolerance <= 0 or self.lightness_tolerance <= 0:
            raise ConfigError("flow_tolerance and lightness_tolerance must be positive")
        if not 0.0 <= self.min_coverage <= 1.0 or not 0.0 < self.cut_threshold <= 1.0:
            raise ConfigError("min_coverage must be in [0, 1] and cut_threshold in (0, 1]")


@dataclass(frozen=True)
class MotionLink:
    """How a frame relates to the previous one, on the :data:`FLOW_SIZE` grid.

    Attributes:
        flow: ``(h, w, 2)`` float32: for each pixel ``x`` of the current frame, the
            displacement to where it was in the previous frame (``x + flow(x)``).
        confidence: ``(h, w)`` float32 in [0, 1]: how far the motion there can be trusted.
    """

    flow: np.ndarray
    confidence: np.ndarray

    @property
    def coverage(self) -> float:
        """Mean confidence: the share of the picture that the motion explains."""
        return float(self.confidence.mean())


def _farneback(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense flow ``f`` with ``first(x) ~ second(x + f(x))``; uint8 images -> ``(h, w, 2)`` float32."""
    return cv2.calcOpticalFlowFarneback(
        first,
        second,
        None,
        pyr_scale=0.5,
        levels=3,
        winsize=9,
        iterations=3,
        poly_n=5,
        poly_sigma=1.1,
        flags=0,
    )


def _sampling_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    return columns + flow[..., 0], rows + flow[..., 1]


def _remap(
    image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, nearest: bool = False
) -> np.ndarray:
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def link_frames(
    previous: np.ndarray, current: np.ndarray, settings: TemporalSettings
) -> MotionLink:
    """The motion from ``previous`` to ``current`` and how reliable it is.

    Args:
        previous, current: ``(h, w)`` uint8 ``L * 2.55`` images of the same size.
    """
    backward = _farneback(current, previous)
    forward = _farneback(previous, current)
    map_x, map_y = _sampling_maps(backward)
    height, width = current.shape
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    round_trip = backward + _remap(forward, map_x, map_y)
    flow_error = np.square(round_trip).sum(axis=-1) / settings.flow_tolerance**2
    warped = _remap(previous, map_x, map_y).astype(np.float32)
    lightness_error = np.square(
        (current.astype(np.float32) - warped) / (2.55 * settings.lightness_tolerance)
    )
    confidence = np.exp(-(flow_error + lightness_error)) * inside
    return MotionLink(backward, confidence.astype(np.float32))


def is_cut(previous: np.ndarray, current: np.ndarray, settings: TemporalSettings) -> bool:
    """Whether the histogram test of :mod:`.scenes` puts a cut between two uint8 ``L`` images."""
    distance = histogram_distance(lightness_histogram(previous), lightness_histogram(current))
    return distance > settings.cut_threshold


def _resized(link: MotionLink, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The link's flow (in pixels of the new grid) and confidence on an ``(h, w)`` grid."""
    height, width = shape
    source_height, source_width = link.confidence.shape
    if (height, width) == (source_height, source_width):
        return link.flow, link.confidence
    interpolation = cv2.INTER_AREA if width < source_width else cv2.INTER_LINEAR
    flow = cv2.resize(link.flow, (width, height), interpolation=interpolation)
    flow *= np.array([width / source_width, height / source_height], dtype=np.float32)
    confidence = cv2.resize(link.confidence, (width, height), interpolation=interpolation)
    return flow, confidence


def warp(
    image: np.ndarray, link: MotionLink, nearest: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Move the previous frame's ``(C, h, w)`` float32 ``image`` onto the current frame.

    ``image`` may be on any grid; the link is resized to it. Returns the warped image and the
    confidence on that grid.
    """
    flow, confidence = _resized(link, image.shape[-2:])
    map_x, map_y = _sampling_maps(flow)
    channels = np.ascontiguousarray(image.transpose(1, 2, 0))
    warped = _remap(channels, map_x, map_y, nearest)
    if warped.ndim == 2:
        warped = warped[..., np.newaxis]
    return warped.transpose(2, 0, 1), confidence


class ChromaStabiliser:
    """The running stabilised ``ab`` of one shot (see the module docstring)."""

    def __init__(self, settings: TemporalSettings | None = None) -> None:
        self.settings = settings or TemporalSettings()
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the shot: the next frame is its own prediction."""
        self._previous = None

    def step(self, predicted_ab: np.ndarray, link: MotionLink | None) -> np.ndarray:
        """Stabilise one frame's ``(2, h, w)`` float32 ``ab`` (Lab units).

        Args:
            predicted_ab: the network's prediction for this frame.
            link: the motion from the previous frame, or ``None`` at a cut (the prediction is
                returned unchanged and starts the new shot).
        """
        if link is None or self._previous is None or self.settings.carry == 0.0:
            stabilised = predicted_ab
        else:
            warped, confidence = warp(self._previous, link)
            weight = self.settings.carry * confidence
            stabilised = predicted_ab + weight * (warped - predicted_ab)
        self._previous = stabilised
        return stabilised


def track_hints(
    hint_ab: np.ndarray, hint_mask: np.ndarray, link: MotionLink
) -> tuple[np.ndarray, np.ndarray]:
    """Move ``(2, S, S)`` hint ab and ``(1, S, S)`` mask maps along the motion to the current frame.

    Hints land where their content went (nearest neighbour, so colours are never mixed) and
    are dropped where the motion is unreliable (confidence below 0.5) or leaves the picture.
    """
    warped, confidence = warp(np.concatenate((hint_ab, hint_mask)), link, nearest=True)
    mask = warped[2:] * (confidence > 0.5)
    return warped[:2] * mask, mask
