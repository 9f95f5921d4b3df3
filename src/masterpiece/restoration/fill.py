"""Filling the detected damage from its surroundings, at full resolution, only inside the mask.

OpenCV's inpainting (Telea's fast marching method or Navier-Stokes) on float32 L, in bands of
rows with an overlap so that a 30-megapixel scan never needs more than a band of OpenCV's
working buffers. A band's edge is put, within a quarter of a band, on the row that crosses the
fewest damaged pixels (:func:`band_starts`), so that a large hole (a torn corner) is filled
whole rather than from two sides of a seam. Only the masked pixels of the result are taken:
every other pixel is the input's, bit for bit.

By region size: a damaged region of at least :data:`LARGE_REGION` pixels whose inside keeps
the fine texture of its surroundings (a water stain or a blotch darkens the picture without
erasing it) is corrected in tone instead of painted over: its inside, more than
:data:`TONE_EDGE` pixels from its outline, is multiplied by the ratio of the inpainted to the
damaged median there, and only its outline is inpainted. Regions whose inside is flat (a torn
corner, lost emulsion) are inpainted. On held-out training photographs with the drawn masks
this lifts the PSNR of the damaged pixels from 16.2 to 17.9 dB (stains 11.4 -> 15.0 dB);
see MODEL_CARD.md.

The default filling of :class:`..Restorer`, ``"learned"``, replaces that tone correction by a
network: the Navier-Stokes inpainting of each band is corrected inside the mask by the bundled
filler (:mod:`.learned_fill`), which sees the band plus its reach (64 rows). On the measurement
set with the drawn masks it recovers the damaged pixels to 20.2 dB against 16.4 dB.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from ..errors import ConfigError
from ._checks import check_lightness, check_mask
from .features import BLOCK
from .learned_fill import INPAINT_RADIUS, bundled_filler

__all__ = ["FILL_CHOICES", "FILL_METHODS", "band_starts", "fill_damage", "inpaint"]

FillMethod = Literal["learned", "ns", "telea"]
#: OpenCV's inpainting algorithms by name
FILL_METHODS: dict[str, int] = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
#: every filling :func:`fill_damage` offers: ``"learned"`` is Navier-Stokes corrected by the
#: bundled filler network (:mod:`.learned_fill`)
FILL_CHOICES: tuple[str, ...] = ("learned", "ns", "telea")
#: rows per band and rows of context above and below it
_BAND_ROWS = 1024
_MARGIN_ROWS = 96
#: regions of at least this many pixels may be corrected in tone rather than inpainted
LARGE_REGION = 200
#: pixels from a large region's outline that are always inpainted
TONE_EDGE = 3.0
#: inside/outside ratio of the fine texture's standard deviation above which the inside is kept
TEXTURE_RATIO = 0.5


def _correct_tone(damaged: np.ndarray, mask: np.ndarray, filled: np.ndarray) -> None:
    """Correct, in ``filled``, the tone of the large textured regions of ``mask`` (in place)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    large = [index for index in range(1, count) if stats[index, cv2.CC_STAT_AREA] >= LARGE_REGION]
    if not large:
        return
    distance = cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, 3)
    detail = damaged - cv2.GaussianBlur(damaged, (0, 0), 1.5)
    ring_kernel = np.ones((9, 9), np.uint8)
    for index in large:
        left, top, width, height = stats[index, :4]
        rows = slice(max(0, top - 8), min(mask.shape[0], top + height + 8))
        columns = slice(max(0, left - 8), min(mask.shape[1], left + width + 8))
        region = labels[rows, columns] == index
        inside = region & (distance[rows, columns] > TONE_EDGE)
        if inside.sum() < 20:
            continue
        ring = cv2.dilate(region.view(np.uint8), ring_kernel).view(bool) & ~mask[rows, columns]
        outside_detail = float(detail[rows, columns][ring].std()) if ring.any() else 0.0
        if outside_detail > 0 and float(detail[rows, columns][inside].std()) < TEXTURE_RATIO * outside_detail:
            continue  # flat inside: the picture is gone there, keep the inpainting
        seen = damaged[rows, columns][inside]
        gain = np.float32(np.median(filled[rows, columns][inside]) / max(float(np.median(seen)), 1e-3))
        filled[rows, columns][inside] = np.clip(seen * gain, 0, 100)


