"""What the service accepts and answers: hints, output formats, JSON bodies, and the HTTP
status and error code of each library error (:data:`ERROR_ANSWERS`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import (
    BodyTooLargeError,
    ColorizationTimeoutError,
    ConfigError,
    DataError,
    ImageTooLargeError,
    InvalidHintError,
    InvalidImageError,
    InvalidInputError,
    MasterpieceError,
    ModelError,
    NotAcceptableError,
    OutputError,
    OutputTooLargeError,
    ServiceBusyError,
    UnknownModelError,
)
from ..pipeline.image import ColorHint

#: at most this many hints per request
MAX_HINTS = 1000
#: the longest ``hints`` field, in characters (1000 hints of about 100 characters each)
MAX_HINTS_CHARS = 128 * 1024

RGB = Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)]
HexColor = Annotated[str, Field(pattern=r"^#?[0-9a-fA-F]{6}$")]


class HintIn(BaseModel):
    """One colour hint: a point of the image and the colour it should have."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    x: float = Field(ge=0, description="column in the uploaded image, in pixels from the left")
    y: float = Field(ge=0, description="row in the uploaded image, in pixels from the top")
    color: HexColor | RGB = Field(
        validation_alias=AliasChoices("color", "rgb"),
        description='"#rrggbb" or [r, g, b] in 0..255 (also accepted as "rgb")',
    )
    size: int = Field(3, ge=1, le=9, description="side of the hinted square, network pixels")

    def to_hint(self) -> ColorHint:
        color = self.color
        if isinstance(color, str):
            return ColorHint(
                self.x, self.y, color if color.startswith("#") else f"#{color}", self.size
            )
        return ColorHint(self.x, self.y, (color[0], color[1], color[2]), self.size)


_HINTS = TypeAdapter(list[HintIn])


def parse_hints(text: str | None) -> list[ColorHint]:
    """The hints of the ``hints`` form field: a JSON list of :class:`HintIn` objects.

    Raises:
        InvalidHintError: not JSON, not a list of hints, more than :data:`MAX_HINTS`, longer
            than :data:`MAX_HINTS_CHARS` or nested too deeply.
    """
    if text is None or not text.strip():
        return []
    if len(text) > MAX_HINTS_CHARS:
        raise InvalidHintError(
            f"hints must be at most {MAX_HINTS_CHARS:,} characters, got {len(text):,}"
        )
    try:
        data = json.loads(text)
    except ValueError as error:
        raise InvalidHintError(f"hints must be a JSON list: {error}") from None
    except RecursionError:
        raise InvalidHintError(
            'hints are nested too deeply; send a JSON list of {"x", "y", "color"} objects'
        ) from None
    if isinstance(data, list) and len(data) > MAX_HINTS:
        raise InvalidHintError(f"at most {MAX_HINTS} hints, got {len(data)}")
    try:
        hints = _HINTS.validate_python(data)
    except RecursionError:
        raise InvalidHintError(
            'hints are nested too deeply; send a JSON list of {"x", "y", "color"} objects'
        ) from None
    except ValidationError as error:
        raise InvalidHintError(f"invalid hints: {describe_errors(error.errors())}") from None
    return [hint.to_hint() for hint in hints]


def describe_errors(errors: list[dict]) -> str:
    """Pydantic's errors as one line: ``hints.0.x: Input should be ...; ...``."""
    parts = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


@dataclass(frozen=True)
class OutputFormat:
    """An image type the service answers in."""

    name: str  # encode_image's name
    media_type: str
    extension: str


OUTPUT_FORMATS = (
    OutputFormat("PNG", "image/png", ".png"),
    OutputFormat("JPEG", "image/jpeg", ".jpg"),
    OutputFormat("WEBP", "image/webp", ".webp"),
)
_BY_NAME = {"png": 0, "jpeg": 1, "jpg": 1, "webp": 2}


