"""The FastAPI application: ``POST /v1/colorize``, ``POST /v1/restore``, ``GET /v1/models``,
``GET /healthz``.

``/v1/colorize`` repairs scratches, dust and tears first with ``restore=true`` (and stretches
faded tones with ``auto_levels=true``; ``detector`` picks the learned or classical detector);
``/v1/restore`` only repairs (gray in, gray out). Both share the colorization slots.

``create_app(settings)`` builds it; ``uvicorn --factory masterpiece.service.app:create_app``
serves it with the settings of the environment (``MASTERPIECE_SERVE_*``,
``MASTERPIECE_API_KEY``). The OpenAPI documentation is at ``/docs`` and ``/openapi.json``.

Every error is JSON ``{"error": CODE, "message": TEXT}`` with the status below (library errors:
:data:`~masterpiece.service.schemas.ERROR_ANSWERS`); tracebacks are logged on the server and
never sent. ``create_app`` checks the settings (model, weights file, device,
``$MASTERPIECE_PRECISION``) and raises on a misconfiguration, so a server that starts has
none; the API key is checked before a request's body is read.

====================================================  ======  ============================
what went wrong                                        status  code
====================================================  ======  ============================
missing or wrong API key                               401     unauthorized
request body above the upload limit                    413     request_too_large
image above the pixel or byte limit (bombs included)   413     image_too_large
not a readable image (empty, corrupt, unsupported)     415     invalid_image
bad form fields, hints, format, unknown model          422     invalid_request, invalid_hints,
                                                               unknown_model
image too large for the requested output type          422     output_too_large
``Accept`` allows no image type the service writes     406     not_acceptable
every colorization slot busy, queue full or too long   503     busy (with ``Retry-After``)
model unusable on the server (weights, device, ...)    503     model_unavailable
colorization longer than the request time limit        504     timeout
anything unexpected                                    500     internal_error
====================================================  ======  ============================
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..color.annealed import MIN_TEMPERATURE
from ..errors import MasterpieceError, ModelError, ServiceBusyError, ServiceError
from ..models import DEFAULT_TEMPERATURE, get_model_info, list_models, weights_available
from ..settings import DEFAULT_QUALITY
from .colorizers import (
    ColorizerCache,
    ColorizerLoader,
    RestorerCache,
    colorize_upload,
    restore_upload,
    with_options,
)
from .limits import AdmissionCheck, ApiKeyCheck, BodySizeLimit, ColorizationSlots
from .schemas import (
    ErrorBody,
    HealthOut,
    ModelOut,
    ModelsOut,
    OutputFormat,
    choose_output_format,
    describe_errors,
    parse_hints,
    status_for,
)
from .settings import ServiceSettings

logger = logging.getLogger(__name__)

#: the damage detectors a request may ask for (masterpiece.restoration.DETECTORS)
Detector = Literal["learned", "classical"]
DETECTOR_HELP = "learned (the bundled network) or classical (morphological top-hat)"
#: room for the form fields (model, hints, ...) on top of the image in a request body
FORM_OVERHEAD_BYTES = 1024 * 1024

_ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "missing or wrong API key"),
        (406, "the Accept header allows no image type the service writes"),
        (413, "the request or the image is above the limits"),
        (415, "the upload is not a readable image"),
        (422, "invalid form fields, hints or model name"),
        (503, "busy (retry after Retry-After seconds) or model weights unavailable"),
        (504, "the colorization took longer than the request time limit"),
    )
}


def create_app(
    settings: ServiceSettings | None = None, *, colorizer_loader: ColorizerLoader | None = None
) -> FastAPI:
    """The service application.

    Args:
        settings: limits and options; by default from the environment
            (:meth:`ServiceSettings.from_env`).
        colorizer_loader: builds the colorizer of a model name (by default the real one, with
            weights never downloaded); tests wrap it.

    Raises:
        ConfigError: the settings cannot work on this machine (:meth:`ServiceSettings.check`:
            no such weights file or device, an invalid ``$MASTERPIECE_PRECISION``).
        UnknownModelError: the default model is not a registered model.
    """
    settings = settings or ServiceSettings.from_env()
    settings.check()
    cache = ColorizerCache(settings, colorizer_loader)
    slots = ColorizationSlots(
        settings.max_concurrent,
        settings.max_queue,
        settings.queue_timeout_s,
        settings.request_timeout_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        slots.open()  # on this event loop
        if settings.preload:
            await run_in_threadpool(cache.get, None)
        yield
        slots.close()

    app = FastAPI(
        title="Masterpiece",
        version=__version__,
        summary="Colorize black-and-white photographs (Zhang et al. models, with colour hints).",
        description=_description(settings),
        lifespan=lifespan,
    )
    app.state.settings, app.state.colorizers, app.state.slots = settings, cache, slots
    restorers = app.state.restorers = RestorerCache()
    # the last added runs first: the key, then the queue, then the body limit, before a body
    # is read
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes + FORM_OVERHEAD_BYTES)
    app.add_middleware(
        AdmissionCheck, slots=slots, path="/v1/colorize", retry_after_s=settings.retry_after_s
    )
    app.add_middleware(
        AdmissionCheck, slots=slots, path="/v1/restore", retry_after_s=settings.retry_after_s
    )
    app.add_middleware(ApiKeyCheck, api_key=settings.api_key)
    _add_error_handlers(app, settings)

    @app.get("/healthz", response_model=HealthOut, tags=["service"])
    async def healthz() -> HealthOut:
        """Liveness and load: colorizations running and waiting, and the limits."""
        return HealthOut(
            status="ok",
            version=__version__,
            running=slots.running,
            waiting=slots.waiting,
            limits=settings.limits(),
        )

    @app.get(
        "/v1/models",
        response_model=ModelsOut,
        tags=["models"],
        responses={401: _ERRORS[401]},
    )
    async def models() -> ModelsOut:
        """Every registered model, whether its weights are on the server and whether it is loaded."""
        return await run_in_threadpool(_models_listing, cache)

    @app.post(
        "/v1/colorize",
        tags=["colorize"],
        response_class=Response,
        responses={200: _IMAGE_RESPONSE, **_ERRORS},
    )
    async def colorize(
        request: Request,
        file: Annotated[
            UploadFile, File(description="the photograph (JPEG, PNG, TIFF, WebP, ...)")
        ],
        model: Annotated[str | None, Form(description="a model of /v1/models")] = None,
        temperature: Annotated[
            float,
            Form(
                ge=MIN_TEMPERATURE,
                le=10,
                description="annealed-mean temperature: lower is more vivid, 1 the plain mean",
            ),
        ] = DEFAULT_TEMPERATURE,
        saturation: Annotated[float, Form(ge=0, le=4, description="chroma multiplier")] = 1.0,
        hints: Annotated[
            str | None,
            Form(description='JSON: [{"x": 10, "y": 20, "color": "#3a6ea5", "size": 3}]'),
        ] = None,
        format: Annotated[
            str | None, Form(description="png, jpeg or webp (default: Accept, else png)")
        ] = None,
        quality: Annotated[int, Form(ge=1, le=100, description="JPEG/WebP quality")] = DEFAULT_QUALITY,
        restore: Annotated[
            bool, Form(description="repair scratches, dust, creases and tears first")
        ] = False,
        auto_levels: Annotated[
            bool, Form(description="stretch the tones of a faded print (at most 0.5 % clipped)")
        ] = False,
        detector: Annotated[Detector, Form(description=DETECTOR_HELP)] = "learned",
    ) -> Response:
        """Colorize one photograph; the answer is the image (PNG unless asked otherwise)."""
        output = choose_output_format(format, request.headers.get("accept"))
        parsed_hints = parse_hints(hints)
        if model:
            get_model_info(model)
        upload = file.file  # read on the worker thread, once the request holds a slot

        def work() -> tuple[bytes, str]:
            restorer = restorers.get(detector, repair=restore, auto_levels=auto_levels)
            colorizer = with_options(cache.get(model), temperature, saturation)
            return colorize_upload(
                colorizer, upload, parsed_hints, output, quality, settings, restorer
            ), colorizer.model_name

        body, model_name = await slots.run(work)
        return _image_response(body, output, file.filename, "_colorized", model_name)

    @app.post(
        "/v1/restore",
        tags=["colorize"],
        response_class=Response,
        responses={200: _RESTORED_RESPONSE, **_ERRORS},
    )
    async def restore_photo(
        request: Request,
        file: Annotated[UploadFile, File(description="the scanned print")],
        detector: Annotated[Detector, Form(description=DETECTOR_HELP)] = "learned",
        auto_levels: Annotated[
            bool, Form(description="stretch the tones of a faded print (at most 0.5 % clipped)")
        ] = False,
        format: Annotated[
            str | None, Form(description="png, jpeg or webp (default: Accept, else png)")
        ] = None,
        quality: Annotated[int, Form(ge=1, le=100, description="JPEG/WebP quality")] = DEFAULT_QUALITY,
    ) -> Response:
        """Repair scratches, dust, creases and tears of one print (gray in, gray out; colour
        stays colour); the answer is the image."""
        output = choose_output_format(format, request.headers.get("accept"))
        upload = file.file

        def work() -> bytes:
            restorer = restorers.get(detector, repair=True, auto_levels=auto_levels)
            return restore_upload(restorer, upload, output, quality, settings)

        body = await slots.run(work)
        return _image_response(body, output, file.filename, "_restored", f"restore/{detector}")

    return app



def _image_response(
    body: bytes, output: OutputFormat, upload_name: str | None, suffix: str, model: str
) -> Response:
    filename = f"{_stem(upload_name)}{suffix}{output.extension}"
    return Response(
        body,
        media_type=output.media_type,
        headers={
            "Content-Disposition": _content_disposition(filename),
            "X-Masterpiece-Model": model,
        },
    )


_IMAGE_RESPONSE = {
    "description": "the colorized image",
    "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
}
_RESTORED_RESPONSE = {**_IMAGE_RESPONSE, "description": "the repaired image"}


def _models_listing(cache: ColorizerCache) -> ModelsOut:
    loaded = cache.loaded()
    listing = []
    for name in list_models():
        info = get_model_info(name)
        listing.append(
            ModelOut(
                name=name,
                description=info.description,
                accepts_hints=info.accepts_hints,
                weights_available=weights_available(info)
                or name == cache.settings.model
                and cache.settings.weights is not None,
                loaded=name in loaded,
            )
        )
    try:
        default = cache.default_name()
    except ModelError:
        default = None
    return ModelsOut(default=default, models=listing)


def _stem(filename: str | None) -> str:
    """The upload's name without folders and extension, or ``image``."""
    name = re.split(r"[\\/]", filename or "")[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = "".join(c for c in stem if c.isprintable() and c not in '"').strip()
    return stem[:100] or "image"


def _content_disposition(filename: str) -> str:
    """``inline`` with an ASCII ``filename`` and, for other names, an RFC 5987 ``filename*``."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    if ascii_name == filename:
        return f'inline; filename="{filename}"'
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


#: the error code of an HTTP error of the framework (no route, wrong method), by status
_STATUS_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}


def _add_error_handlers(app: FastAPI, settings: ServiceSettings) -> None:
    @app.exception_handler(MasterpieceError)
    async def library_error(request: Request, error: MasterpieceError) -> JSONResponse:
        status, code = status_for(error)
        if status == 500:  # no message of the library meant for the client: a bug
            return await internal_error(request, error)
        if status >= 500 and not isinstance(error, ServiceError):  # not the limits at work
            logger.error("%s %s: %s", request.method, request.url.path, error)
        headers = None
        if isinstance(error, ServiceBusyError):
            headers = {"Retry-After": str(settings.retry_after_s)}
        return _error(status, code, str(error), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", describe_errors(list(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "http_error")
        return _error(error.status_code, code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        logger.error("internal error in %s %s", request.method, request.url.path, exc_info=error)
        return _error(500, "internal_error", "internal error; the server log has the details")


def _description(settings: ServiceSettings) -> str:
    limit = f"{settings.max_pixels:,}" if settings.max_pixels else "none"
    key = (
        "required (`X-API-Key` or `Authorization: Bearer`)" if settings.api_key else "not required"
    )
    return f"""Colorize black-and-white photographs over HTTP. Send a photograph to
`POST /v1/colorize` as a multipart upload (`file`), get the colorized image back.

| limit | value | beyond it |
|---|---|---|
| request body (upload and fields) | {settings.max_upload_bytes:,} bytes | 413 |
| image size (width x height, from the header) | {limit} pixels | 413 |
| colorizations at once | {settings.max_concurrent} | queued |
| requests waiting | {settings.max_queue}, each for up to {settings.queue_timeout_s:g} s | 503 + Retry-After |
| time per colorization | {settings.request_timeout_s:g} s | 504 |
| API key | {key} | 401 |

Errors are JSON: `{{"error": CODE, "message": TEXT}}`.
"""
