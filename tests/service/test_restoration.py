"""Restoration in the service: ``restore``/``auto_levels``/``detector`` on ``/v1/colorize`` and
``POST /v1/restore``, through FastAPI's test client (the classical detector: no bundled network)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")
from fastapi.testclient import TestClient

from masterpiece.color.lab_np import rgb_to_lab
from masterpiece.pipeline.decoding import read_image
from masterpiece.service import ServiceSettings, create_app

from .conftest import encode

SCRATCH = (slice(40, 43), slice(10, 118))


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServiceSettings(model="compact"))) as client:
        yield client


@pytest.fixture(scope="module")
def scratched() -> np.ndarray:
    rows, cols = np.mgrid[0:96, 0:128].astype(np.float32)
    image = 70 + 0.6 * cols + 0.3 * rows
    image[SCRATCH] = 250
    return image.astype(np.uint8)


def post(client: TestClient, path: str, data: bytes, **fields) -> object:
    return client.post(path, files={"file": ("print.png", data, "image/png")}, data=fields)


def lightness(response) -> np.ndarray:
    rgb = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), np.float32) / 255
    return rgb_to_lab(np.moveaxis(rgb, -1, 0))[0]


def test_colorize_with_restore_repairs_the_scratch(client, scratched):
    plain = post(client, "/v1/colorize", encode(scratched))
    mended = post(client, "/v1/colorize", encode(scratched), restore="true", detector="classical")
    assert plain.status_code == mended.status_code == 200, mended.text[:300]
    assert lightness(plain)[SCRATCH].mean() > 90  # a white line across the colours
    assert lightness(mended)[SCRATCH].mean() < 75  # the gradient's lightness around it: 45..70


def test_auto_levels_alone_stretches_the_tones(client):
    faded = (110 + 0.3 * np.mgrid[0:96, 0:128][1]).astype(np.uint8)
    response = post(client, "/v1/colorize", encode(faded), auto_levels="true", detector="classical")
    assert response.status_code == 200
    assert np.ptp(lightness(response)) > 80  # was 110..148 of 255: about 15 L


def test_restore_endpoint_gives_gray_back_and_keeps_sixteen_bits(client, scratched):
    response = post(client, "/v1/restore", encode(scratched), detector="classical")
    assert response.status_code == 200, response.text[:300]
    assert 'print_restored.png' in response.headers["content-disposition"]
    image = read_image(response.content)
    assert image.pixels.ndim == 2 and image.pixels[SCRATCH].mean() < 200
    deep = (scratched.astype(np.uint16) * 257)
    deep_response = post(client, "/v1/restore", encode(deep), detector="classical")
    assert read_image(deep_response.content).bit_depth == 16


@pytest.mark.parametrize(
    ("path", "fields", "words"),
    [
        ("/v1/colorize", {"restore": "perhaps"}, "restore"),
        ("/v1/colorize", {"auto_levels": "maybe"}, "auto_levels"),
        ("/v1/colorize", {"restore": "true", "detector": "magic"}, "detector"),
        ("/v1/restore", {"detector": "magic"}, "detector"),
        ("/v1/restore", {"quality": "0"}, "quality"),
    ],
)
def test_bad_values_are_422(client, scratched, path, fields, words):
    response = post(client, path, encode(scratched), **fields)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert words in response.json()["message"]


def test_restore_of_a_non_image_is_415(client):
    response = post(client, "/v1/restore", b"not an image", detector="classical")
    assert response.status_code == 415 and response.json()["error"] == "invalid_image"


def test_a_detector_that_cannot_load_is_503(client, scratched, monkeypatch):
    from masterpiece.errors import WeightsNotFoundError
    from masterpiece.service import colorizers

    def missing(*args, **kwargs):
        raise WeightsNotFoundError("the bundled damage detector is missing")

    monkeypatch.setattr(colorizers, "Restorer", missing)
    response = post(client, "/v1/restore", encode(scratched), detector="learned", auto_levels="true")
    assert response.status_code == 503 and response.json()["error"] == "model_unavailable"


def test_restore_shares_the_slots_with_colorize(scratched, gate):
    settings = ServiceSettings(model="compact", max_concurrent=1, max_queue=0, queue_timeout_s=30)
    app = create_app(settings, colorizer_loader=gate.loader)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, client, "/v1/colorize", encode(scratched))
        assert gate.entered.wait(30)
        busy = post(client, "/v1/restore", encode(scratched), detector="classical")
        assert busy.status_code == 503 and busy.json()["error"] == "busy"
        gate.open()
        assert first.result(30).status_code == 200
