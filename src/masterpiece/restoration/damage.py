"""Synthetic damage drawn onto the lightness of clean photographs, with its exact mask.

The learned detector is trained on it and the measurement (:mod:`.evaluation`) scores every
detector against it. One call draws every kind of damage old prints show::

    damaged, mask = draw_damage(clean_l, seed=7)             # DamageConfig() defaults
    damaged, mask, kinds = draw_damage(clean_l, seed=7, return_kinds=True)

- thin bright and dark **scratches** (long, gently curved, width 1-4 px varying along the
  stroke, contrast varying along it) and **hairlines** (short, curly, 1 px);
- **creases** and folds (a bright cracked ridge with a dark shadow beside it);
- **cracks**: crazing, networks of fine bright cracks that split an area of the emulsion into
  irregular cells (the edges of a jittered Voronoi diagram, some left out). Off in the
  default config (the fixed measurement set predates them; ``--cracks`` of the evaluation
  measures a set with them);
- **dust** specks (radius 0.5-2.5 px) and larger irregular **spots**;
- **torn** corners (paper white or scanner-lid black) and **missing** regions (emulsion lost);
- water **stains** (a darker blotch with a darker tide line at its rim);
- film **grain** everywhere as a distractor: it is *not* damage and is never in the mask.

The mask is True exactly where the damage (before grain) changed L by more than
``DamageConfig.mask_threshold``: every pixel left out of it differs from the clean one by at
most that much plus the grain. Counts are means per 512x512 pixels (Poisson draws scaled by
the image's area); widths and radii are in pixels at the image's own resolution. The same
image, config and seed give the same result on every machine (NumPy's PCG64 and OpenCV's
integer drawing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, overload

import cv2
import numpy as np

from ..errors import ConfigError
from ._checks import check_lightness

__all__ = ["DAMAGE_KINDS", "DamageConfig", "draw_damage"]

#: every kind of damage the generator draws (grain is not damage)
DAMAGE_KINDS = ("scratch", "hairline", "crease", "crack", "dust", "spot", "torn", "missing", "stain")
_REFERENCE_AREA = 512 * 512
_SHIFT = 4  # sub-pixel bits of OpenCV's drawing
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class DamageConfig:
    """Every parameter of the damage generator (the model card lists them).

    Counts are Poisson means per 512x512 pixels; ``*_width``/``*_radius`` are pixels;
    contrasts are the fraction of the way from the clean L to the damage's own tone
    (bright scratches go towards paper white, dark ones towards black); tones are CIE L.
    """

    scratches: float = 2.0
    scratch_width: tuple[float, float] = (1.0, 4.0)
    scratch_length: tuple[float, float] = (0.25, 1.2)  # fraction of the image diagonal
    scratch_curl: float = 0.02  # radians of heading change per step (standard deviation)
    scratch_contrast: tuple[float, float] = (0.35, 1.0)
    bright_fraction: float = 0.6  # share of scratches, hairlines, dust and spots that are bright
    hairlines: float = 2.0
    hairline_length: tuple[float, float] = (20.0, 140.0)
    hairline_curl: float = 0.25
    hairline_contrast: tuple[float, float] = (0.3, 0.8)
    creases: float = 0.4
    crease_width: tuple[float, float] = (2.0, 5.0)
    crease_contrast: tuple[float, float] = (0.3, 0.8)
    cracks: float = 0.0  # crack networks; 0 keeps the measurement's set as it was
    crack_radius: tuple[float, float] = (30.0, 160.0)  # of the crazed area
    crack_cell: tuple[float, float] = (10.0, 40.0)  # typical side of a cell
    crack_width: tuple[float, float] = (1.0, 2.0)
    crack_contrast: tuple[float, float] = (0.4, 1.0)
    crack_gaps: float = 0.3  # share of the cells' edges left uncracked
    dust: float = 25.0
    dust_radius: tuple[float, float] = (0.5, 2.5)
    dust_contrast: tuple[float, float] = (0.4, 1.0)
    spots: float = 1.5
    spot_radius: tuple[float, float] = (3.0, 9.0)
    torn_probability: float = 0.15  # per image: one corner torn off
    torn_size: tuple[float, float] = (0.06, 0.2)  # fraction of the shorter side
    missing: float = 0.3
    missing_radius: tuple[float, float] = (6.0, 24.0)
    stains: float = 0.4
    stain_radius: tuple[float, float] = (12.0, 40.0)
    stain_darkening: tuple[float, float] = (0.08, 0.2)  # interior, fraction of L
    stain_rim: tuple[float, float] = (0.2, 0.4)  # tide line, fraction of L
    bright_tone: tuple[float, float] = (88.0, 100.0)
    dark_tone: tuple[float, float] = (0.0, 15.0)
    grain_sigma: tuple[float, float] = (0.0, 3.0)  # L units, before the 0.7 px blur
    mask_threshold: float = 4.0  # L units of change that count as damaged
    kinds: tuple[str, ...] = field(default=DAMAGE_KINDS)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(DAMAGE_KINDS)
        if unknown:
            raise ConfigError(f"unknown damage kinds {sorted(unknown)}; choose from {', '.join(DAMAGE_KINDS)}")
        if self.mask_threshold <= 0:
            raise ConfigError(f"mask_threshold must be positive, not {self.mask_threshold}")

    def as_dict(self) -> dict:
        """The parameters as plain JSON-able values (for the model card and ONNX metadata)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


