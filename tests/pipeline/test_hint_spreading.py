"""The Colorizer spreads hints over their region for the bundled compact model (on request elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from masterpiece import Colorizer
from masterpiece.color.lab_np import rgb_to_lab
from masterpiece.pipeline.image import ColorHint


@pytest.fixture(scope="module")
def flat_gray() -> np.ndarray:
    """A 128x128 uniform mid-gray image: one region, so a hint should reach all of it."""
    return np.full((128, 128), 118, np.uint8)


def _mean_ab(rgb: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    lab = rgb_to_lab(rgb[rows, cols].astype(np.float32).transpose(2, 0, 1) / 255.0)  # (3, h, w)
    return lab[1:].reshape(2, -1).mean(axis=1)


def test_the_bundled_model_spreads_a_hint_over_its_region(flat_gray: np.ndarray) -> None:
    hint = [ColorHint(x=16, y=16, color=(25, 76, 230))]  # a blue click in the top-left corner
    spread = Colorizer("compact", precision="fp32")
    local = Colorizer("compact", precision="fp32", spread_hints=False)
    assert spread.spread_hints and not local.spread_hints
    far = (slice(56, 72), slice(56, 72))  # the middle, 60 pixels from the click
    blue_b = rgb_to_lab(np.array([25, 76, 230], np.float32).reshape(3, 1, 1) / 255.0)[2, 0, 0]  # strongly negative b
    spread_b = _mean_ab(spread.colorize(flat_gray, hints=hint), *far)[1]
    local_b = _mean_ab(local.colorize(flat_gray, hints=hint), *far)[1]
    assert spread_b < local_b - 5.0  # pulled a good way towards the hint's blue
    assert blue_b < spread_b
    # without hints both give the same colours
    np.testing.assert_array_equal(spread.colorize(flat_gray), local.colorize(flat_gray))


def test_models_instances_and_published_models_keep_their_own_hint_behaviour() -> None:
    from masterpiece.models.catalogue import spreads_hints

    assert spreads_hints("compact")
    assert not spreads_hints("siggraph17") and not spreads_hints("eccv16") and not spreads_hints("unknown")
