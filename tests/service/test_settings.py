"""Service settings from the environment and their checks; output and hint parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from masterpiece.errors import ConfigError, InvalidHintError, InvalidInputError, NotAcceptableError
from masterpiece.pipeline.image import ColorHint
from masterpiece.service.schemas import choose_output_format, parse_hints
from masterpiece.service.settings import ServiceSettings, environment_variable


def test_defaults():
    settings = ServiceSettings.from_env({})
    assert settings == ServiceSettings()
    assert settings.max_pixels == 50_000_000 and settings.max_concurrent == 2
    assert settings.api_key is None and settings.retry_after_s == 5


def test_environment_and_overrides():
    environ = {
        "MASTERPIECE_SERVE_MAX_CONCURRENT": "4",
        "MASTERPIECE_SERVE_QUEUE_TIMEOUT": "0.5",
        "MASTERPIECE_SERVE_MAX_PIXELS": "0",
        "MASTERPIECE_SERVE_WEIGHTS": "w.safetensors",
        "MASTERPIECE_SERVE_MODEL": "compact",
        "MASTERPIECE_SERVE_PRELOAD": "yes",
        "MASTERPIECE_API_KEY": " key ",
    }
    settings = ServiceSettings.from_env(environ, max_concurrent=3, request_timeout_s=None)
    assert settings.max_concurrent == 3  # the option wins
    assert settings.queue_timeout_s == 0.5 and settings.retry_after_s == 1
    assert settings.max_pixels is None and settings.preload
    assert settings.weights == Path("w.safetensors") and settings.api_key == "key"
    assert settings.request_timeout_s == 60.0
    assert environment_variable("request_timeout_s") == "MASTERPIECE_SERVE_REQUEST_TIMEOUT"


@pytest.mark.parametrize(
    ("environ", "overrides", "words"),
    [
        ({"MASTERPIECE_SERVE_MAX_CONCURRENT": "two"}, {}, "MASTERPIECE_SERVE_MAX_CONCURRENT"),
        ({}, {"max_concurrent": 0}, "max_concurrent"),
        ({}, {"queue_timeout_s": -1.0}, "queue_timeout_s"),
        ({}, {"max_queue": -1}, "max_queue"),
        ({}, {"weights": Path("w.pt")}, "model"),
        ({}, {"request_timeout_s": float("inf")}, "finite"),
        ({"MASTERPIECE_SERVE_QUEUE_TIMEOUT": "inf"}, {}, "finite"),
        ({"MASTERPIECE_SERVE_QUEUE_TIMEOUT": "nan"}, {}, "MASTERPIECE_SERVE_QUEUE_TIMEOUT='nan'"),
        ({"MASTERPIECE_SERVE_MAX_QUEUE": "-1"}, {}, "MASTERPIECE_SERVE_MAX_QUEUE='-1' is not a whole number, 0 or"),
        ({"MASTERPIECE_SERVE_PRELOAD": "maybe"}, {}, "MASTERPIECE_SERVE_PRELOAD='maybe' is not a yes or no"),
        # no client could send it: every request was refused with 401
        ({"MASTERPIECE_API_KEY": "clé"}, {}, "printable ASCII"),
        ({}, {"api_key": " s3cret"}, "printable ASCII"),
    ],
)
def test_invalid_settings(environ, overrides, words):
    with pytest.raises(ConfigError, match=words):
        ServiceSettings.from_env(environ, **overrides)


def test_output_format_negotiation():
    assert choose_output_format(None, None).name == "PNG"
    assert choose_output_format("JPG", "image/webp").name == "JPEG"  # the field wins
    assert choose_output_format(None, "image/jpeg;q=0.4, image/webp;q=0.9").name == "WEBP"
    assert choose_output_format(None, "text/html, image/*;q=0.1").name == "PNG"
    with pytest.raises(NotAcceptableError):
        choose_output_format(None, "text/html, image/png;q=0")
    with pytest.raises(InvalidInputError, match="tiff"):
        choose_output_format("tiff", None)
    # a type refused by name is not chosen for a wildcard
    assert choose_output_format(None, "image/png;q=0, */*").name == "JPEG"
    assert choose_output_format(None, "image/png;q=0, image/jpeg;q=0, image/*").name == "WEBP"
    with pytest.raises(NotAcceptableError):
        choose_output_format(None, "image/webp;q=nan")


def test_hints_parse_into_color_hints():
    hints = parse_hints(
        '[{"x": 1.5, "y": 2, "color": "3a6ea5"}, {"x": 0, "y": 0, "rgb": [1, 2, 3], "size": 9}]'
    )
    assert hints == [ColorHint(1.5, 2.0, "#3a6ea5", 3), ColorHint(0.0, 0.0, (1, 2, 3), 9)]
    assert parse_hints(None) == [] and parse_hints("  ") == []
    with pytest.raises(InvalidHintError, match="at most"):
        parse_hints("[" + ",".join(['{"x":0,"y":0,"color":"#000000"}'] * 1001) + "]")
    with pytest.raises(InvalidHintError, match="nested"):
        parse_hints("[" * 50_000 + "]" * 50_000)
    with pytest.raises(InvalidHintError, match="characters"):
        parse_hints(" " * 200_000 + "[]")
    with pytest.raises(InvalidHintError, match="0.x"):
        parse_hints('[{"x": -1, "y": 0, "color": "#000000"}]')