class _Canvas:
    """Coverage layers (uint8, 255 = full) of one image, drawn with OpenCV's anti-aliasing.

    Every primitive is drawn into a window around it (a 30-megapixel image holds thousands of
    specks) and max-composited onto its layer; ``kinds`` records where each kind drew.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.bright = np.zeros(shape, np.uint8)
        self.dark = np.zeros(shape, np.uint8)
        self.kinds = {kind: np.zeros(shape, bool) for kind in DAMAGE_KINDS}

    def window(self, fixed_points: np.ndarray, pad: float) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """The image window around fixed-point (x, y) points plus ``pad`` pixels, and the
        fixed-point offset to subtract from them; None when it misses the image."""
        height, width = self.shape
        low = np.floor(fixed_points.min(axis=0) / _SCALE - pad).astype(int)
        high = np.ceil(fixed_points.max(axis=0) / _SCALE + pad).astype(int) + 1
        left, top = max(0, int(low[0])), max(0, int(low[1]))
        right, bottom = min(width, int(high[0])), min(height, int(high[1]))
        if left >= right or top >= bottom:
            return None
        return (slice(top, bottom), slice(left, right)), np.array([left, top]) * _SCALE

    def stamp(self, kind: str, layer: np.ndarray, where: tuple[slice, slice], drawn: np.ndarray) -> None:
        np.maximum(layer[where], drawn, out=layer[where])
        self.kinds[kind][where] |= drawn > 0


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _count(rng: np.random.Generator, mean: float, area: int) -> int:
    return int(rng.poisson(mean * area / _REFERENCE_AREA)) if mean > 0 else 0


def _walk(rng: np.random.Generator, shape: tuple[int, int], length: float, curl: float) -> np.ndarray:
    """A smooth random curve: (N, 2) float x, y points about 3 px apart."""
    height, width = shape
    step = 3.0
    count = max(2, int(length / step))
    point = rng.uniform([0, 0], [width, height])
    heading = rng.uniform(0, 2 * np.pi)
    drift = rng.normal(0, curl, count).cumsum()
    headings = heading + drift + rng.normal(0, curl / 4, count)
    steps = np.stack([np.cos(headings), np.sin(headings)], axis=1) * step
    return point + np.concatenate([np.zeros((1, 2)), steps.cumsum(axis=0)[:-1]])


def _mark(canvas: _Canvas, kind: str, layer: np.ndarray, points: np.ndarray, widths: np.ndarray,
          strengths: np.ndarray) -> None:
    """A stroke of segments of varying thickness and strength, max-composited onto ``layer``."""
    fixed = np.round(points * _SCALE).astype(np.int64)
    found = canvas.window(fixed, float(widths.max()) + 2)
    if found is None:
        return
    where, offset = found
    stroke = np.zeros((where[0].stop - where[0].start, where[1].stop - where[1].start), np.uint8)
    _draw_segments(stroke, fixed - offset, widths, strengths)
    canvas.stamp(kind, layer, where, stroke)


def _draw_segments(target: np.ndarray, fixed: np.ndarray, widths: np.ndarray, strengths: np.ndarray) -> None:
    """Anti-aliased segments between consecutive fixed-point points (window coordinates) into
    ``target``, segment ``i`` of thickness ``widths[i]`` px and value ``255 * strengths[i]``."""
    for index in range(len(fixed) - 1):
        cv2.line(target, tuple(map(int, fixed[index])), tuple(map(int, fixed[index + 1])),
                 round(255 * strengths[index]), max(1, round(widths[index])), cv2.LINE_AA, _SHIFT)


def _smooth_profile(rng: np.random.Generator, count: int, bounds: tuple[float, float]) -> np.ndarray:
    """Values in ``bounds`` that wander slowly along a stroke of ``count`` points."""
    knots = rng.uniform(bounds[0], bounds[1], max(2, count // 12 + 2))
    return np.interp(np.linspace(0, len(knots) - 1, count), np.arange(len(knots)), knots)


def _layer(canvas: _Canvas, rng: np.random.Generator, config: DamageConfig) -> np.ndarray:
    return canvas.bright if rng.random() < config.bright_fraction else canvas.dark


def _lines(canvas: _Canvas, rng: np.random.Generator, config: DamageConfig, shape: tuple[int, int]) -> None:
    area, diagonal = shape[0] * shape[1], float(np.hypot(*shape))
    if "scratch" in config.kinds:
        for _ in range(_count(rng, config.scratches, area)):
            points = _walk(rng, shape, _uniform(rng, config.scratch_length) * diagonal, config.scratch_curl)
            widths = _smooth_profile(rng, len(points), config.scratch_width)
            strengths = _smooth_profile(rng, len(points), config.scratch_contrast)
            _mark(canvas, "scratch", _layer(canvas, rng, config), points, widths, strengths)
    if "hairline" in config.kinds:
        for _ in range(_count(rng, config.hairlines, area)):
            points = _walk(rng, shape, _uniform(rng, config.hairline_length), config.hairline_curl)
            strengths = _smooth_profile(rng, len(points), config.hairline_contrast)
            _mark(canvas, "hairline", _layer(canvas, rng, config), points, np.ones(len(points)), strengths)
    if "crease" in config.kinds:
        for _ in range(_count(rng, config.creases, area)):
            points = _walk(rng, shape, _uniform(rng, (0.5, 1.2)) * diagonal, config.scratch_curl / 2)
            widths = _smooth_profile(rng, len(points), config.crease_width)
            strengths = _smooth_profile(rng, len(points), config.crease_contrast)
            strengths = strengths * (rng.random(len(points)) > 0.15)  # the ridge cracks in places
            _mark(canvas, "crease", canvas.bright, points, widths, strengths)
            direction = np.gradient(points, axis=0)
            normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
            shadow = points + normal * (widths[:, None] / 2 + 1.5)
            _mark(canvas, "crease", canvas.dark, shadow, np.maximum(1.0, widths / 2), strengths * 0.6)


def _voronoi_edges(points: np.ndarray) -> np.ndarray:
    """The edges of the Voronoi cells of ``points`` ((N, 2) float x, y): (E, 2, 2), each once."""
    low, high = np.floor(points.min(axis=0)) - 2, np.ceil(points.max(axis=0)) + 2
    subdivision = cv2.Subdiv2D((int(low[0]), int(low[1]), int(high[0] - low[0]), int(high[1] - low[1])))
    subdivision.insert([(float(x), float(y)) for x, y in points])
    facets, _ = subdivision.getVoronoiFacetList([])
    edges = {}
    for facet in facets:
        corners = np.asarray(facet, np.float64)
        for start, stop in zip(corners, np.roll(corners, -1, axis=0)):
            key = tuple(sorted((tuple(np.round(start, 2)), tuple(np.round(stop, 2)))))
            edges.setdefault(key, (start, stop))
    return np.array(list(edges.values()), np.float64).reshape(-1, 2, 2)


def _cracks(canvas: _Canvas, rng: np.random.Generator, config: DamageConfig, shape: tuple[int, int]) -> None:
    """Crazing: in a round area, the edges of irregular cells as fine, wavy bright cracks."""
    height, width = shape
    if "crack" not in config.kinds:
        return
    for _ in range(_count(rng, config.cracks, height * width)):
        centre = rng.uniform([0, 0], [width, height])
        radius, cell = _uniform(rng, config.crack_radius), _uniform(rng, config.crack_cell)
        count = max(4, round(1.3 * np.pi * radius**2 / cell**2))
        angles, reach = rng.uniform(0, 2 * np.pi, count), 1.15 * radius * np.sqrt(rng.random(count))
        edges = _voronoi_edges(centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * reach[:, None])
        middles = edges.mean(axis=1)
        keep = ((np.linalg.norm(middles - centre, axis=1) < radius) & (rng.random(len(edges)) >= config.crack_gaps)
                & (middles[:, 0] > -4) & (middles[:, 0] < width + 4) & (middles[:, 1] > -4) & (middles[:, 1] < height + 4))
        strokes = []
        for start, stop in edges[keep]:
            steps = max(2, int(np.hypot(*(stop - start)) / 3) + 1)
            along = np.linspace(0.0, 1.0, steps)[:, None]
            normal = np.array([start[1] - stop[1], stop[0] - start[0]]) / max(float(np.hypot(*(stop - start))), 1e-6)
            wander = rng.normal(0, 0.35, steps).cumsum()
            wander -= np.linspace(wander[0], wander[-1], steps)  # pinned at both corners: the cells stay closed
            strokes.append(start + along * (stop - start) + wander[:, None] * normal)
        if not strokes:
            continue
        fixed = [np.round(points * _SCALE).astype(np.int64) for points in strokes]
        found = canvas.window(np.concatenate(fixed), config.crack_width[1] + 2)
        if found is None:
            continue
        where, offset = found
        drawn = _blank(where)
        for points in fixed:
            widths = _smooth_profile(rng, len(points), config.crack_width)
            strengths = _smooth_profile(rng, len(points), config.crack_contrast)
            _draw_segments(drawn, points - offset, widths, strengths)
        canvas.stamp("crack", canvas.bright, where, drawn)


def _blank(where: tuple[slice, slice]) -> np.ndarray:
    return np.zeros((where[0].stop - where[0].start, where[1].stop - where[1].start), np.uint8)


def _blobs(canvas: _Canvas, rng: np.random.Generator, config: DamageConfig, shape: tuple[int, int]) -> None:
    height, width = shape
    area = height * width
    if "dust" in config.kinds:
        for _ in range(_count(rng, config.dust, area)):
            layer = _layer(canvas, rng, config)
            centre = np.round(rng.uniform([0, 0], [width, height]) * _SCALE).astype(int)
            radius = round(_uniform(rng, config.dust_radius) * _SCALE)
            value = round(255 * _uniform(rng, config.dust_contrast))
            axes = (radius, max(_SCALE // 2, int(radius * rng.uniform(0.6, 1.0))))
            angle = float(rng.uniform(0, 180))
            found = canvas.window(centre[None], radius / _SCALE + 2)
            if found is None:
                continue
            where, offset = found
            drawn = _blank(where)
            cv2.ellipse(drawn, tuple(map(int, centre - offset)), axes, angle, 0, 360, value, -1, cv2.LINE_AA, _SHIFT)
            canvas.stamp("dust", layer, where, drawn)
    if "spot" in config.kinds:
        for _ in range(_count(rng, config.spots, area)):
            layer = _layer(canvas, rng, config)
            polygon = _jagged_polygon(rng, rng.uniform([0, 0], [width, height]), _uniform(rng, config.spot_radius))
            value = round(255 * _uniform(rng, config.dust_contrast))
            found = canvas.window(polygon, 2)
            if found is None:
                continue
            where, offset = found
            drawn = _blank(where)
            cv2.fillPoly(drawn, [(polygon - offset).astype(np.int32)], value, cv2.LINE_AA, _SHIFT)
            canvas.stamp("spot", layer, where, drawn)


def _jagged_polygon(rng: np.random.Generator, centre: np.ndarray, radius: float, corners: int = 24) -> np.ndarray:
    """An irregular closed outline around ``centre`` in OpenCV fixed point, int32 (N, 2)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
    harmonics = sum(rng.normal(0, 0.25 / order) * np.cos(order * angles + rng.uniform(0, 2 * np.pi))
                    for order in (1, 2, 3, 5))
    radii = radius * np.clip(1 + harmonics + rng.normal(0, 0.08, corners), 0.3, 2.0)
    points = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]
    return np.round(points * _SCALE).astype(np.int32)