def band_starts(mask: np.ndarray, band_rows: int, step: int = 1) -> list[int]:
    """The first rows of the bands ``mask``'s image is processed in, the first one 0.

    Each band edge lies within a quarter of ``band_rows`` of where a fixed band height would put
    it, on the row (a multiple of ``step``) where the fewest damaged pixels meet across it
    (none if possible; the nearest such row), so that holes are rarely cut in two. Bands are
    then between 3/4 and 5/4 of ``band_rows`` rows (the last one may be shorter).

    Args:
        mask: (H, W) bool, True where damaged.
        band_rows: the rows of a band (a multiple of ``step``).
        step: band edges fall on multiples of it (the filler network's block grid: 4).
    """
    height = mask.shape[0]
    counts = np.count_nonzero(mask, axis=1)
    crossing = np.minimum(counts, np.concatenate(([0], counts[:-1])))  # row r with the row above
    starts, slack = [0], band_rows // 4
    while starts[-1] + band_rows < height:
        nominal = starts[-1] + band_rows
        low = -(-max(starts[-1] + step, nominal - slack) // step) * step
        candidates = np.arange(low, min(height - 1, nominal + slack) + 1, step)
        if candidates.size == 0:
            starts.append(nominal)
            continue
        order = np.lexsort((np.abs(candidates - nominal), crossing[candidates]))
        starts.append(int(candidates[order[0]]))
    return starts


def inpaint(plane: np.ndarray, mask: np.ndarray, radius: float, algorithm: int) -> np.ndarray:
    """``cv2.inpaint`` of a float32 (H, W) plane, also for planes of one or two rows or columns
    (padded by repeating their edges first: OpenCV 5 can return NaN for a single row)."""
    pad_rows, pad_columns = max(0, 3 - plane.shape[0]), max(0, 3 - plane.shape[1])
    if not (pad_rows or pad_columns):
        return cv2.inpaint(plane, mask, radius, algorithm)
    border = (0, pad_rows, 0, pad_columns, cv2.BORDER_REPLICATE)
    padded = cv2.inpaint(cv2.copyMakeBorder(plane, *border), cv2.copyMakeBorder(mask, *border), radius, algorithm)
    return np.ascontiguousarray(padded[: plane.shape[0], : plane.shape[1]])


def fill_damage(lightness: np.ndarray, mask: np.ndarray, *, method: FillMethod = "ns", radius: float = 3.0,
                keep_texture: bool = True, band_rows: int = _BAND_ROWS, margin_rows: int = _MARGIN_ROWS,
                threads: int | None = None) -> np.ndarray:
    """Fill the masked pixels of ``lightness`` from their surroundings.

    Args:
        lightness: (H, W) CIE L in [0, 100].
        mask: (H, W) bool, True where the pixels are damaged.
        method: ``"ns"`` (Navier-Stokes) or ``"telea"`` (fast marching), OpenCV's ``cv2.inpaint``;
            ``"learned"``: Navier-Stokes with the radius the filler network was trained on
            (:data:`.learned_fill.INPAINT_RADIUS`), then the bundled filler corrects it inside
            the mask (:class:`.learned_fill.LearnedFiller`; loaded once per process).
        radius: the neighbourhood (pixels) each pixel OpenCV fills is computed from (not used by
            ``"learned"``).
        keep_texture: correct the tone of large regions that keep their texture (stains)
            instead of inpainting them (OpenCV's methods only: the filler network does its own).
        band_rows: rows inpainted at a time, about (the memory bound; :func:`band_starts` moves
            each band's edge by up to a quarter of it to cut as few holes as it can);
            ``margin_rows`` of context above and below each band. A hole a band's edge still
            cuts, and taller than the margin, is filled from the context the band sees. With ``"learned"`` the bands are rounded down onto the network's
            4-row block grid and the margin is at least the network's reach, so the network
            computes on each band what it would on the whole image.
        threads: ONNX Runtime's threads for the filler network (None: every core).

    Returns:
        (H, W) float32 L in [0, 100]: the input's pixels outside the mask, bit for bit.

    Raises:
        ConfigError: an unknown method, a non-positive radius or band, or a negative margin.
        InvalidInputError: ``lightness`` is not L in [0, 100] or ``mask`` has another shape.
        WeightsError: ``"learned"`` and the bundled filler's files are missing or fail their sha256.
    """
    if method not in FILL_CHOICES:
        raise ConfigError(f"fill method must be one of {', '.join(FILL_CHOICES)}, not {method!r}")
    if radius <= 0 or band_rows <= 0 or margin_rows < 0:
        raise ConfigError(f"radius and band_rows must be positive and margin_rows at least 0 "
                          f"(got {radius}, {band_rows}, {margin_rows})")
    plane = check_lightness(lightness)
    damaged = check_mask(mask, plane.shape)
    result = plane.copy()
    height = plane.shape[0]
    rows = np.flatnonzero(damaged.any(axis=1))
    if rows.size == 0:
        return result
    filler = bundled_filler(threads) if method == "learned" else None
    if filler is not None:
        radius, band_rows = INPAINT_RADIUS, max(BLOCK, band_rows // BLOCK * BLOCK)
        margin_rows = max(margin_rows, filler.context_rows)
    algorithm = FILL_METHODS["ns" if method == "learned" else method]
    starts = band_starts(damaged, band_rows, BLOCK if filler is not None else 1)
    for start, stop in zip(starts, [*starts[1:], height]):
        band_mask = damaged[start:stop]
        if not band_mask.any():
            continue
        top, bottom = max(0, start - margin_rows), min(height, stop + margin_rows)
        context = inpaint(plane[top:bottom], damaged[top:bottom].view(np.uint8), radius, algorithm)
        if filler is not None:  # the network's reach around the band, within the inpainted context
            low, high = max(0, start - filler.context_rows), min(height, stop + filler.context_rows)
            inpainted = np.clip(context[low - top:high - top], 0, 100)
            last = stop > rows[-1]  # the last band with damage: the filler's buffers can go
            inner = filler(plane[low:high], inpainted, damaged[low:high], release=last)[start - low:stop - low]
        else:
            if keep_texture:
                _correct_tone(plane[top:bottom], damaged[top:bottom], context)
            inner = np.clip(context[start - top:stop - top], 0, 100)
        np.copyto(result[start:stop], inner, where=band_mask)
    return result
