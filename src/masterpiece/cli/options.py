"""The options several verbs share, their checks, and what they build.

``colorize``, ``batch``, ``restore`` and ``video`` add the model, output and restoration options
with the functions here, check them with :func:`check_options`, and build what they ask for
with :func:`make_colorizer` and :func:`make_restorer`. Their defaults and environment variables
are :mod:`masterpiece.settings`'s (which imports no model code, so ``--help`` stays quick).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_PRECISION,
    DEFAULT_QUALITY,
    DEFAULT_SIZE,
    DEFAULT_TEMPERATURE,
    MAX_PIXELS_ENV,
    PRECISION_ENV,
    PRECISIONS,
)

if TYPE_CHECKING:
    from ..pipeline.image import Colorizer
    from ..restoration import Restorer

#: an input or output of ``-`` is standard input or output
STDIO = "-"
#: ``--detector`` choices and the mask's suffix, spelled out for ``--help`` (a test keeps them
#: equal to ``masterpiece.restoration``'s and ``masterpiece.pipeline.repair``'s)
DETECTOR_CHOICES = ("learned", "classical")
MASK_SUFFIX = "_mask"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every verb that runs a model."""
    parser.add_argument("--model", help="model name (default: the best model whose weights are present)")
    parser.add_argument("--weights", type=Path, help="use this local weights file instead of the registered weights")
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                        help=f"annealed-mean temperature: lower is more vivid, 1 the plain mean (default: {DEFAULT_TEMPERATURE})")
    parser.add_argument("--saturation", type=float, default=1.0, help="chroma multiplier (default: 1)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help=f"side of the image the network sees (default: {DEFAULT_SIZE})")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="network precision: auto (the fastest of int8, fp32 and bf16 within 1.5 ab of fp32, "
                        "timed once on this CPU and cached), fp32 (exact reproduction), bf16, or int8 (ONNX Runtime, "
                        f"exported once into the weights cache) (default: ${PRECISION_ENV}, else {DEFAULT_PRECISION})")


def add_restore_options(parser: argparse.ArgumentParser, *, verb_restores: bool = False, masks: bool = True) -> None:
    """``--restore`` (unless the verb always restores), ``--detector``, ``--auto-levels`` and
    (``masks``) ``--save-mask``."""
    if not verb_restores:
        parser.add_argument("--restore", action="store_true",
                            help="repair scratches, dust, creases and tears first (see `masterpiece restore`)")
    parser.add_argument("--detector", choices=DETECTOR_CHOICES, default="learned",
                        help="how damage is found: learned (the bundled network) or classical "
                        "(morphological top-hat and thresholding) (default: learned)")
    parser.add_argument("--auto-levels", action="store_true",
                        help="stretch the tones of a faded print (percentiles; at most 0.5%% of the pixels "
                        "clipped at either end) (default: off)")
    if masks:
        parser.add_argument("--save-mask", action="store_true",
                            help=f"also write the detected damage beside each output as NAME{MASK_SUFFIX}.png "
                            "(8-bit, 255 where damaged); needs --restore on colorize and batch")


def add_output_options(parser: argparse.ArgumentParser, format_help: str) -> None:
    """``--overwrite``, ``--quality``, ``--format``, ``--bit-depth`` and ``--max-pixels`` (colorize, batch)."""
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quality", type=int, default=DEFAULT_QUALITY,
                        help=f"JPEG/WebP quality 1-100 (default: {DEFAULT_QUALITY})")
    parser.add_argument("--format", dest="extension", help=format_help)
    parser.add_argument("--bit-depth", type=int, choices=(8, 16),
                        help="output bit depth for PNG/TIFF (default: the input's)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse images larger than N pixels (width x height), judged before decoding; "
                        f"0 for no limit (default: ${MAX_PIXELS_ENV}, else {DEFAULT_MAX_PIXELS})")


def check_options(args: argparse.Namespace) -> None:
    from ..errors import ConfigError
    from ..pipeline.formats import writable_format

    if getattr(args, "save_mask", False) and not (getattr(args, "restore", False)):
        raise ConfigError("--save-mask writes the damage --restore finds; add --restore")
    if getattr(args, "save_mask", False) and STDIO in getattr(args, "inputs", ()):
        raise ConfigError("--save-mask cannot be used with standard input; name the file instead")

    if not 1 <= args.quality <= 100:
        raise ConfigError(f"--quality must be 1..100, got {args.quality}")
    if args.max_pixels is not None and args.max_pixels < 0:
        raise ConfigError(f"--max-pixels must be a number of pixels (0 for no limit), got {args.max_pixels}")
    if args.extension and not writable_format(args.extension, ""):
        raise ConfigError(f"--format {args.extension} cannot be written; use png, jpg, tif, webp or bmp")


def stream_source(args: argparse.Namespace) -> tuple[bytes | Path, str] | None:
    """The one image of the stream mode and its name for the summary: standard input (``-`` as
    the input), or the one input file when ``-o -`` sends the result to standard output;
    ``None`` for the file mode (outputs planned by :func:`~.jobs.plan_jobs`).

    Raises:
        ConfigError: ``-`` with other inputs, or ``-o -`` with several inputs or a folder.
        InvalidInputError: the input file of ``-o -`` does not exist.
    """
    import sys

    from ..errors import ConfigError, InvalidInputError

    if STDIO in args.inputs:
        if len(args.inputs) > 1:
            raise ConfigError("'-' (standard input) cannot be combined with other inputs")
        return sys.stdin.buffer.read(), "standard input"
    if args.output != STDIO:
        return None
    source = Path(args.inputs[0])
    if len(args.inputs) > 1 or source.is_dir():
        raise ConfigError("-o - (standard output) takes one image file; give several inputs or a folder -o FOLDER")
    if not source.is_file():
        raise InvalidInputError(f"{source}: no such file or folder")
    return source, str(source)


def make_colorizer(args: argparse.Namespace) -> Colorizer:
    """The colorizer the model options (and ``--max-pixels``) ask for; the model loads here."""
    from ..pipeline.image import Colorizer

    return Colorizer(
        args.model, weights=args.weights, size=args.size, temperature=args.temperature,
        saturation=args.saturation, device=args.device, **max_pixels_option(args),
        **({"precision": args.precision} if getattr(args, "precision", None) else {}),
    )


def make_restorer(args: argparse.Namespace) -> Restorer | None:
    """The restorer ``--restore``, ``--detector`` and ``--auto-levels`` ask for (None: neither
    repair nor auto levels). ``--auto-levels`` alone stretches the tones without repairing
    (and loads no detector network)."""
    repair, levels = bool(getattr(args, "restore", False)), bool(getattr(args, "auto_levels", False))
    if not (repair or levels):
        return None
    from ..restoration import Restorer

    return Restorer(args.detector if repair else "classical", auto_levels=levels, repair=repair)


def max_pixels_option(args: argparse.Namespace) -> dict[str, int | None]:
    """``--max-pixels`` as ``max_pixels=`` for the library: absent keeps the environment's limit
    (``$MASTERPIECE_MAX_PIXELS``), 0 means none."""
    if args.max_pixels is None:
        return {}
    return {"max_pixels": args.max_pixels or None}
