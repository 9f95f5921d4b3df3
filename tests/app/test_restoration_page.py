"""The page's "Repair scratches and dust" switch, the damage overlay and their errors (AppTest,
the random compact model and the classical detector)."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import data_url_image, no_problems, png_bytes, upload, view_data

SCRATCH = (slice(40, 43), slice(10, 118))


@pytest.fixture
def scratched() -> bytes:
    rows, cols = np.mgrid[0:96, 0:128].astype(np.float32)
    image = 70 + 0.6 * cols + 0.3 * rows
    image[SCRATCH] = 250
    return png_bytes(image.astype(np.uint8))


def lightness(rgb: np.ndarray) -> np.ndarray:
    from masterpiece.color.lab_np import rgb_to_lab

    return rgb_to_lab(np.moveaxis(rgb.astype(np.float32) / 255, -1, 0))[0]


def repair_on(app, detector: str = "classical"):
    app.sidebar.toggle(key="restore").set_value(True).run()
    app.sidebar.radio(key="detector").set_value(detector).run()
    return app


def test_the_switch_repairs_the_scratch_before_colorizing(app, scratched) -> None:
    upload(app, ("print.png", scratched))
    plain = data_url_image(view_data(app)["after"])
    repair_on(app)
    no_problems(app)
    mended = data_url_image(view_data(app)["after"])
    assert lightness(plain)[SCRATCH].mean() > 90  # the colorized scratch is a white line
    assert lightness(mended)[SCRATCH].mean() < 75  # the gradient around it is 45..70
    assert view_data(app)["beforeLabel"] == "Original"


def test_the_damage_found_is_shown_in_red_over_the_original(app, scratched) -> None:
    upload(app, ("print.png", scratched))
    repair_on(app)
    app.sidebar.toggle(key="show_damage").set_value(True).run()
    no_problems(app)
    data = view_data(app)
    assert data["beforeLabel"] == "Damage found (red)"
    before = data_url_image(data["before"]).astype(int)
    red = (before[..., 0] - before[..., 1] > 100) & (before[..., 0] - before[..., 2] > 100)
    assert red[SCRATCH].mean() > 0.9 and red.mean() < 0.15


def test_the_download_is_repaired_at_full_resolution(downloads, app, scratched) -> None:
    import io

    from PIL import Image

    upload(app, ("print.png", scratched))
    repair_on(app)
    button = app.get("download_button")[0]
    image = np.asarray(Image.open(io.BytesIO(downloads(button))).convert("RGB"))
    assert image.shape == (96, 128, 3) and lightness(image)[SCRATCH].mean() < 75


def test_a_detector_that_cannot_load_is_a_message(app, scratched, monkeypatch) -> None:
    from masterpiece.app import studio
    from masterpiece.errors import WeightsNotFoundError

    def missing(*args, **kwargs):
        raise WeightsNotFoundError("the bundled damage detector is not installed; use the classical detector")

    monkeypatch.setattr(studio, "Restorer", missing)
    upload(app, ("print.png", scratched))
    repair_on(app, "learned")
    assert not app.exception
    assert any("bundled damage detector" in item.value for item in app.error)
