"""Torn corners: the detector's marks grown over the flat paper or black a torn corner leaves,
and only there (corners.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masterpiece.restoration import Restorer
from masterpiece.restoration.corners import MIN_MARKED, grow_torn_corners

from .conftest import photo_lightness


def _torn(photo: np.ndarray, tone: float, size: int, flip_rows: bool = False,
          flip_columns: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``photo`` with a triangle of ``tone`` (and grain) torn off one corner; returns (damaged, torn)."""
    torn = np.zeros(photo.shape, np.uint8)
    cv2.fillPoly(torn, [np.array([[0, 0], [size, 0], [0, int(size * 0.8)]], np.int32)], 1)
    torn = torn.astype(bool)[:: -1 if flip_rows else 1, :: -1 if flip_columns else 1]
    grain = np.random.default_rng(1).normal(0, 1.5, photo.shape).astype(np.float32)
    damaged = photo.copy()
    damaged[torn] = np.clip(tone + grain[torn], 0, 100)
    return damaged, torn


def _tear_marks(torn: np.ndarray) -> np.ndarray:
    """What the detector marks of a large torn corner: the tear (two pixels either side of
    it), and a few pixels inside."""
    marks = cv2.morphologyEx(torn.view(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)).view(bool)
    inside = np.flatnonzero(torn)
    marks.reshape(-1)[inside[:: max(1, inside.size // 40)]] = True
    return marks


@pytest.mark.parametrize(("tone", "flip_rows", "flip_columns"),
                         [(95.0, False, False), (4.0, True, False), (92.0, False, True), (10.0, True, True)])
def test_a_torn_corner_the_detector_began_to_mark_is_marked_whole(tone: float, flip_rows: bool,
                                                                  flip_columns: bool) -> None:
    damaged, torn = _torn(photo_lightness(), tone, 90, flip_rows, flip_columns)
    marks = _tear_marks(torn)
    assert (marks & torn).sum() < 0.15 * torn.sum()
    grown = grow_torn_corners(damaged, marks)
    assert grown.dtype == bool and grown.shape == marks.shape
    assert np.all(grown[marks]), "the detector's own marks are kept"
    assert np.all(grown[torn])
    rim = cv2.dilate(torn.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    assert not np.any(grown & ~rim & ~marks), "nothing beyond the corner and its one-pixel rim"


def test_the_mask_passed_in_is_not_modified() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    marks = _tear_marks(torn)
    before = marks.copy()
    grow_torn_corners(damaged, marks)
    assert np.array_equal(marks, before)


def test_without_the_detectors_marks_nothing_is_grown() -> None:
    damaged, torn = _torn(photo_lightness(), 95.0, 90)
    assert not grow_torn_corners(damaged, np.zeros(torn.shape, bool)).any()
    too_few = np.zeros(torn.shape, bool)
    too_few.reshape(-1)[np.flatnonzero(torn)[:int(MIN_MARKED * torn.sum()) // 2]] = True
    assert np.array_equal(grow_torn_corners(damaged, too_few), too_few)


def test_a_flat_dark_corner_with_specks_but_no_marked_tear_is_left_alone() -> None:
    """A night sky or a shadow: a few false marks inside, none along its outline."""
    damaged, torn = _torn(photo_lightness(), 5.0, 90)
    specks = np.zeros(torn.shape, bool)
    inside = np.flatnonzero(cv2.erode(torn.view(np.uint8), np.ones((9, 9), np.uint8)))
    specks.reshape(-1)[inside[:: max(1, inside.size // 200)]] = True
    assert specks.sum() > MIN_MARKED * torn.sum()
    assert np.array_equal(grow_torn_corners(damaged, specks), specks)


def test_a_corner_of_mid_gray_is_not_a_torn_corner() -> None:
    damaged, torn = _torn(photo_lightness(), 50.0, 90)
    marks = _tear_marks(torn)
    assert np.array_equal(grow_torn_corners(damaged, marks), marks)


def test_a_flat_region_that_runs_on_beyond_the_corner_is_the_picture_not_a_tear() -> None:
    """A white background along the whole top edge is not torn off, however the tear looks."""
    photo = photo_lightness()
    damaged = photo.copy()
    background = np.zeros(photo.shape, bool)
    background[:60] = True
    damaged[background] = 96.0
    marks = _tear_marks(background)
    assert np.array_equal(grow_torn_corners(damaged, marks), marks)


def test_tiny_images_are_returned_as_they_are() -> None:
    plane = np.full((6, 6), 98.0, np.float32)
    marks = np.zeros((6, 6), bool)
    marks[0, 0] = True
    assert np.array_equal(grow_torn_corners(plane, marks), marks)


def test_the_restorer_grows_corners_for_the_learned_detector_only() -> None:
    assert Restorer().torn_corners is True
    assert Restorer("classical").torn_corners is False
    assert Restorer(torn_corners=False).torn_corners is False


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
