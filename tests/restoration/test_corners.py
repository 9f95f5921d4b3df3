"""Torn corners: the detector's marks grown over the flat paper or black a torn corner leaves,
and only there (corners.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masterpiece.errors import ConfigError, InvalidInputError
from masterpiece.restoration import Restorer
from masterpiece.restoration.corners import MIN_MARKED_INSIDE, grow_torn_corners

from .conftest import photo_lightness

_NEAR = np.ones((5, 5), np.uint8)


def _triangle(shape: tuple[int, int], size: int, flip_rows: bool = False, flip_columns: bool = False) -> np.ndarray:
    """(H, W) bool: a triangle with legs ``size`` and 0.8 ``size`` in one corner."""
    torn = np.zeros(shape, np.uint8)
    cv2.fillPoly(torn, [np.array([[0, 0], [size, 0], [0, int(size * 0.8)]], np.int32)], 1)
    return np.ascontiguousarray(torn.astype(bool)[:: -1 if flip_rows else 1, :: -1 if flip_columns else 1])


def _torn(photo: np.ndarray, tone: float, size: int, flip_rows: bool = False,
          flip_columns: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``photo`` with a triangle of ``tone`` (and grain) torn off one corner; returns (damaged, torn)."""
    torn = _triangle(photo.shape, size, flip_rows, flip_columns)
    grain = np.random.default_rng(1).normal(0, 1.5, photo.shape).astype(np.float32)
    damaged = photo.copy()
    damaged[torn] = np.clip(tone + grain[torn], 0, 100)
    return damaged, torn


def _dilate(mask: np.ndarray, kernel: np.ndarray = _NEAR) -> np.ndarray:
    return cv2.dilate(mask.view(np.uint8), kernel).view(bool)


def _inner_strip(torn: np.ndarray) -> np.ndarray:
    """What the detector marks of a large torn corner: a strip two pixels wide inside the tear."""
    return torn & _dilate(~torn)


def _outer_ring(torn: np.ndarray) -> np.ndarray:
    """The two pixels beyond the tear (the picture side), where a detector's marks may also lie."""
    return _dilate(torn) & ~torn


