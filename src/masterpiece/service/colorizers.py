"""Models (and restorers) loaded once per server, and what one request runs on a worker thread."""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO

import numpy as np

from ..color.annealed import check_temperature
from ..errors import (
    ImageTooLargeError,
    MasterpieceError,
    ModelError,
    ModelUnavailableError,
    OutputError,
    OutputTooLargeError,
)
from ..models import default_model_name, get_model_info
from ..pipeline.decoding import LoadedImage, read_image
from ..pipeline.encoding import MAX_OUTPUT_SIDE, encode_image
from ..pipeline.image import ColorHint, Colorizer
from ..pipeline.repair import encode_restored, restore_pixels
from ..restoration import Restorer
from .schemas import OutputFormat
from .settings import ServiceSettings

logger = logging.getLogger(__name__)

ColorizerLoader = Callable[[str], Colorizer]



class ColorizerCache:
    """One :class:`Colorizer` per model name, loaded on first use.

    Loading happens under a lock per name, so concurrent first requests load a model once and
    requests for other models are not held up. A model that fails to load is not cached (the
    next request tries again, e.g. after ``masterpiece models pull``).

    Args:
        settings: the device, the default model and its weights file, the pixel limit.
        loader: builds the colorizer of a model name; by default :meth:`load`. Tests pass one
            that wraps the real colorizer.
    """

    def __init__(self, settings: ServiceSettings, loader: ColorizerLoader | None = None) -> None:
        self.settings = settings
        self._loader = loader or self.load
        self._colorizers: dict[str, Colorizer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def default_name(self) -> str:
        """The model a request without ``model`` gets."""
        return self.settings.model or default_model_name()

    def loaded(self) -> set[str]:
        return set(self._colorizers)

    def get(self, name: str | None) -> Colorizer:
        """The colorizer of ``name`` (None: the default model), loading it if needed.

        Raises:
            UnknownModelError: ``name`` names no model.
            ModelUnavailableError: the model cannot be loaded on this server: its weights are
                missing (they are never downloaded here) or bad, the device or precision of
                the server is unusable, or the server's default model is unknown.
        """
        if name:
            get_model_info(name)  # the request's unknown name is refused, before any lock
        try:
            name = name or self.default_name()
            colorizer = self._colorizers.get(name)
            if colorizer is not None:
                return colorizer
            get_model_info(name)
            with self._guard:
                lock = self._locks.setdefault(name, threading.Lock())
            with lock:
                if name not in self._colorizers:
                    logger.info("loading model %s", name)
                    self._colorizers[name] = self._loader(name)
                return self._colorizers[name]
        except ModelUnavailableError:
            raise
        except MasterpieceError as error:  # the server's set-up, not the request: 503
            raise ModelUnavailableError(str(error)) from error

    def load(self, name: str) -> Colorizer:
        """A colorizer of ``name`` on the configured device; weights are never downloaded."""
        settings = self.settings
        weights = settings.weights if name == settings.model else None
        return Colorizer(
            name,
            weights=weights,
            device=settings.device,
            download=False,
            max_pixels=settings.max_pixels,
        )


class RestorerCache:
    """One :class:`~masterpiece.restoration.Restorer` per ``(detector, auto levels, repair)``,
    made on first use and shared by the requests (restoring changes no restorer state)."""

    def __init__(self) -> None:
        self._restorers: dict[tuple[str, bool, bool], Restorer] = {}
        self._guard = threading.Lock()

    def get(self, detector: str, *, repair: bool, auto_levels: bool) -> Restorer | None:
        """The restorer asked for, or None when neither ``repair`` nor ``auto_levels``.

        Raises:
            ModelUnavailableError: the detector cannot be loaded on this server (503).
        """
        if not (repair or auto_levels):
            return None
        key = (detector if repair else "classical", auto_levels, repair)  # levels alone: no network
        with self._guard:
            if key not in self._restorers:
                try:
                    self._restorers[key] = Restorer(key[0], auto_levels=auto_levels, repair=repair)
                except ModelError as error:
                    raise ModelUnavailableError(str(error)) from error
            return self._restorers[key]


def with_options(colorizer: Colorizer, temperature: float, saturation: float) -> Colorizer:
    """A view of ``colorizer`` with another temperature and saturation, sharing its model.

    Requests run concurrently on one loaded model, so the cached colorizer is never changed.

    Raises:
        ConfigError: the temperature is outside (0, 10].
    """
    if temperature == colorizer.temperature and saturation == colorizer.saturation:
        return colorizer
    variant = copy.copy(colorizer)
    variant.temperature = check_temperature(temperature)
    variant.saturation = float(saturation)
    return variant


def colorize_upload(
    colorizer: Colorizer,
    data: bytes | BinaryIO,
    hints: Sequence[ColorHint],
    output: OutputFormat,
    quality: int,
    settings: ServiceSettings,
    restorer: Restorer | None = None,
) -> bytes:
    """Decode an uploaded image, colorize it and encode the result (runs on a worker thread).

    A 16-bit input gives a 16-bit PNG; alpha, EXIF (orientation applied) and the ICC profile
    are kept where the output type can store them.

    Args:
        data: the upload, or its file (read here, on the worker thread, once the request
            holds a colorization slot).
        restorer: repairs the photograph first (None: as uploaded).

    Raises:
        ImageTooLargeError: above the pixel or byte limit.
        InvalidImageError: not a readable image.
        InvalidHintError: a hint lies outside the image, or the model takes no hints.
        OutputTooLargeError: the image is larger than the output type can store.
    """
    loaded = _read_upload(data, output, settings)
    depth = 16 if loaded.bit_depth == 16 and output.name == "PNG" else 8
    rgb = colorizer.colorize_loaded(
        loaded, hints, dtype=np.uint16 if depth == 16 else np.uint8, restore=restorer
    )
    return _encoded(encode_image, rgb, loaded, output, depth, quality)


def restore_upload(
    restorer: Restorer,
    data: bytes | BinaryIO,
    output: OutputFormat,
    quality: int,
    settings: ServiceSettings,
) -> bytes:
    """Decode an uploaded image, repair it and encode the result (a worker thread): gray in,
    gray out; colour in, colour out (:func:`~masterpiece.pipeline.repair.restore_pixels`).
    A 16-bit input gives a 16-bit PNG; alpha, EXIF and the ICC profile are kept as in
    :func:`colorize_upload`, which raises the same errors."""
    loaded = _read_upload(data, output, settings)
    depth = 16 if loaded.bit_depth == 16 and output.name == "PNG" else 8
    equalise = loaded.is_grayscale and loaded.pixels.ndim == 3
    pixels = restore_pixels(loaded.pixels, equalise, restorer).pixels
    return _encoded(encode_restored, pixels, loaded, output, depth, quality)


def _read_upload(data: bytes | BinaryIO, output: OutputFormat, settings: ServiceSettings) -> LoadedImage:
    """The upload decoded within the limits, refused early when the output type cannot hold it."""
    if not isinstance(data, bytes):
        data.seek(0)
        data = data.read(settings.max_upload_bytes + 1)
    try:
        loaded = read_image(data, max_pixels=settings.max_pixels, max_bytes=settings.max_upload_bytes)
    except ImageTooLargeError as error:  # its advice is the CLI's and the library's: a client cannot follow it
        what = re.sub(r"the image data \([0-9,]+ bytes\)", "the upload", str(error).split("; ", 1)[0], count=1)
        raise ImageTooLargeError(f"{what}; {_service_limits(settings)}") from error
    _check_output_size(*loaded.size, output)
    return loaded


def _service_limits(settings: ServiceSettings) -> str:
    """What a client of this service may send, and who can change it."""
    from .settings import environment_variable

    pixels = "no pixel limit" if settings.max_pixels is None else f"at most {settings.max_pixels:,} pixels"
    return (f"this service takes images of {pixels} and {settings.max_upload_bytes:,} bytes: send a smaller "
            f"image (the operator sets the limits with {environment_variable('max_pixels')} and "
            f"{environment_variable('max_upload_bytes')})")


def _encoded(
    encode: Callable[..., bytes], pixels: np.ndarray, loaded: LoadedImage, output: OutputFormat,
    depth: int, quality: int,
) -> bytes:
    try:
        return encode(
            pixels,
            output.name,
            alpha=loaded.alpha,
            bit_depth=depth,
            exif=loaded.exif,
            icc_profile=loaded.icc_profile,
            quality=quality,
        )
    except OutputError as error:  # an encoder limit the check above does not know
        raise OutputTooLargeError(
            f"the image cannot be written as {output.name}: {error}; choose png (format=png)"
        ) from error


def _check_output_size(width: int, height: int, output: OutputFormat) -> None:
    """Refuse, before colorizing, an image the output type cannot store."""
    limit = MAX_OUTPUT_SIDE.get(output.name)
    if limit is not None and max(width, height) > limit:
        raise OutputTooLargeError(
            f"a {width}x{height} image is too large for {output.name} (at most {limit:,} "
            "pixels a side); choose png (format=png)"
        )