_Region = tuple[str, tuple[slice, slice], np.ndarray, float]


def _filled(canvas: _Canvas, outline: np.ndarray, pad: float = 2) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The window around a fixed-point outline and its anti-aliased coverage (uint8) there."""
    found = canvas.window(outline, pad)
    if found is None:
        return None
    where, offset = found
    coverage = _blank(where)
    cv2.fillPoly(coverage, [(outline - offset).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
    return where, coverage


def _regions(canvas: _Canvas, rng: np.random.Generator, config: DamageConfig, shape: tuple[int, int]) -> list[_Region]:
    """Torn corners and missing regions: (kind, window, coverage uint8 there, replacement tone)."""
    height, width = shape
    regions: list[_Region] = []
    if "torn" in config.kinds and rng.random() < config.torn_probability:
        size = _uniform(rng, config.torn_size) * min(shape)
        corner_x, corner_y = float(rng.integers(0, 2) * width), float(rng.integers(0, 2) * height)
        along_x = size * rng.uniform(0.6, 1.6) * (1 if corner_x == 0 else -1)
        along_y = size * rng.uniform(0.6, 1.6) * (1 if corner_y == 0 else -1)
        edge = np.linspace(0, 1, 20)[:, None] * np.array([[-along_x, along_y]]) + np.array([[corner_x + along_x, corner_y]])
        edge += rng.normal(0, max(1.0, size * 0.03), edge.shape)
        outline = np.round(np.concatenate([[[corner_x, corner_y]], edge]) * _SCALE).astype(np.int32)
        tone = _uniform(rng, config.bright_tone) if rng.random() < 0.7 else _uniform(rng, config.dark_tone)
        if (drawn := _filled(canvas, outline)) is not None:
            regions.append(("torn", *drawn, tone))
    if "missing" in config.kinds:
        for _ in range(_count(rng, config.missing, height * width)):
            polygon = _jagged_polygon(rng, rng.uniform([0, 0], [width, height]), _uniform(rng, config.missing_radius))
            tone = _uniform(rng, (75.0, 98.0))
            if (drawn := _filled(canvas, polygon)) is not None:
                regions.append(("missing", *drawn, tone))
    return regions


def _stains(canvas: _Canvas, rng: np.random.Generator, config: DamageConfig, shape: tuple[int, int]) -> np.ndarray | None:
    """The factor (float32, <= 1) water stains multiply L by, or None."""
    height, width = shape
    count = _count(rng, config.stains, height * width) if "stain" in config.kinds else 0
    if count == 0:
        return None
    factor = np.ones(shape, np.float32)
    for _ in range(count):
        polygon = _jagged_polygon(rng, rng.uniform([0, 0], [width, height]), _uniform(rng, config.stain_radius), 40)
        interior, rim_strength = _uniform(rng, config.stain_darkening), _uniform(rng, config.stain_rim)
        if (drawn := _filled(canvas, polygon, pad=6)) is None:
            continue
        where, inside = drawn
        rim = cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        rim = cv2.GaussianBlur(rim, (0, 0), 1.0)
        darkening = np.maximum((inside / 255.0) * interior, (rim / 255.0) * rim_strength)
        factor[where] *= (1 - darkening).astype(np.float32)
        canvas.kinds["stain"][where] |= darkening > 0
    return factor


def _grain(rng: np.random.Generator, config: DamageConfig, shape: tuple[int, int]) -> np.ndarray:
    sigma = _uniform(rng, config.grain_sigma)
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    return noise * np.float32(sigma / 0.4)  # the blur leaves about 0.4 of the standard deviation


@overload
def draw_damage(lightness: np.ndarray, seed: int, config: DamageConfig | None = None, *,
                return_kinds: Literal[False] = False) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def draw_damage(lightness: np.ndarray, seed: int, config: DamageConfig | None = None, *,
                return_kinds: Literal[True]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]: ...


def draw_damage(lightness, seed, config=None, *, return_kinds=False):
    """Draw seeded synthetic damage and film grain onto a clean lightness plane.

    Args:
        lightness: (H, W) CIE L in [0, 100] (any float dtype), the clean photograph.
        seed: the random seed; the same inputs and seed give the same output.
        config: the generator's parameters (default :class:`DamageConfig`).
        return_kinds: also return, per kind, where that kind was drawn (before the threshold).

    Returns:
        ``(damaged, mask)``: damaged (H, W) float32 L in [0, 100] with grain; mask (H, W) bool,
        True where the damage changed L by more than ``config.mask_threshold`` (grain excluded).
        With ``return_kinds``, a third item: kind -> (H, W) bool of the pixels that kind covers.

    Raises:
        InvalidInputError: ``lightness`` is not a finite (H, W) plane in [0, 100].
    """
    config = DamageConfig() if config is None else config
    clean = check_lightness(lightness)
    shape = clean.shape
    rng = np.random.default_rng(seed)
    canvas = _Canvas(shape)
    _lines(canvas, rng, config, shape)
    _cracks(canvas, rng, config, shape)  # draws nothing, and nothing from rng, at cracks=0
    _blobs(canvas, rng, config, shape)
    regions = _regions(canvas, rng, config, shape)
    stain = _stains(canvas, rng, config, shape)
    bright_tone, dark_tone = _uniform(rng, config.bright_tone), _uniform(rng, config.dark_tone)

    damaged = clean.copy()
    if stain is not None:
        damaged *= stain
    for layer, tone in ((canvas.bright, bright_tone), (canvas.dark, dark_tone)):
        alpha = layer.astype(np.float32) / 255
        damaged += alpha * (np.float32(tone) - damaged)
    for kind, where, coverage, tone in regions:
        alpha = coverage.astype(np.float32) / 255
        texture = np.float32(tone) + rng.normal(0, 1.0, coverage.shape).astype(np.float32)
        damaged[where] += alpha * (texture - damaged[where])
        canvas.kinds[kind][where] |= coverage > 0
    mask = np.abs(damaged - clean) > config.mask_threshold
    damaged += _grain(rng, config, shape)
    np.clip(damaged, 0, 100, out=damaged)
    if return_kinds:
        return damaged, mask, canvas.kinds
    return damaged, mask
