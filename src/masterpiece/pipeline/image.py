"""Colorizing images: the :class:`Colorizer` and the one-call :func:`colorize`.

The network sees a small square ``L`` image (``size`` x ``size``, 256 by default); the
output keeps the input's own full-resolution ``L`` and only the predicted ``ab`` is
upsampled, then Lab is converted back to sRGB with chroma reduced (not RGB clipped) for
colours outside the gamut, so the output's lightness is the input's.

The full-resolution steps run in bands of rows (:mod:`.bands`), so memory beyond the source
and the result stays bounded whatever the image size. ``precision`` selects how the network
runs (:mod:`masterpiece.models.runtime`): ``fp32`` reproduces the reference results exactly
(and uses the exact colour conversion); the faster precisions also convert Lab to sRGB with
OpenCV, re-fitting out-of-gamut pixels exactly.

The pipeline is NumPy: the network is a :class:`~masterpiece.models.onnx_backend.NetworkBackend`
(ONNX Runtime for the bundled model, no torch imported; PyTorch for the others), called with
NumPy arrays.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from .._optional import torch_loaded
from ..color.annealed import check_temperature
from ..color.hint_maps import HintMaps, float32_array
from ..color.hint_propagation import propagate_hints
from ..color.lab_np import rgb_to_lab
from ..errors import ConfigError, InvalidHintError, InvalidInputError
from ..models.catalogue import spreads_hints
from ..models.onnx_backend import NetworkBackend, default_threads
from ..models.runtime import check_device, load_network
from ..models.selection import default_model_name
from ..settings import DEFAULT_QUALITY, DEFAULT_SIZE, DEFAULT_TEMPERATURE
from ..settings import precision as precision_from_env
from .bands import band_lightness as _band_lightness
from .bands import (
    lab_band_to_rgb,
    network_lightness,
    resize_for_network,
    row_bands,
    upsample_ab,
    upsample_ab_rows,
    upsample_ab_width,
)
from .decoding import LoadedImage, MaxPixelsDefault, read_image, resolve_max_pixels
from .encoding import encode_image, write_image
from .formats import writable_extension, writable_format
from .pixels import quantize
from .repair import check_destination, repair_for_colorizing, resolve_restorer, write_with_mask

if TYPE_CHECKING:
    import torch

    from ..models import ColorizationModel
    from ..restoration import Restorer

logger = logging.getLogger(__name__)

#: bands of one image converted at once on the fast path (each needs about 70 MB of temporaries)
MAX_BAND_WORKERS = 4

ImageLike = str | Path | bytes | Image.Image | np.ndarray


@dataclass(frozen=True)
class ColorHint:
    """A user colour at one point of the image.

    Attributes:
        x, y: pixel position in the full-resolution image (``x`` to the right, ``y`` down).
        color: the colour as sRGB ``(r, g, b)`` in 0..255 or ``"#rrggbb"``; only its chroma
            (``ab``) is used, the image keeps its own lightness.
        size: side of the square patch the hint covers, in network pixels (1..9).
    """

    x: float
    y: float
    color: tuple[int, int, int] | str
    size: int = 3

    def rgb(self) -> tuple[float, float, float]:
        """The colour as floats in [0, 1].

        Raises:
            InvalidHintError: the colour is not ``"#rrggbb"`` nor three numbers in 0..255.
        """
        color = self.color
        if isinstance(color, str):
            text = color.lstrip("#")
            if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
                raise InvalidHintError(f"hint colour {color!r} is not of the form #rrggbb")
            color = tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))
        try:
            values = tuple(float(c) for c in color)
        except (TypeError, ValueError, OverflowError):
            values = ()
        if len(values) != 3 or any(not 0.0 <= value <= 255.0 for value in values):
            raise InvalidHintError(
                f"hint colour {self.color!r} must be '#rrggbb' or three values in 0..255"
            )
        return values[0] / 255.0, values[1] / 255.0, values[2] / 255.0


def _check_hint(hint: object, width: int, height: int) -> None:
    """Raise :class:`InvalidHintError` unless ``hint`` is a ColorHint inside a width x height image."""
    if not isinstance(hint, ColorHint):
        raise InvalidHintError(f"hints must be ColorHint objects, got a {type(hint).__name__}")
    if not all(isinstance(value, numbers.Real) for value in (hint.x, hint.y, hint.size)):
        raise InvalidHintError(
            f"hint position and size must be numbers, got x={hint.x!r}, y={hint.y!r}, "
            f"size={hint.size!r}"
        )
    if not (0 <= hint.x < width and 0 <= hint.y < height):  # also refuses NaN
        raise InvalidHintError(
            f"hint at ({hint.x}, {hint.y}) lies outside the {width}x{height} image"
        )
    if not 1 <= hint.size < 10:
        raise InvalidHintError(f"hint size must be 1..9 network pixels, got {hint.size}")


def hint_maps(
    hints: Sequence[ColorHint], image_size: tuple[int, int], network_size: tuple[int, int]
) -> HintMaps:
    """Rasterize hints at the network's resolution.

    Args:
        hints: hints in full-resolution pixel coordinates.
        image_size: ``(width, height)`` of the full image.
        network_size: ``(width, height)`` of the network input.

    Returns:
        :class:`HintMaps` of NumPy float32: ``ab (1, 2, h, w)`` in Lab units, ``mask
        (1, 1, h, w)`` in {0, 1}.
    """
    width, height = image_size
    net_w, net_h = network_size
    hint_ab = np.zeros((1, 2, net_h, net_w), np.float32)
    hint_mask = np.zeros((1, 1, net_h, net_w), np.float32)
    for hint in hints:
        _check_hint(hint, width, height)
        ab = rgb_to_lab(np.asarray(hint.rgb(), np.float32).reshape(3, 1, 1))[1:, 0, 0]
        column = int(hint.x * net_w / width)
        row = int(hint.y * net_h / height)
        half = int(hint.size) // 2
        rows = slice(max(0, row - half), min(net_h, row - half + int(hint.size)))
        columns = slice(max(0, column - half), min(net_w, column - half + int(hint.size)))
        hint_ab[0, :, rows, columns] = ab.reshape(2, 1, 1)
        hint_mask[0, :, rows, columns] = 1.0
    return HintMaps(hint_ab, hint_mask)


class Colorizer:
    """A loaded model with its settings, for colorizing many images.

    Args:
        model: a registered model name, a model instance (PyTorch), or ``None`` for the best
            model whose weights are available (the bundled one offline).
        weights: a local weights file for ``model`` instead of the registered weights.
        size: side of the square ``L`` image the network sees (multiple of 16).
        temperature: annealed-mean temperature (:data:`~masterpiece.settings.DEFAULT_TEMPERATURE`,
            0.38 = the paper; 1 = plain mean).
        saturation: multiplies the predicted chroma (1 = as predicted, 0 = gray).
        device: ``cpu``, ``cuda`` or a ``torch.device`` (a GPU needs PyTorch).
        download: allow downloading missing registered weights.
        max_pixels: the largest image (width x height) read, judged from the file's header
            before decoding (decompression bombs); None for no limit. By default
            ``$MASTERPIECE_MAX_PIXELS`` (0 for no limit), else
            :data:`~masterpiece.settings.DEFAULT_MAX_PIXELS` (the variables: :mod:`masterpiece.settings`).
        precision: ``auto``, ``fp32`` (exact reproduction), ``bf16`` or ``int8`` (ONNX
            Runtime); see :mod:`masterpiece.models.runtime`. ``None``: ``$MASTERPIECE_PRECISION``,
            else ``auto``. The bundled model runs its shipped ONNX files (fp32, int8) without
            PyTorch.
        spread_hints: after the network, pull each region towards the colours of the hints
            in it (:mod:`masterpiece.color.hint_propagation`); ``None``: for the models whose
            catalogue entry says they follow hints only locally (``compact``).

    Raises:
        ConfigError: a setting (or ``$MASTERPIECE_MAX_PIXELS``) is out of range.
        MissingExtraError: the model or precision needs PyTorch and it is not installed.
    """

    def __init__(
        self,
        model: str | ColorizationModel | None = None,
        *,
        weights: str | Path | None = None,
        size: int = DEFAULT_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        saturation: float = 1.0,
        device: str | torch.device = "cpu",
        download: bool = True,
        max_pixels: int | None | MaxPixelsDefault = MaxPixelsDefault.FROM_ENV,
        precision: str | None = None,
        spread_hints: bool | None = None,
    ) -> None:
        self.max_pixels = resolve_max_pixels(max_pixels)
        if size < 32 or size % 16:
            raise ConfigError(f"size must be a multiple of 16 and at least 32, got {size}")
        if not 0.0 <= saturation <= 4.0:
            raise ConfigError(f"saturation must be between 0 and 4, got {saturation}")
        self.temperature = check_temperature(temperature)
        self.saturation = float(saturation)
        self.size = int(size)
        self.device = check_device(device)
        if model is None:
            model = default_model_name()
        requested = precision or precision_from_env()
        #: ``fp32`` asked for: the exact reference colour conversion (auto choosing fp32 is not)
        self.exact = requested == "fp32"
        self.backend: NetworkBackend = load_network(
            model, precision=requested, device=self.device, weights=weights,
            download=download, size=self.size,
        )
        self.model_name = model if isinstance(model, str) else type(model).__name__
        self.precision = self.backend.precision
        self.spread_hints = spreads_hints(self.model_name) if spread_hints is None else bool(spread_hints)

    @property
    def model(self):
        """The network: the PyTorch model behind a PyTorch backend, else the backend itself."""
        return getattr(self.backend, "model", self.backend)

    @property
    def accepts_hints(self) -> bool:
        return bool(self.model.accepts_hints)

    @property
    def threads(self) -> int:
        """Threads the network computes with."""
        return self.backend.threads

    def set_threads(self, threads: int) -> None:
        """Compute with ``threads`` threads: the network's, and PyTorch's when it is loaded."""
        self.backend.set_threads(threads)
        if torch_loaded():
            import torch

            torch.set_num_threads(max(1, int(threads)))

    def network_ab(self, network_l: np.ndarray, hints: HintMaps | None = None) -> np.ndarray:
        """Run the network at its own resolution, in the Colorizer's precision.

        Args:
            network_l: ``(B, 1, size, size)`` ``L`` in [0, 100] (NumPy, or a CPU tensor).
            hints: hint maps at any resolution (NumPy or tensors), or ``None``.

        Returns:
            ``(B, 2, h, w)`` float32 ab in Lab units (no saturation applied); decoding always
            runs in float32.
        """
        network_l = float32_array(network_l)
        if hints is not None:
            hints = hints.resized(network_l.shape[-2:])
        ab = self.backend.network_ab(network_l, hints, self.temperature)
        if self.spread_hints and hints is not None:
            ab = propagate_hints(network_l, ab, hints)
        return ab

    def predict_ab(self, lightness, hints: HintMaps | None = None):
        """Predict ab for an ``L`` image at its own resolution.

        Args:
            lightness: ``(B, 1, H, W)`` ``L`` in [0, 100], a NumPy array or a tensor.
            hints: hint maps (``(B, 2, h, w)`` ab, ``(B, 1, h, w)`` mask) at any resolution,
                or ``None``.

        Returns:
            ``(B, 2, H, W)`` float32 ab in Lab units (saturation applied), of the input's kind
            (a tensor on the input's device for a tensor).
        """
        values = float32_array(lightness)
        height, width = values.shape[-2:]
        network_l = resize_for_network(values, (self.size, self.size))
        ab = upsample_ab(self.network_ab(network_l, hints), (height, width)) * np.float32(self.saturation)
        if hasattr(lightness, "detach"):
            import torch

            return torch.from_numpy(np.ascontiguousarray(ab)).to(lightness.device)
        return ab

    def colorize_rgb(self, rgb: np.ndarray, hints: Sequence[ColorHint] = ()) -> np.ndarray:
        """Colorize an ``(H, W, 3)`` float32 sRGB image in [0, 1]; returns the same shape.

        Only the input's lightness is used (colour casts of toned prints are discarded).
        """
        return self.colorize_pixels(np.asarray(rgb, dtype=np.float32), hints)

    def colorize_pixels(
        self,
        pixels: np.ndarray,
        hints: Sequence[ColorHint] = (),
        *,
        equalise: bool = False,
        dtype: type = np.float32,
        restore: bool | Restorer | None = None,
    ) -> np.ndarray:
        """Colorize decoded pixels in bands of rows (bounded memory for any size).

        Args:
            pixels: ``(H, W)`` gray or ``(H, W, 3)`` sRGB; uint8, uint16 or float32 in [0, 1].
            hints: colour hints in pixel coordinates.
            equalise: use the mean of the RGB channels (an RGB file whose channels are equal).
            dtype: the result's type: float32 in [0, 1], or uint8 / uint16 (rounded as
                :func:`~masterpiece.pipeline.encoding.write_image` rounds).
            restore: repair scratches, dust and tears first (``True`` or a
                :class:`~masterpiece.restoration.Restorer`): the network sees the repaired
                ``L`` and the result keeps it (:func:`~masterpiece.pipeline.repair.repair_for_colorizing`).

        Returns:
            ``(H, W, 3)`` sRGB of ``dtype``.
        """
        restorer = resolve_restorer(restore)
        if restorer is not None:
            repaired = repair_for_colorizing(pixels, equalise, restorer)
            pixels, equalise = repaired.pixels, repaired.equalise
        height, width = pixels.shape[:2]
        maps = None
        if hints:
            if not self.accepts_hints:
                raise InvalidHintError(f"model {self.model_name!r} does not accept colour hints; use compact or siggraph17")
            maps = hint_maps(hints, (width, height), (self.size, self.size))
        ab_small = self.network_ab(network_lightness(pixels, self.size, equalise), maps)
        return self.render(pixels, ab_small, equalise=equalise, dtype=dtype)

    def render(
        self,
        pixels: np.ndarray,
        ab_small: np.ndarray,
        *,
        equalise: bool = False,
        dtype: type = np.float32,
        saturation: float | None = None,
        fast: bool | None = None,
    ) -> np.ndarray:
        """The full-resolution result from the pixels' own ``L`` and a low-resolution ``ab``.

        ``ab`` is upsampled bilinearly and joined with the ``L`` of ``pixels``, and Lab is
        converted to sRGB with chroma fitted to the gamut, in bands of rows.

        Args:
            pixels: ``(H, W)`` gray or ``(H, W, 3)`` sRGB; uint8, uint16 or float32 in [0, 1].
            ab_small: ``(1, 2, h, w)`` ab in Lab units (what :meth:`network_ab` returns, or
                a video's stabilised ``ab``).
            equalise: use the mean of the RGB channels.
            dtype: float32 in [0, 1], uint8 or uint16.
            saturation: chroma multiplier (default: the Colorizer's).
            fast: OpenCV colour conversion (default: unless ``fp32`` was asked for, the exact
                reproduction; ``auto`` choosing float32 stays fast).

        Returns:
            ``(H, W, 3)`` sRGB of ``dtype``.
        """
        height, width = pixels.shape[:2]
        saturation = self.saturation if saturation is None else saturation
        fast = not self.exact if fast is None else fast
        out = np.empty((height, width, 3), dtype)
        bands = list(row_bands(height, width))
        if len(bands) == 1:  # the whole image at once: exactly the reference computation
            ab = upsample_ab(float32_array(ab_small)[0], (height, width))
            self._store(out, bands[0], _band_lightness(pixels, equalise), ab * np.float32(saturation), fast)
            return out
        grid = float32_array(ab_small)[0]
        if height < grid.shape[-2]:  # a wide strip: its rows first (see upsample_ab), then each band's width
            ab_rows = upsample_ab_rows(grid, slice(0, height), height)

            def band_ab(rows: slice) -> np.ndarray:
                return upsample_ab_width(ab_rows[..., rows, :], width)
        else:
            ab_wide = upsample_ab_width(grid, width)

            def band_ab(rows: slice) -> np.ndarray:
                return upsample_ab_rows(ab_wide, rows, height)

        def colorize_band(rows: slice) -> None:
            ab = band_ab(rows) * np.float32(saturation)
            self._store(out, rows, _band_lightness(pixels[rows], equalise), ab, fast)

        # the fast path is NumPy and OpenCV work that releases the GIL: bands run on all cores
        # (each band writes its own rows of ``out``); the exact path runs one band at a time;
        # at most 4 bands at once: their temporaries (~70 MB each) stay bounded on big machines
        workers = min(len(bands), default_threads(), MAX_BAND_WORKERS) if fast else 1
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="masterpiece-band") as pool:
                list(pool.map(colorize_band, bands))  # re-raises a band's error here
        else:
            for rows in bands:
                colorize_band(rows)
        return out

    @staticmethod
    def _store(out: np.ndarray, rows: slice, lightness: np.ndarray, ab: np.ndarray, fast: bool) -> None:
        rgb = lab_band_to_rgb(lightness, ab, fast)
        if out.dtype == np.float32:
            out[rows] = rgb
        elif out.dtype == np.uint8:  # round half to even, as quantize (np.rint); one pass
            cv2.convertScaleAbs(np.clip(rgb, 0.0, 1.0, out=rgb), dst=out[rows], alpha=255.0)
        else:
            quantize(rgb, out[rows])

    def colorize_loaded(
        self, loaded: LoadedImage, hints: Sequence[ColorHint] = (), dtype: type = np.float32,
        restore: bool | Restorer | None = None,
    ) -> np.ndarray:
        """Colorize a :class:`LoadedImage`; returns ``(H, W, 3)`` RGB of ``dtype`` (float32 in [0, 1],
        uint8 or uint16), computed from the decoded pixels without a float copy of the image.
        ``restore`` as in :meth:`colorize_pixels`."""
        return self.colorize_pixels(loaded.pixels, hints, equalise=loaded.is_grayscale, dtype=dtype, restore=restore)

    def colorize_file(
        self,
        source: str | Path,
        destination: str | Path,
        *,
        hints: Sequence[ColorHint] = (),
        overwrite: bool = False,
        quality: int = DEFAULT_QUALITY,
        bit_depth: int | None = None,
        before_write: Callable[[], None] | None = None,
        restore: bool | Restorer | None = None,
        mask_path: str | Path | None = None,
    ) -> Path:
        """Read ``source``, colorize it and write ``destination`` atomically.

        The output format follows ``destination``'s extension. Alpha, EXIF (orientation
        applied) and 16-bit depth (PNG/TIFF; ``bit_depth=None`` keeps the input's) are kept.
        ``before_write``, if given, is called between colorizing and writing (a batch runner
        orders writes with it; what it raises propagates and nothing is written). ``restore``
        repairs the image first (:meth:`colorize_pixels`); ``mask_path`` (with ``restore``)
        receives the damage mask, an 8-bit PNG written with the output (:mod:`.repair`).

        Raises:
            InvalidImageError: ``source`` cannot be read (ImageTooLargeError above ``max_pixels``).
            OutputExistsError: ``destination`` (or the mask) is the input, or exists and not ``overwrite``.
            OutputError: ``destination`` cannot be written.
            ConfigError: ``mask_path`` without ``restore``.
        """
        source, destination = Path(source), Path(destination)
        mask_file, restorer = (Path(mask_path) if mask_path else None), resolve_restorer(restore)
        if mask_file is not None and restorer is None:
            raise ConfigError("a damage mask needs restore=True (--save-mask needs --restore)")
        check_destination(source, destination, overwrite, mask_file)
        loaded = read_image(source, max_pixels=self.max_pixels)
        depth, pixels, equalise, mask = bit_depth or loaded.bit_depth, loaded.pixels, loaded.is_grayscale, None
        if restorer is not None:
            repaired = repair_for_colorizing(pixels, equalise, restorer)
            pixels, equalise, mask = repaired.pixels, repaired.equalise, repaired.mask
        rgb = self.colorize_pixels(pixels, hints, equalise=equalise, dtype=np.uint16 if depth == 16 else np.uint8)
        alpha, exif, icc_profile = loaded.alpha, loaded.exif, loaded.icc_profile
        del loaded, pixels  # the source pixels are freed before encoding (big scans)
        if before_write is not None:
            before_write()
        return write_with_mask(lambda: write_image(
            destination, rgb, alpha=alpha, bit_depth=depth,
            exif=exif, icc_profile=icc_profile, quality=quality, overwrite=overwrite,
        ), mask_file, mask)

    def colorize(self, image: ImageLike, hints: Sequence[ColorHint] = (), **kwargs):
        """Colorize any supported kind of image and return the same kind.

        - ``str``/``Path``: writes ``<stem>_colorized<suffix>`` beside it (or ``output=``) and
          returns that path; a suffix that cannot be written (``.gif``) becomes ``.png``.
        - ``bytes``: returns encoded bytes in the input's format (PNG if unknown).
        - ``PIL.Image``: returns an RGB (or RGBA) ``PIL.Image``.
        - ``np.ndarray``: returns an array of the same dtype, ``(H, W, 3)`` or ``(H, W, 4)``.

        ``restore=True`` (or a :class:`~masterpiece.restoration.Restorer`) repairs scratches,
        dust and tears first (:meth:`colorize_pixels`); for paths also ``mask_path=``.
        """
        if isinstance(image, (str, Path)):
            source = Path(image)
            default = source.with_name(f"{source.stem}_colorized{writable_extension(source.suffix)}")
            output = Path(kwargs.pop("output", None) or default)
            return self.colorize_file(source, output, hints=hints, **kwargs)
        loaded = read_image(image, max_pixels=self.max_pixels)
        rgb = self.colorize_loaded(loaded, hints, restore=kwargs.pop("restore", None))
        if isinstance(image, bytes):
            return encode_image(
                rgb, writable_format(loaded.format), alpha=loaded.alpha, exif=loaded.exif,
                icc_profile=loaded.icc_profile, **kwargs,
            )
        if isinstance(image, Image.Image):
            return _to_pil(rgb, loaded.alpha)
        if isinstance(image, np.ndarray):
            return _to_array_like(rgb, loaded.alpha, image.dtype)
        raise InvalidInputError(f"cannot colorize a {type(image).__name__}; pass a path, bytes, a PIL image or an array")


def _to_pil(rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    pixels = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if alpha is not None:
        alpha8 = alpha if alpha.dtype == np.uint8 else (alpha.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
        return Image.fromarray(np.dstack((pixels, alpha8)), "RGBA")
    return Image.fromarray(pixels, "RGB")


def _to_array_like(rgb: np.ndarray, alpha: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        peak = float(np.iinfo(dtype).max)
        pixels = (np.clip(rgb, 0.0, 1.0) * peak + 0.5).astype(dtype)
        if alpha is not None:
            alpha = (alpha.astype(np.float64) * peak / float(np.iinfo(alpha.dtype).max) + 0.5).astype(dtype)
    else:
        pixels = rgb.astype(dtype, copy=False)
        if alpha is not None:
            alpha = (alpha.astype(np.float32) / float(np.iinfo(alpha.dtype).max)).astype(dtype)
    if alpha is None:
        return pixels
    return np.dstack((pixels, alpha)).astype(dtype, copy=False)  # stacking drops a big-endian dtype


_DEFAULT_COLORIZERS: dict[tuple, Colorizer] = {}


def colorize(image: ImageLike, model: str | None = None, *, hints: Sequence[ColorHint] = (), **options):
    """Colorize one image with a cached :class:`Colorizer`; returns the input's kind.

    ``options`` are :class:`Colorizer` settings (``weights``, ``size``, ``temperature``,
    ``saturation``, ``device``, ``max_pixels``, ``precision``) and output settings (``output``, ``overwrite``, ``quality``);
    ``restore=True`` (or a :class:`~masterpiece.restoration.Restorer`) repairs the photograph first.
    """
    settings = {k: options.pop(k) for k in ("weights", "size", "temperature", "saturation", "device", "max_pixels", "precision") if k in options}
    key = (model, tuple(sorted((k, str(v)) for k, v in settings.items())))
    if key not in _DEFAULT_COLORIZERS:
        _DEFAULT_COLORIZERS[key] = Colorizer(model, **settings)
    return _DEFAULT_COLORIZERS[key].colorize(image, hints, **options)
