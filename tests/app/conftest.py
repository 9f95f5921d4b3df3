"""Driving the page with Streamlit's ``AppTest``, on a compact model with random weights.

The page is started as ``streamlit run page.py -- --model compact --weights FILE`` would
start it (``sys.argv``), so it needs no bundled or downloaded weights.
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
