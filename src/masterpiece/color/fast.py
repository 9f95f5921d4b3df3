"""Fast CIE Lab -> sRGB for full-resolution images: OpenCV, with the gamut fitted by a table.

:func:`~masterpiece.color.lab_np.lab_to_rgb` fits out-of-gamut colours by bisection on every
such pixel: exact, but on a 12-megapixel photograph a tenth of the pixels can be
outside (deep shadows and bright skies given colour) and the bisection dominates the run.
Here OpenCV converts all pixels (vectorised, multithreaded), and the pixels it had to clip
get their chroma scaled to the edge of the gamut read from a table: the largest chroma that
fits at each lightness and hue (:func:`max_chroma_table`, built once by the same bisection
in ~50 ms), interpolated bilinearly. Lightness and hue are kept, as in the exact path.

Every colour fitted, or near the edge, is checked against the gamut and fitted exactly when
still outside, so the result is always inside the gamut at the input's ``L``. Against
:func:`~masterpiece.color.lab.lab_to_rgb`: within 1 delta E on random colours and real
photographs, except on rare rays near white (bright yellows and cyans) where the gamut is not
one interval along the chroma ray: there the table's edge keeps more chroma than the exact
path's bisection finds (both results are in the gamut) (``tests/color/test_fast.py``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .lab_np import fit_chroma_to_gamut, lab_to_linear_rgb, lab_to_rgb, max_chroma_in_gamut

#: grid of the max-chroma table: lightness 0..100 and hue 0..2 pi (the last hue column repeats the first)
TABLE_LIGHTNESS_STEPS = 401
TABLE_HUE_STEPS = 1440
#: chroma is only ever reduced, and by a hair more than the table says (interpolation error)
_MARGIN = 0.999
#: neighbouring table entries further apart than this (chroma units) mark an abrupt edge
_ABRUPT = 1.0
#: colours lighter than this are checked against the gamut after the fit (below it the
#: gamut is one interval along every chroma ray: no fitted colour was outside on 4 million
#: random colours)
_CHECKED_ABOVE = 70.0
#: how far outside [0, 1] a linear channel may be (the exact path's tolerance)
_TOLERANCE = 1e-4
#: images up to this many pixels are converted exactly (bisection, NumPy) instead of with the
#: table and OpenCV: building the table (0.3 s) and OpenCV's first Lab conversion (0.4 s, its
#: own tables) cost more than the exact path on such an image (0.12 s for 256 x 256 random
#: colours, far less for a photograph), which matters to a command that colorizes one photo
EXACT_FIT_PIXELS = 1 << 18


@functools.lru_cache(maxsize=1)
def max_chroma_table() -> np.ndarray:
    """``(TABLE_LIGHTNESS_STEPS, TABLE_HUE_STEPS + 1)`` float32: the largest in-gamut chroma
    at lightness ``100 i / (steps - 1)`` and hue angle ``2 pi j / TABLE_HUE_STEPS``."""
    lightness = np.linspace(0.0, 100.0, TABLE_LIGHTNESS_STEPS, dtype=np.float64)
    hue = np.arange(TABLE_HUE_STEPS, dtype=np.float64) * (2 * np.pi / TABLE_HUE_STEPS)
    grid_l, grid_h = np.meshgrid(lightness, hue, indexing="ij")
    table = max_chroma_in_gamut(grid_l, grid_h).astype(np.float32)
    return np.concatenate((table, table[:, :1]), axis=1)


@functools.lru_cache(maxsize=1)
def _abrupt_cells() -> np.ndarray:
    """``(TABLE_LIGHTNESS_STEPS, TABLE_HUE_STEPS + 1)`` uint8: 1 where the four table entries
    around a cell differ by more than :data:`_ABRUPT` (interpolation there is unreliable)."""
    table = max_chroma_table()
    corners = np.stack((table[:-1, :-1], table[:-1, 1:], table[1:, :-1], table[1:, 1:]))
    abrupt = np.pad(corners.max(axis=0) - corners.min(axis=0) > _ABRUPT, ((0, 1), (0, 1)), mode="edge")
    # looked up by rounding, while interpolation uses the cell below: flag the next cells too
    abrupt[1:, :] |= abrupt[:-1, :]
    abrupt[:, 1:] |= abrupt[:, :-1]
    return abrupt.astype(np.uint8)


def fit_chroma_planes(
    lightness: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scale the chroma of Lab planes down to the sRGB gamut, keeping ``L`` and hue.

    Args:
        lightness, a, b: float32 planes of one shape (2-D), ``L`` in [0, 100].

    Returns:
        New ``a`` and ``b`` planes. Colours inside the gamut keep their ``ab`` (up to the
        table's margin, 0.1 %). Where the gamut's edge changes abruptly between neighbouring
        table entries (the narrow yellow and cyan spikes near white, about 1 in 1000 fitted
        colours), interpolation would cut too much chroma: those colours are fitted exactly
        by :func:`~masterpiece.color.lab_np.fit_chroma_to_gamut`.
    """
    shape = np.shape(a)
    # the work is per pixel: done on blocks of 4096 columns, as cv2.remap takes no side of 32767 or more
    lightness, a, b = _blocks(lightness, a, b)
    chroma, hue = cv2.cartToPolar(a, b)  # hue in radians, [0, 2 pi)
    # (NumPy for the scalar products: OpenCV reads a scalar as a matrix when a plane is one column wide)
    rows = lightness * np.float32((TABLE_LIGHTNESS_STEPS - 1) / 100.0)
    columns = hue * np.float32(TABLE_HUE_STEPS / (2 * np.pi))
    # OpenCV interpolates the table (bilinear, weights in steps of 1/32 of a cell)
    limit = cv2.remap(max_chroma_table(), columns, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    scale = np.minimum(np.float32(1.0), cv2.divide(limit * np.float32(_MARGIN), np.maximum(chroma, np.float32(1e-6))))
    fitted_a, fitted_b = cv2.multiply(a, scale), cv2.multiply(b, scale)
    abrupt = cv2.remap(_abrupt_cells(), columns, rows, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    exact = abrupt.reshape(-1) != 0
    # near white the gamut is not always one interval along a chroma ray (the table holds its
    # far edge): every colour fitted or near the edge is checked, and the ones still outside
    # are fitted exactly too
    near = np.flatnonzero(
        (lightness.reshape(-1) > _CHECKED_ABOVE)
        & ((scale.reshape(-1) < 1.0) | (chroma.reshape(-1) > 0.5 * limit.reshape(-1)))
    )
    if near.size:
        candidate = np.stack([plane.reshape(-1)[near] for plane in (lightness, fitted_a, fitted_b)])
        linear = lab_to_linear_rgb(candidate[:, :, None])[:, :, 0]
        exact[near[((linear < -_TOLERANCE) | (linear > 1.0 + _TOLERANCE)).any(axis=0)]] = True
    exact = np.flatnonzero(exact)
    if exact.size:
        lab = np.stack([plane.reshape(-1)[exact] for plane in (lightness, a, b)])
        fitted = fit_chroma_to_gamut(lab[:, :, None])[:, :, 0]
        fitted_a.reshape(-1)[exact], fitted_b.reshape(-1)[exact] = fitted[1], fitted[2]
    size = int(np.prod(shape))
    return fitted_a.reshape(-1)[:size].reshape(shape), fitted_b.reshape(-1)[:size].reshape(shape)


_BLOCK_COLUMNS = 4096


def _blocks(*planes: np.ndarray) -> list[np.ndarray]:
    """The planes (one shape) as 2-D float32 arrays OpenCV takes: themselves when they are
    C-contiguous with sides under 32767, else copies flattened into rows of
    :data:`_BLOCK_COLUMNS` (zero-padded), all alike."""
    planes = [np.asarray(plane, np.float32) for plane in planes]
    if all(p.ndim == 2 and max(p.shape) < 32767 and p.flags.c_contiguous for p in planes):
        return planes
    size = planes[0].size
    columns = max(1, min(_BLOCK_COLUMNS, size))
    blocked = []
    for plane in planes:
        block = np.zeros(-(-size // columns) * columns, np.float32)
        block[:size] = plane.reshape(-1)
        blocked.append(block.reshape(-1, columns))
    return blocked


def fit_chroma_with_table(lab: np.ndarray) -> np.ndarray:
    """:func:`fit_chroma_planes` for ``(N, 3)`` float32 Lab colours; returns a new ``(N, 3)`` array."""
    lab = np.asarray(lab, np.float32)
    a, b = fit_chroma_planes(lab[:, 0:1], lab[:, 1:2], lab[:, 2:3])
    return np.concatenate((lab[:, 0:1], a, b), axis=1)


def lab_to_rgb_fast(
    lightness: np.ndarray, a: np.ndarray, b: np.ndarray, *, table: bool | None = None
) -> np.ndarray:
    """``(h, W)`` float32 ``L``, ``a`` and ``b`` planes -> ``(h, W, 3)`` float32 sRGB in [0, 1].

    Every colour's chroma is fitted to the gamut first (reducing chroma at constant ``L`` as
    :func:`~masterpiece.color.lab_np.lab_to_rgb` does, never clipping channels), then OpenCV
    converts all pixels in one pass.

    Args:
        table: fit with the max-chroma table (:func:`fit_chroma_planes`) and convert with
            OpenCV, or convert exactly (:func:`~masterpiece.color.lab_np.lab_to_rgb`); by
            default the table above :data:`EXACT_FIT_PIXELS` pixels.
    """
    lightness = np.ascontiguousarray(lightness, np.float32)
    if table is None:
        table = lightness.size > EXACT_FIT_PIXELS
    if not table:  # the exact path: also no OpenCV Lab tables, whose first use costs 0.4 s
        lab = np.stack((lightness, np.asarray(a, np.float32), np.asarray(b, np.float32)))
        return np.ascontiguousarray(np.moveaxis(lab_to_rgb(lab), 0, -1))
    fitted_a, fitted_b = fit_chroma_planes(lightness, a, b)
    return cv2.cvtColor(cv2.merge([lightness, fitted_a, fitted_b]), cv2.COLOR_Lab2RGB)