def choose_output_format(requested: str | None, accept: str | None) -> OutputFormat:
    """The output type: the ``format`` field, else the best type ``Accept`` allows, else PNG.

    Raises:
        InvalidInputError: ``requested`` is not png, jpeg (jpg) or webp.
        NotAcceptableError: ``Accept`` allows none of them.
    """
    if requested:
        index = _BY_NAME.get(requested.strip().lower().lstrip("."))
        if index is None:
            raise InvalidInputError(f"format {requested!r} is not supported; use png, jpeg or webp")
        return OUTPUT_FORMATS[index]
    if not accept or not accept.strip():
        return OUTPUT_FORMATS[0]
    accepted = _accepted(accept)
    # a type refused by name (q=0) is not taken for a wildcard (``image/png;q=0, */*``)
    refused = {media_range for media_range, quality in accepted if quality <= 0}
    ranked = sorted(accepted, key=lambda item: -item[1])
    for media_range, quality in ranked:
        if quality <= 0:
            continue
        for output in OUTPUT_FORMATS:
            if output.media_type in refused:
                continue
            if media_range in ("*/*", "image/*") or media_range == output.media_type:
                return output
    raise NotAcceptableError(
        f"cannot answer in any type of 'Accept: {accept}'; accept image/png, image/jpeg or "
        "image/webp, or send the format field"
    )


def _accepted(accept: str) -> list[tuple[str, float]]:
    """``(media range, q)`` pairs of an Accept header, in the order given."""
    ranges = []
    for item in accept.split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                # nan counts as 0; other values out of range are brought back into [0, 1]
                quality = 0.0 if math.isnan(quality) else min(max(quality, 0.0), 1.0)
        if media_range:
            ranges.append((media_range.lower(), quality))
    return ranges


class ErrorBody(BaseModel):
    """Every error answer: a machine-readable code and a message saying what to do."""

    error: str = Field(description="a short code, e.g. image_too_large, busy, invalid_request")
    message: str


#: the HTTP status and error code of each library error (the table of
#: :mod:`masterpiece.service.app`); the first class the error is an instance of wins, so a
#: subclass comes before its base. Status 500 sends no message of the error: it is a bug.
ERROR_ANSWERS: dict[type[MasterpieceError], tuple[int, str]] = {
    ImageTooLargeError: (413, "image_too_large"),
    InvalidImageError: (415, "invalid_image"),
    NotAcceptableError: (406, "not_acceptable"),
    InvalidHintError: (422, "invalid_hints"),
    OutputTooLargeError: (422, "output_too_large"),
    UnknownModelError: (422, "unknown_model"),
    # the request's options; the server's own configuration is checked by create_app, and its
    # errors while loading a model are ModelUnavailableError (503)
    InvalidInputError: (422, "invalid_request"),
    ConfigError: (422, "invalid_request"),
    ModelError: (503, "model_unavailable"),
    BodyTooLargeError: (413, "request_too_large"),
    ServiceBusyError: (503, "busy"),
    ColorizationTimeoutError: (504, "timeout"),
    # the service writes no files and trains nothing: these would be bugs
    OutputError: (500, "internal_error"),
    DataError: (500, "internal_error"),
    MasterpieceError: (500, "internal_error"),  # the deliberate fallback
}


def status_for(error: MasterpieceError) -> tuple[int, str]:
    """The HTTP status and error code of a library error: its row of :data:`ERROR_ANSWERS`."""
    for kind, answer in ERROR_ANSWERS.items():
        if isinstance(error, kind):
            return answer
    return 500, "internal_error"


class ModelOut(BaseModel):
    name: str
    description: str
    accepts_hints: bool
    weights_available: bool = Field(description="the weights are on the server (no download)")
    loaded: bool = Field(description="the model is in memory")


class ModelsOut(BaseModel):
    default: str | None = Field(description="the model used when a request names none")
    models: list[ModelOut]


class HealthOut(BaseModel):
    status: str
    version: str
    running: int = Field(description="colorizations running now")
    waiting: int = Field(description="requests waiting for a colorization slot")
    limits: dict[str, object]
