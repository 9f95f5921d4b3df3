"""Scene-cut detection from the lightness histograms of consecutive frames.

A hard cut replaces the picture at once, so the distribution of lightness changes far more
between the two frames around a cut than between two frames of one shot, where motion
mostly moves the same pixels around. The test is the total-variation distance
``0.5 * sum |p - q|`` (0 = the same histogram, 1 = no overlap) between the
:data:`HISTOGRAM_BINS`-bin histograms of ``L`` of consecutive frames, computed on the small
frames the motion estimation uses. :data:`DEFAULT_CUT_THRESHOLD` (0.4) sits between what
pans, zooms, moving shapes and flashes of a few percent give on the test clips (below 0.1)
and cuts between unrelated photographs (0.5 and up).

Two shots can have similar histograms; :mod:`.temporal` adds a second test for those: when
motion compensation explains too little of the new frame (:attr:`TemporalSettings.min_coverage`),
the frame is treated as a cut too. A false cut only costs one frame of per-frame flicker; a
missed cut would carry colour into the wrong picture, so the tests lean towards cutting.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_CUT_THRESHOLD", "HISTOGRAM_BINS", "histogram_distance", "lightness_histogram"]

#: bins of the lightness histogram (each covers 8 of the 256 levels of the small ``L`` image)
HISTOGRAM_BINS = 32
#: total-variation distance above which consecutive frames are on either side of a cut
DEFAULT_CUT_THRESHOLD = 0.4


def lightness_histogram(lightness: np.ndarray, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """Normalized histogram of a uint8 ``L`` image (``L * 2.55``, any shape); float64, sums to 1."""
    counts = np.bincount((lightness.ravel().astype(np.int32) * bins) >> 8, minlength=bins)
    return counts / max(int(counts.sum()), 1)


def histogram_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Total-variation distance in [0, 1] between two normalized histograms."""
    return float(0.5 * np.abs(first - second).sum())
