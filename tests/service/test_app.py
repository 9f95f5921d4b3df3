"""The HTTP service through FastAPI's test client, with the bundled compact model."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")
from fastapi.testclient import TestClient

from masterpiece import errors
from masterpiece.errors import ConfigError, UnknownModelError
from masterpiece.pipeline.decoding import read_image
from masterpiece.pipeline.image import Colorizer
from masterpiece.service import ServiceSettings, create_app
from masterpiece.service.schemas import ERROR_ANSWERS

from .conftest import encode


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServiceSettings(model="compact"))) as client:
        yield client


def post(client: TestClient, data: bytes, name: str = "photo.png", **fields) -> object:
    headers = fields.pop("headers", None)
    return client.post(
        "/v1/colorize", files={"file": (name, data, "image/png")}, data=fields, headers=headers
    )


def decoded(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def assert_error(response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code and set(body) == {"error", "message"}
    assert "Traceback" not in response.text
    for word in words:
        assert word in body["message"]


# ------------------------------------------------------------------ documented endpoints


def test_healthz_reports_load_and_limits(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["running"] == 0 and body["waiting"] == 0
    assert body["limits"]["max_concurrent"] == 2
    assert body["limits"]["max_upload_bytes"] == 50 * 1024 * 1024
    assert body["limits"]["api_key_required"] is False


def test_openapi_documents_endpoints_and_limits(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/colorize", "/v1/models", "/healthz"} <= set(spec["paths"])
    assert "50,000,000 pixels" in spec["info"]["description"]
    assert {"413", "415", "422", "503", "504"} <= set(
        spec["paths"]["/v1/colorize"]["post"]["responses"]
    )
    assert client.get("/docs").status_code == 200


def test_models_lists_the_zoo(client):
    body = client.get("/v1/models").json()
    assert body["default"] == "compact"
    compact = next(model for model in body["models"] if model["name"] == "compact")
    assert compact["weights_available"] and compact["accepts_hints"]
    assert {model["name"] for model in body["models"]} >= {"compact", "eccv16", "siggraph17"}


# ------------------------------------------------------------------ colorizing


def test_colorize_returns_the_same_image_as_the_library(client, png_bytes):
    response = post(client, png_bytes, name="grand ma.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'inline; filename="grand ma_colorized.png"'
    assert response.headers["x-masterpiece-model"] == "compact"
    served = decoded(response)
    expected = Colorizer("compact").colorize_loaded(read_image(png_bytes), dtype=np.uint8)
    assert served.shape == (96, 128, 3)
    assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1
    assert served.std(axis=-1).mean() > 1  # colour, not gray


def test_output_format_from_field_or_accept(client, png_bytes):
    assert post(client, png_bytes, format="jpeg").headers["content-type"] == "image/jpeg"
    response = post(client, png_bytes, headers={"accept": "image/webp, image/png;q=0.5"})
    assert response.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(response.content)).format == "WEBP"
    assert response.headers["content-disposition"].endswith('_colorized.webp"')
    assert post(client, png_bytes, headers={"accept": "*/*"}).headers["content-type"] == "image/png"
    assert_error(post(client, png_bytes, format="gif"), 422, "invalid_request", "gif")
    assert_error(post(client, png_bytes, headers={"accept": "text/html"}), 406, "not_acceptable")


def test_non_ascii_file_name_gets_an_rfc5987_name(client, png_bytes):
    disposition = post(client, png_bytes, name="été.png").headers["content-disposition"]
    assert "filename*=UTF-8''%C3%A9t%C3%A9_colorized.png" in disposition


def test_hints_change_the_colours_where_they_are(client, png_bytes):
    plain = decoded(post(client, png_bytes)).astype(int)
    hints = [
        {"x": 20, "y": 20, "color": "#ff0000", "size": 9},
        {"x": 100, "y": 70, "rgb": [0, 0, 255]},
    ]
    hinted = decoded(post(client, png_bytes, hints=json.dumps(hints))).astype(int)
    red_minus_blue = lambda image: image[20, 20, 0] - image[20, 20, 2]
    assert red_minus_blue(hinted) > red_minus_blue(plain) + 10


@pytest.mark.parametrize(
    ("hints", "words"),
    [
        ("not json", ["JSON"]),
        ('{"x": 1}', ["list"]),
        ('[{"x": 1, "y": 2}]', ["color"]),
        ('[{"x": 1, "y": 2, "color": "red"}]', ["color"]),
        ('[{"x": 1, "y": 2, "color": [1, 2]}]', ["color"]),
        ('[{"x": 1, "y": 2, "color": "#ff0000", "size": 40}]', ["size"]),
        ('[{"x": 1, "y": 2, "color": "#ff0000", "colour": 1}]', ["colour"]),
        ('[{"x": 500, "y": 2, "color": "#ff0000"}]', ["outside"]),
    ],
)
def test_malformed_hints_are_422(client, png_bytes, hints, words):
    assert_error(post(client, png_bytes, hints=hints), 422, "invalid_hints", *words)


def test_saturation_zero_gives_gray_and_out_of_range_options_are_422(client, png_bytes):
    gray = decoded(post(client, png_bytes, saturation="0")).astype(int)
    assert np.abs(gray[..., 0] - gray[..., 2]).max() <= 2
    assert_error(post(client, png_bytes, saturation="9"), 422, "invalid_request", "saturation")
    assert_error(post(client, png_bytes, temperature="0"), 422, "invalid_request", "temperature")
    assert_error(post(client, png_bytes, temperature="warm"), 422, "invalid_request", "temperature")
    assert_error(post(client, png_bytes, quality="0"), 422, "invalid_request", "quality")


# ------------------------------------------------------------------ bad input


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` gray pixels but holds almost none (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_bad_inputs_get_json_errors(client, png_bytes):
    assert_error(post(client, b"%PDF-1.4 not an image"), 415, "invalid_image", "not an image")
    assert_error(post(client, b""), 415, "invalid_image", "empty")
    assert_error(post(client, png_bytes[: len(png_bytes) // 2]), 415, "invalid_image")
    bomb = _png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    assert_error(post(client, bomb), 413, "image_too_large", "10,000,000,000 pixels")
    assert_error(post(client, png_bytes, model="nope"), 422, "unknown_model", "compact")
    response = client.post("/v1/colorize", data={"model": "compact"})
    assert_error(response, 422, "invalid_request", "file")
    response = client.post(
        "/v1/colorize", content=b"raw bytes", headers={"content-type": "image/png"}
    )
    assert_error(response, 422, "invalid_request", "file")
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.get("/v1/colorize"), 405, "method_not_allowed")


def test_pixel_limit_is_413(png_bytes):
    with TestClient(create_app(ServiceSettings(model="compact", max_pixels=5000))) as client:
        response = post(client, png_bytes)
        # what a client can do, not the CLI's --max-pixels or the library's max_pixels=
        assert_error(response, 413, "image_too_large", "12,288 pixels", "at most 5,000 pixels", "send a smaller",
                     "MASTERPIECE_SERVE_MAX_PIXELS")
        assert "--max-pixels" not in response.json()["message"] and "max_pixels=" not in response.json()["message"]


def test_upload_limit_is_413_from_the_header_and_while_reading(png_bytes):
    from masterpiece.service import app as app_module

    settings = ServiceSettings(model="compact", max_upload_bytes=1000)
    limit = 1000 + app_module.FORM_OVERHEAD_BYTES
    big = png_bytes + bytes(limit)  # the size is refused before anything is decoded
    with TestClient(create_app(settings)) as client:
        assert_error(post(client, big), 413, "request_too_large", f"{limit:,} bytes")
        # no Content-Length: the bytes are counted as they arrive
        body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        chunks = iter([body, big, b"\r\n--b--\r\n"])
        response = client.post(
            "/v1/colorize",
            content=chunks,
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert_error(response, 413, "request_too_large")
        # the image itself is above max_upload_bytes, the request within the body limit
        noise = encode((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8))
        assert 1000 < len(noise) < limit
        response = post(client, noise)
        assert_error(response, 413, "image_too_large", "1,000 bytes", "send a smaller", "MASTERPIECE_SERVE_MAX_UPLOAD_BYTES")
        assert "max_bytes" not in response.json()["message"] and "1,001 bytes" not in response.json()["message"]


def test_missing_weights_are_503_with_what_to_do(png_bytes):
    with TestClient(create_app(ServiceSettings(model="compact"))) as client:
        response = post(client, png_bytes, model="eccv16")
    assert_error(response, 503, "model_unavailable", "models pull eccv16")


def test_unexpected_errors_are_500_without_details(png_bytes, caplog):
    def broken_loader(name: str):
        raise RuntimeError("secret internals")

    app = create_app(ServiceSettings(model="compact"), colorizer_loader=broken_loader)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = post(client, png_bytes)
    assert_error(response, 500, "internal_error", "server log")
    assert "secret" not in response.text
    assert "secret internals" in caplog.text


# ------------------------------------------------------------------ API key


def test_api_key_is_required_when_configured(png_bytes):
    with TestClient(create_app(ServiceSettings(model="compact", api_key="s3cret"))) as client:
        response = post(client, png_bytes)
        assert_error(response, 401, "unauthorized", "X-API-Key")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_error(post(client, png_bytes, headers={"x-api-key": "wrong"}), 401, "unauthorized")
        assert_error(client.get("/v1/models"), 401, "unauthorized")
        assert post(client, png_bytes, headers={"x-api-key": "s3cret"}).status_code == 200
        assert (
            client.get("/v1/models", headers={"authorization": "Bearer s3cret"}).status_code == 200
        )
        assert client.get("/healthz").status_code == 200  # probes need no key


# ------------------------------------------------------------------ concurrency and time


def test_requests_beyond_the_slots_wait_then_get_503(png_bytes, gate):
    settings = ServiceSettings(model="compact", max_concurrent=1, max_queue=4, queue_timeout_s=0.3)
    app = create_app(settings, colorizer_loader=gate.loader)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, client, png_bytes)
        assert gate.entered.wait(30)
        health = client.get("/healthz").json()  # the event loop still answers
        assert health["running"] == 1
        busy = post(client, png_bytes)
        assert_error(busy, 503, "busy", "0.3 s")
        assert busy.headers["retry-after"] == "1"
        gate.open()
        assert first.result(30).status_code == 200
        assert post(client, png_bytes).status_code == 200  # the slot is free again


def test_a_full_queue_is_503_at_once(png_bytes, gate):
    settings = ServiceSettings(model="compact", max_concurrent=1, max_queue=0, queue_timeout_s=30)
    app = create_app(settings, colorizer_loader=gate.loader)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, client, png_bytes)
        assert gate.entered.wait(30)
        assert_error(post(client, png_bytes), 503, "busy", "waiting")
        gate.open()
        assert first.result(30).status_code == 200


def test_request_time_limit_is_504_and_frees_the_slot_when_done(png_bytes, gate):
    settings = ServiceSettings(
        model="compact", max_concurrent=1, request_timeout_s=0.3, queue_timeout_s=30
    )
    app = create_app(settings, colorizer_loader=gate.loader)
    with TestClient(app) as client:
        assert_error(post(client, png_bytes), 504, "timeout", "0.3 s")
        assert client.get("/healthz").json()["running"] == 1  # still running in its thread
        gate.open()
        assert post(client, png_bytes).status_code == 200


def test_preload_loads_the_default_model_at_start():
    app = create_app(ServiceSettings(model="compact", preload=True))
    with TestClient(app) as client:
        models = client.get("/v1/models").json()["models"]
    assert next(m for m in models if m["name"] == "compact")["loaded"]


def test_a_second_server_session_on_the_same_app_works(png_bytes, gate):
    # the slots' semaphore belongs to the event loop of one session: a second session (a new
    # loop) with a request waiting for the slot used to fail with 500
    settings = ServiceSettings(model="compact", max_concurrent=1, queue_timeout_s=30)
    app = create_app(settings, colorizer_loader=gate.loader)
    for _ in range(2):
        gate.entered.clear()
        gate.released.clear()
        with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, client, png_bytes)
            assert gate.entered.wait(30)
            second = pool.submit(post, client, png_bytes)  # waits for the slot
            deadline = time.monotonic() + 30
            while client.get("/healthz").json()["waiting"] == 0 and not second.done():
                assert time.monotonic() < deadline
                time.sleep(0.02)
            gate.open()
            assert first.result(30).status_code == 200
            assert second.result(30).status_code == 200, second.result().text


# ------------------------------------------------------------------ regressions


def _call_asgi(app, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bool]:
    """Call ``app`` directly; the status answered and whether the request body was read."""
    import asyncio

    read = False
    messages = []

    async def receive():
        nonlocal read
        read = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(message for message in messages if message["type"] == "http.response.start")
    return start["status"], read


def test_api_key_is_checked_before_the_body_is_read(png_bytes):
    app = create_app(ServiceSettings(model="compact", api_key="s3cret"))
    headers = {"content-type": "multipart/form-data; boundary=b", "content-length": "100000"}
    status, read = _call_asgi(app, "/v1/colorize", headers, b"x" * 100_000)
    assert status == 401 and not read
    status, read = _call_asgi(app, "/v1/colorize", {**headers, "x-api-key": "wrong"}, b"x")
    assert status == 401 and not read


def test_a_full_queue_is_503_before_the_upload_is_read(png_bytes, gate):
    settings = ServiceSettings(model="compact", max_concurrent=1, max_queue=0, queue_timeout_s=30)
    app = create_app(settings, colorizer_loader=gate.loader)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, client, png_bytes)
        assert gate.entered.wait(30)
        headers = {"content-type": "multipart/form-data; boundary=b", "content-length": "9"}
        assert _call_asgi(app, "/v1/colorize", headers, b"x" * 9) == (503, False)
        gate.open()
        assert first.result(30).status_code == 200


@pytest.mark.parametrize(
    ("device", "environ", "error", "words"),
    [
        ("tpu9", {}, ConfigError, "tpu9"),
        ("cpu", {"MASTERPIECE_PRECISION": "bogus"}, ConfigError, "MASTERPIECE_PRECISION"),
        ("cpu", {"MASTERPIECE_SERVE_MODEL": "nope"}, UnknownModelError, "nope"),
        ("cpu", {"MASTERPIECE_SERVE_WEIGHTS": "missing.safetensors"}, ConfigError, "no such"),
    ],
)
def test_a_misconfigured_server_fails_at_start(monkeypatch, device, environ, error, words):
    # these used to answer 422 ("the client's fault") or 500 to every request
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTERPIECE_SERVE_DEVICE", device)
    if "MASTERPIECE_SERVE_MODEL" not in environ:
        monkeypatch.setenv("MASTERPIECE_SERVE_MODEL", "compact")
    with pytest.raises(error, match=words):
        create_app()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_machine_without_a_gpu_fails_at_start():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        create_app(ServiceSettings(model="compact", device="cuda"))


def test_errors_loading_the_server_model_are_503_not_the_clients_fault(png_bytes, monkeypatch):
    def misconfigured(name: str):
        raise ConfigError("precision int8 runs on the CPU")

    app = create_app(ServiceSettings(model="compact"), colorizer_loader=misconfigured)
    with TestClient(app) as client:
        assert_error(post(client, png_bytes), 503, "model_unavailable", "int8")
        assert_error(post(client, png_bytes, model="nope"), 422, "unknown_model")
    # the environment changed under a running server
    with TestClient(create_app(ServiceSettings(model="compact"))) as client:
        monkeypatch.setenv("MASTERPIECE_PRECISION", "bogus")
        assert_error(post(client, png_bytes), 503, "model_unavailable", "MASTERPIECE_PRECISION")


def test_deeply_nested_hints_are_422_not_500(client, png_bytes):
    nested = "[" * 20_000 + "]" * 20_000  # within the length limit: RecursionError
    assert_error(post(client, png_bytes, hints=nested), 422, "invalid_hints", "nested")
    huge = "[" * 100_000 + "]" * 100_000
    assert_error(post(client, png_bytes, hints=huge), 422, "invalid_hints", "at most")


@pytest.mark.parametrize(("fmt", "width"), [("webp", 17_000), ("jpeg", 70_000)])
def test_an_image_too_large_for_the_output_type_is_422_saying_png(client, fmt, width):
    wide = encode(np.zeros((4, width), np.uint8))
    assert_error(post(client, wide, format=fmt), 422, "output_too_large", "png")


def test_per_request_options_do_not_change_the_shared_colorizer(client, png_bytes):
    gray = decoded(post(client, png_bytes, saturation="0", temperature="1")).astype(int)
    assert np.abs(gray[..., 0] - gray[..., 2]).max() <= 2
    plain = decoded(post(client, png_bytes)).astype(int)
    expected = Colorizer("compact").colorize_loaded(read_image(png_bytes), dtype=np.uint8)
    assert np.abs(plain - expected.astype(int)).max() <= 1
    assert plain.std(axis=-1).mean() > 1  # colour again


def test_temperature_has_a_lower_bound(client, png_bytes):
    assert_error(post(client, png_bytes, temperature="1e-300"), 422, "invalid_request", "0.01")
    assert post(client, png_bytes, temperature="0.01").status_code == 200


def test_accept_q0_excludes_a_type_from_wildcards(client, png_bytes):
    response = post(client, png_bytes, headers={"accept": "image/png;q=0, */*"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"


# ------------------------------------------------------------------ the error table

#: the status and code of every class of the exception tree (the module docstring of app.py)
DOCUMENTED_ANSWERS = {
    "MasterpieceError": (500, "internal_error"),
    "InvalidInputError": (422, "invalid_request"),
    "InvalidImageError": (415, "invalid_image"),
    "ImageTooLargeError": (413, "image_too_large"),
    "InvalidVideoError": (422, "invalid_request"),
    "InvalidHintError": (422, "invalid_hints"),
    "NotAcceptableError": (406, "not_acceptable"),
    "OutputTooLargeError": (422, "output_too_large"),
    "OutputError": (500, "internal_error"),  # the service writes no files: a bug
    "OutputExistsError": (500, "internal_error"),
    "ModelError": (503, "model_unavailable"),
    "UnknownModelError": (422, "unknown_model"),
    "ModelUnavailableError": (503, "model_unavailable"),
    "WeightsError": (503, "model_unavailable"),
    "WeightsNotFoundError": (503, "model_unavailable"),
    "DownloadError": (503, "model_unavailable"),
    "ChecksumMismatchError": (503, "model_unavailable"),
    "UnsafeCheckpointError": (503, "model_unavailable"),
    "IncompatibleWeightsError": (503, "model_unavailable"),
    "ConfigError": (422, "invalid_request"),
    "MissingExtraError": (422, "invalid_request"),
    "DataError": (500, "internal_error"),  # the service trains nothing: a bug
    "ServiceError": (500, "internal_error"),
    "ServiceBusyError": (503, "busy"),
    "ColorizationTimeoutError": (504, "timeout"),
    "BodyTooLargeError": (413, "request_too_large"),
}


class RaisingColorizer:
    """A ColorizerCache loader: the real colorizer, whose colorization raises ``error``."""

    def __init__(self) -> None:
        self.error: Exception = RuntimeError("no error chosen")

    def loader(self, name: str) -> Colorizer:
        colorizer = Colorizer(name)

        def colorize_loaded(*args, **kwargs):
            raise self.error

        colorizer.colorize_loaded = colorize_loaded
        return colorizer


@pytest.fixture(scope="module")
def raising():
    raising = RaisingColorizer()
    app = create_app(ServiceSettings(model="compact"), colorizer_loader=raising.loader)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield raising, client


def test_every_error_class_has_a_documented_answer():
    assert set(DOCUMENTED_ANSWERS) == set(errors.__all__)


@pytest.mark.parametrize("name", sorted(DOCUMENTED_ANSWERS))
def test_each_error_is_answered_with_its_status_and_code(raising, png_bytes, name):
    state, client = raising
    state.error = getattr(errors, name)("what went wrong; what to do")
    status, code = DOCUMENTED_ANSWERS[name]
    response = post(client, png_bytes)
    if status == 500:  # a bug: the message stays in the server log
        assert_error(response, 500, "internal_error", "server log")
        assert "what to do" not in response.text
    else:
        assert_error(response, status, code, "what went wrong; what to do")
    assert ("retry-after" in response.headers) == (name == "ServiceBusyError")


def test_the_error_table_is_most_specific_first_and_falls_back_only_deliberately():
    rows = list(ERROR_ANSWERS)
    for index, kind in enumerate(rows):  # no row hidden behind an earlier, broader one
        assert not any(issubclass(kind, earlier) for earlier in rows[:index]), kind
    assert rows[-1] is errors.MasterpieceError
    fallback = {errors.MasterpieceError, errors.ServiceError}  # ServiceError is never raised
    for name in errors.__all__:  # every class but these has a row of its own branch
        kind = getattr(errors, name)
        row = next(row for row in rows if issubclass(kind, row))
        assert row is not errors.MasterpieceError or kind in fallback, name
