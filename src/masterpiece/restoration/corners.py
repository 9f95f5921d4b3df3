"""Torn corners: the detector's marks grown over the flat tone a torn-off corner leaves.

A corner torn off a print shows the paper behind it or the scanner's lid: a flat region of
paper white or black that runs from the image's corner to the tear. The detector sees about
60 pixels around a pixel, so it marks the tear and small corners but not the inside of one
of a few hundred pixels, which is flat and, locally, could be an overexposed sky
(on held-out training photographs at the measurement's scale it found 32 % of the torn
pixels). :func:`grow_torn_corners` looks at each corner of the image: the region connected
to the corner pixel whose lightness stays within :data:`TONE_TOLERANCE` of the corner's own
tone, if that tone is paper or black, the region ends inside the corner's window (a region
that runs on is the picture's background, not a tear) and the detector already marks both
the tear (:data:`MIN_TEAR_MARKED`) and the inside along it (:data:`MIN_MARKED_INSIDE`), is
marked whole (with its enclosed holes and a one-pixel rim). Both shares are measured against
the tear's length, not the corner's area, because the detector marks a strip of a few pixels
along the tear whatever the scan's resolution. On clean photographs a corner region almost
never carries the detector's marks, so the step adds next to nothing there (MODEL_CARD.md has
the figures it was chosen with).
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import check_lightness, check_mask

__all__ = ["BLACK_TONE", "CORNER_WINDOW", "MIN_MARKED_INSIDE", "MIN_TEAR_MARKED", "PAPER_TONE", "TONE_TOLERANCE",
           "grow_torn_corners"]

#: the side of the square window looked at in each corner, as a share of the shorter side
#: (the synthetic damage tears at most 0.32 of it along an edge)
CORNER_WINDOW = 0.4
#: a torn-off corner shows paper (at least this L) or a black scanner lid (at most this L)
PAPER_TONE = 85.0
BLACK_TONE = 16.0
#: how far (L units, after a 5 x 5 Gaussian that quiets the grain) the region's pixels may
#: be from the tone at the corner
TONE_TOLERANCE = 6.0
#: the share of the tear (the two-pixel ring around the region, inside the image) that must
#: lie within two pixels of the detector's marks: the detector finds tears, not the outline
#: of a dark sky
MIN_TEAR_MARKED = 0.2
#: the detector's marks inside the region, at least this many per pixel of the tear's ring
MIN_MARKED_INSIDE = 0.05
#: regions smaller than this (pixels) are left to the detector
MIN_AREA = 30

_CORNER_PIXELS = 3  # the corner's tone: the median of its 3 x 3 pixels (smoothed)


def _region_at_corner(window: np.ndarray) -> np.ndarray | None:
    """The flat paper or black region connected to pixel (0, 0) of a corner window (its
    enclosed holes filled), or None when the corner is not such a tone or the region runs
    to the window's far edges. ``window``: (s, s) float32 L, the image's corner at (0, 0)."""
    smooth = cv2.GaussianBlur(window, (5, 5), 1.0)
    tone = float(np.median(smooth[:_CORNER_PIXELS, :_CORNER_PIXELS]))
    if BLACK_TONE < tone < PAPER_TONE:
        return None
    alike = (np.abs(smooth - np.float32(tone)) <= TONE_TOLERANCE).view(np.uint8)
    _, labels = cv2.connectedComponents(alike, connectivity=4)
    label = labels[0, 0]
    if label == 0:
        return None
    region = labels == label
    if region[-1].any() or region[:, -1].any() or np.count_nonzero(region) < MIN_AREA:
        return None
    _, outside = cv2.connectedComponents((~region).view(np.uint8), connectivity=4)
    on_edges = np.unique(np.concatenate((outside[0], outside[-1], outside[:, 0], outside[:, -1])))
    return region | ~np.isin(outside, on_edges)  # holes: what the region encloses


def _marked_enough(region: np.ndarray, marks: np.ndarray) -> bool:
    """Whether the detector marks :data:`MIN_TEAR_MARKED` of ``region``'s tear (the two-pixel
    ring around it) and :data:`MIN_MARKED_INSIDE` pixels inside it per pixel of that ring;
    both (s, s) bool, the corner at (0, 0)."""
    near = np.ones((5, 5), np.uint8)
    tear = cv2.dilate(region.view(np.uint8), near).view(bool) & ~region
    tear_pixels = max(1, np.count_nonzero(tear))
    if np.count_nonzero(marks & region) < MIN_MARKED_INSIDE * tear_pixels:
        return False
    near_marks = cv2.dilate(marks.view(np.uint8), near).view(bool)
    return np.count_nonzero(tear & near_marks) >= MIN_TEAR_MARKED * tear_pixels


def grow_torn_corners(lightness: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask`` with the torn corners it has begun to mark marked whole.

    Args:
        lightness: (H, W) float32 CIE L in [0, 100], the damaged image.
        mask: (H, W) bool, the detector's marks (not modified).

    Returns:
        (H, W) bool: ``mask`` or'ed with every corner region that qualifies (module docstring);
        ``mask`` itself is a subset of it.

    Raises:
        InvalidInputError: ``lightness`` is not L in [0, 100] or ``mask`` has another shape.
    """
    lightness = check_lightness(lightness)
    grown = check_mask(mask, lightness.shape).copy()
    height, width = lightness.shape
    side = int(CORNER_WINDOW * min(height, width))
    rim = np.ones((3, 3), np.uint8)
    for flip_rows in (False, True):
        for flip_columns in (False, True):
            rows = slice(height - side, height) if flip_rows else slice(0, side)
            columns = slice(width - side, width) if flip_columns else slice(0, side)
            marks = grown[rows, columns]
            if not marks.any():
                continue
            # the corner's window turned so that the image's corner is at (0, 0)
            turn = (slice(None, None, -1 if flip_rows else 1), slice(None, None, -1 if flip_columns else 1))
            window = np.ascontiguousarray(lightness[rows, columns][turn], np.float32)
            region = _region_at_corner(window)
            if region is None or not _marked_enough(region, np.ascontiguousarray(marks[turn])):
                continue
            region = cv2.dilate(region.view(np.uint8), rim).view(bool)
            grown[rows, columns] |= region[turn]
    return grown