def _specks(torn: np.ndarray, count: int) -> np.ndarray:
    """``count`` pixels spread over the inside of ``torn``, at least 5 pixels from its tear."""
    inside = np.flatnonzero(cv2.erode(torn.view(np.uint8), np.ones((11, 11), np.uint8)))
    specks = np.zeros(torn.shape, bool)
    specks.reshape(-1)[inside[:: max(1, inside.size // count)][:count]] = True
    return specks


@pytest.mark.parametrize(("tone", "flip_rows", "flip_columns"),
                         [(95.0, False, False), (4.0, True, False), (92.0, False, True), (10.0, True, True)])
def test_a_torn_corner_the_detector_began_to_mark_is_marked_whole(tone: float, flip_rows: bool,
                                                                  flip_columns: bool) -> None:
    damaged, torn = _torn(photo_lightness(), tone, 90, flip_rows, flip_columns)
    marks = _inner_strip(torn)
    assert (marks & torn).sum() < 0.15 * torn.sum()
    grown = grow_torn_corners(damaged, marks)
    assert grown.dtype == bool and grown.shape == marks.shape
    assert np.all(grown[marks]), "the detector's own marks are kept"
    assert np.all(grown[torn])
    assert not np.any(grown & ~_dilate(torn, np.ones((3, 3), np.uint8))), "nothing beyond a one-pixel rim"


def test_the_one_pixel_rim_takes_the_tears_own_pixels_that_the_smoothing_blurs() -> None:
    """The 5 x 5 smoothing mixes the tear's pixels with the picture's: the rim gives them back."""
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    ring = _outer_ring(torn) & ~_dilate(torn, np.ones((3, 3), np.uint8))  # two pixels out, not one
    marks = ring | _specks(torn, 40)
    grown = grow_torn_corners(damaged, marks)
    assert (grown & torn).sum() >= torn.sum() - 5


def test_the_mask_passed_in_is_not_modified() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    marks = _inner_strip(torn)
    before = marks.copy()
    grow_torn_corners(damaged, marks)
    assert np.array_equal(marks, before)


def test_without_the_detectors_marks_nothing_is_grown() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    assert not grow_torn_corners(damaged, np.zeros(torn.shape, bool)).any()


def test_a_marked_outline_needs_marks_inside_along_it_too() -> None:
    """Marks along the outline alone (the picture's edge against a flat corner) are not a tear."""
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    ring = _outer_ring(torn)
    assert np.array_equal(grow_torn_corners(damaged, ring), ring)
    enough = int(np.ceil(MIN_MARKED_INSIDE * ring.sum())) + 1
    assert grow_torn_corners(damaged, ring | _specks(torn, enough))[torn].mean() > 0.95
    too_few = ring | _specks(torn, enough // 2 - 1)
    assert np.array_equal(grow_torn_corners(damaged, too_few), too_few)


def test_a_flat_dark_corner_with_specks_but_no_marked_tear_is_left_alone() -> None:
    """A night sky or a shadow: false marks inside, none along its outline."""
    damaged, torn = _torn(photo_lightness(), 5.0, 90)
    specks = _specks(torn, 200)
    assert np.array_equal(grow_torn_corners(damaged, specks), specks)


def test_the_tear_may_be_marked_just_beside_it() -> None:
    """Marks within two pixels of the tear's ring count for it (the detector's strip inside)."""
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    strip = _inner_strip(torn) & ~_dilate(~torn, np.ones((3, 3), np.uint8))  # second pixel in only
    assert not (strip & _outer_ring(torn)).any()
    assert (grow_torn_corners(damaged, strip) & torn).sum() >= torn.sum() - 5


def test_a_bounded_corner_of_mid_gray_is_not_a_torn_corner() -> None:
    """The same triangle on the same bright picture: found as paper, left alone as mid-gray."""
    bright = (75 + 0.15 * photo_lightness()).astype(np.float32)
    for tone, expect in ((50.0, False), (97.0, True)):
        damaged, torn = _torn(bright, tone, 90)
        marks = _inner_strip(torn)
        assert grow_torn_corners(damaged, marks)[torn].all() == expect, tone


def test_a_tear_against_a_picture_only_ten_units_darker_is_told_apart() -> None:
    picture = np.full((256, 320), 85.0, np.float32)
    damaged, torn = _torn(picture, 95.0, 90)
    grown = grow_torn_corners(damaged, _inner_strip(torn))
    assert grown[torn].all() and not grown[~_dilate(torn)].any()  # the smoothing blurs one pixel out


def test_a_flat_region_that_runs_on_beyond_the_corner_is_the_picture_not_a_tear() -> None:
    """A white background along the whole top edge is not torn off, however the tear looks."""
    damaged = photo_lightness()
    background = np.zeros(damaged.shape, bool)
    background[:60] = True
    damaged[background] = 96.0
    marks = _inner_strip(background)
    assert np.array_equal(grow_torn_corners(damaged, marks), marks)


def test_holes_inside_a_torn_corner_are_filled_but_the_picture_at_the_edge_is_not() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    hole = np.zeros(torn.shape, bool)
    hole[20:25, 20:25] = True  # dust on the torn-off area
    bay = np.zeros(torn.shape, bool)
    bay[0:4, 40:46] = True  # picture at the image's edge, inside the tear's outline
    damaged[hole | bay] = 40.0
    grown = grow_torn_corners(damaged, _inner_strip(torn))
    assert grown[hole].all()
    assert not grown[bay & ~_dilate(~bay & torn, np.ones((3, 3), np.uint8))].any()
    assert grown[torn & ~_dilate(bay)].all()


def test_a_corner_too_small_for_the_step_is_left_to_the_detector() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 8)
    assert 20 < torn.sum() < 40
    damaged[torn] = 95.0  # no grain: every pixel of the tiny corner is flat
    marks = _inner_strip(torn)
    assert np.array_equal(grow_torn_corners(damaged, marks), marks)


def test_a_large_scan_is_grown_as_a_small_one() -> None:
    """The detector marks a strip of the same few pixels along the tear of any scan: the rules
    are shares of the tear, not of the corner's area, so a 3000-pixel scan is grown too."""
    rows, columns = np.mgrid[0:2304, 0:3072].astype(np.float32)
    picture = (40 + 15 * np.sin(rows / 90) + 10 * np.cos(columns / 70)).astype(np.float32)
    damaged, torn = _torn(picture, 95.0, 900)
    marks = _inner_strip(torn)
    assert marks.sum() < 0.01 * torn.sum()
    assert grow_torn_corners(damaged, marks)[torn].all()


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (300, 1), (6, 6), (20, 1000)])
def test_images_too_small_for_corners_come_back_as_they_are(shape: tuple[int, int]) -> None:
    plane = np.full(shape, 98.0, np.float32)
    marks = np.zeros(shape, bool)
    marks[0, 0] = True
    assert np.array_equal(grow_torn_corners(plane, marks), marks)


def test_bad_input_is_refused_and_masks_of_any_type_come_back_bool() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    with pytest.raises(InvalidInputError, match="mask"):
        grow_torn_corners(damaged, torn[:-1])
    with pytest.raises(InvalidInputError):
        grow_torn_corners(damaged * 3, torn)
    grown = grow_torn_corners(damaged, _inner_strip(torn).astype(np.uint8))
    assert grown.dtype == bool and grown[torn].all()


def test_the_restorer_grows_corners_for_the_learned_detector_only() -> None:
    assert Restorer().torn_corners is True
    assert Restorer("classical").torn_corners is False
    assert Restorer(torn_corners=False).torn_corners is False
    assert Restorer("classical", torn_corners=True).torn_corners is True
    with pytest.raises(ConfigError, match="torn_corners"):
        Restorer(torn_corners="yes")  # type: ignore[arg-type]


def test_restoring_with_the_learned_detector_fills_a_whole_torn_corner() -> None:
    photo = photo_lightness(384, 512, seed=3)
    damaged, torn = _torn(photo, 96.0, 150)
    plain = Restorer(torn_corners=False).detect(damaged)
    grown = Restorer().detect(damaged)
    assert (grown & torn).sum() >= 0.97 * torn.sum() > (plain & torn).sum()
    assert np.all(grown[plain])
    result = Restorer().restore(damaged)
    assert np.array_equal(result.mask, grown)
    error = np.abs(result.lightness[torn] - photo[torn]).mean()
    assert error < 0.5 * np.abs(damaged[torn] - photo[torn]).mean()
