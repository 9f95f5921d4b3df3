"""Fixtures of the service tests: encoded images and a colorizer that waits at a gate."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def png_bytes(gray_photo: np.ndarray) -> bytes:
    return encode(gray_photo)


class Gate:
    """Holds every colorization until ``open()``; ``entered`` is set once one is waiting."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def open(self) -> None:
        self.released.set()

    def loader(self, name: str):
        """A ColorizerCache loader: the real colorizer, whose colorization waits here."""
        from masterpiece.pipeline.image import Colorizer

        colorizer = Colorizer(name)
        real = colorizer.colorize_loaded

        def colorize_loaded(*args, **kwargs):
            self.entered.set()
            self.released.wait(30)
            return real(*args, **kwargs)

        colorizer.colorize_loaded = colorize_loaded
        return colorizer


@pytest.fixture
def gate():
    gate = Gate()
    yield gate
    gate.open()  # never leave a worker thread waiting
