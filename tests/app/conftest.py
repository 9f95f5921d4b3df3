"""Driving the page with Streamlit's ``AppTest``, on a compact model with random weights (the
page's flows), or on the bundled model (what a user sees: colour, and hints that work).

The page is started as ``streamlit run page.py -- --model compact --weights FILE`` would
start it (``sys.argv``), so most tests need no bundled or downloaded weights. The measures of
a result (:func:`colourfulness`, :func:`region_ab`, :func:`assert_turned_towards`) are
shared with the browser tests.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit", reason="the app extra is not installed (pip install -e '.[app]')")

from streamlit.testing.v1 import AppTest

from masterpiece.app import PAGE

TIMEOUT_S = 120
REPO_ROOT = Path(__file__).resolve().parents[2]
#: a real black-and-white photograph (512 x 512)
ASTRONAUT = REPO_ROOT / "examples" / "astronaut_bw.jpg"
#: a point on the astronaut's suit (her right arm), as fractions of the photo's width and height
SUIT = (0.17, 0.62)
#: a strong blue, far from the suit's orange
BLUE = "#0000ff"
#: thresholds of a colourful result (mean chroma, spread of ab over the image). Measured on
#: ASTRONAUT, December 2026, float32: the bundled model v1 21.7 and 17.9, v2 (its blended
#: decoder is calmer) 16.9 and 11.6; the compact architecture with random (seed 0) weights 14.0
#: and 5.7 (one tint over everything); a gray image 0 and 0.
COLOURFUL_CHROMA, COLOURFUL_SPREAD = 15.0, 9.0


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def start(argv: list[str]) -> AppTest:
    import streamlit as st

    st.cache_data.clear()  # the model list depends on the weights each test provides
    sys.argv = ["page.py", *argv]
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT_S)
    app.run()
    return app


@pytest.fixture
def app(compact_weights: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page with the random compact model, before any upload."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    return start(["--model", "compact", "--weights", str(compact_weights)])


@pytest.fixture
def bundled_app(monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page with the bundled compact model (its shipped weights), before any upload."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    return start(["--model", "compact"])


def image_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab ``(H, W, 3)`` float32 of an ``(H, W, 3)`` uint8 sRGB image."""
    import torch

    from masterpiece.color import rgb_to_lab

    pixels = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32) / 255)
    return rgb_to_lab(pixels.permute(2, 0, 1)).permute(1, 2, 0).numpy()


def colourfulness(rgb: np.ndarray) -> tuple[float, float]:
    """``(mean chroma, spread)`` of an ``(H, W, 3)`` uint8 image: the mean of ``sqrt(a² + b²)``
    and the standard deviation of ab over the image (``sqrt(var a + var b)``), both in Lab
    units; compare with :data:`COLOURFUL_CHROMA` and :data:`COLOURFUL_SPREAD`."""
    ab = image_lab(rgb)[..., 1:].reshape(-1, 2)
    return float(np.hypot(ab[:, 0], ab[:, 1]).mean()), float(np.sqrt(ab.var(axis=0).sum()))


def region_ab(rgb: np.ndarray, fx: float, fy: float, radius: float = 0.04) -> np.ndarray:
    """Mean ``(a, b)`` of the square of half-side ``radius`` (a fraction of the width) around
    the point at fractions ``(fx, fy)`` of an ``(H, W, 3)`` uint8 image."""
    height, width = rgb.shape[:2]
    x, y, r = round(fx * width), round(fy * height), max(1, round(radius * width))
    return image_lab(rgb[max(0, y - r) : y + r, max(0, x - r) : x + r])[..., 1:].mean(axis=(0, 1))


def assert_turned_towards(before: np.ndarray, after: np.ndarray, colour: str) -> None:
    """The mean ab of a region went ``before`` -> ``after`` towards the hue of ``colour``
    (``"#rrggbb"``): at least 25 Lab units closer along its direction, and within about 45
    degrees of it. Measured on the bundled model, a blue hint on the suit: (21, 33) -> (14, -43),
    blue is (79, -108); random weights move it by less than 0.1."""
    rgb = np.array([[[int(colour[i : i + 2], 16) for i in (1, 3, 5)]]], dtype=np.uint8)
    target = image_lab(rgb)[0, 0, 1:]
    direction = target / np.linalg.norm(target)
    gain = float((after - before) @ direction)
    cosine = float(after @ direction / max(np.linalg.norm(after), 1e-6))
    assert gain > 25 and cosine > 0.7, f"ab {before} -> {after}, hint {colour} at ab {target}"


@pytest.fixture
def photo(gray_photo: np.ndarray) -> bytes:
    """A 96x128 grayscale PNG."""
    return png_bytes(gray_photo)


def upload(app: AppTest, *files: tuple[str, bytes]) -> AppTest:
    """Upload ``(name, content)`` files through the sidebar's uploader and rerun."""
    app.sidebar.file_uploader(key="uploads").set_value(
        [(name, data, "image/png") for name, data in files]
    )
    return app.run()


def view_data(app: AppTest) -> dict:
    """The data the photo component was given (images as data URLs, markers)."""
    views = [element for element in app.main if getattr(element, "type", "") == "bidi_component"]
    assert len(views) == 1, f"expected one photo view, found {len(views)}"
    return json.loads(views[0].proto.json)


def data_url_image(url: str) -> np.ndarray:
    """Decode a ``data:image/...;base64,`` URL into an ``(H, W, 3)`` uint8 array."""
    import base64

    encoded = url.split(",", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB"))


def button(app: AppTest, label: str):
    matches = [item for item in app.button if item.label == label]
    assert matches, f"no button {label!r} among {[item.label for item in app.button]}"
    return matches[0]


def widget(widgets, label: str):
    matches = [item for item in widgets if item.label == label]
    assert matches, f"no widget {label!r} among {[item.label for item in widgets]}"
    return matches[0]


def no_problems(app: AppTest) -> None:
    assert not app.exception, [item.value for item in app.exception]
    assert not app.error, [item.value for item in app.error]


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch):
    """``fetch(download_button) -> bytes``: what a click on the button would download.

    Download data is made on click (a deferred callable); AppTest's media manager is recorded
    so that the test can run it.
    """
    from streamlit.testing.v1 import app_test

    managers, storages = [], []

    class RecordingStorage(app_test.MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            storages.append(self)

    class RecordingManager(app_test.MediaFileManager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", RecordingStorage)
    monkeypatch.setattr(app_test, "MediaFileManager", RecordingManager)

    def fetch(download_button) -> bytes:
        url = managers[-1].execute_deferred(download_button.proto.deferred_file_id)
        return storages[-1].get_file(url.rsplit("/", 1)[1]).content

    return fetch


@pytest.fixture
def colorize_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The hints of every ``Colorizer.colorize_rgb`` call the page makes (the page still runs).

    The random test model barely reacts to hints, so tests check what the page asks for.
    """
    from masterpiece.pipeline.image import Colorizer

    calls: list[tuple] = []
    original = Colorizer.colorize_rgb

    def recording(self, rgb, hints=()):
        calls.append(tuple(hints))
        return original(self, rgb, hints)

    monkeypatch.setattr(Colorizer, "colorize_rgb", recording)
    return calls
