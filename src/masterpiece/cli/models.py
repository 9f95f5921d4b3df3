"""``masterpiece models``: list the model zoo, download weights, import the Caffe release, export ONNX.

::

    masterpiece models list
    masterpiece models pull NAME [NAME ...] | --all
    masterpiece models import-caffe --prototxt P --caffemodel C --pts-in-hull N [-o OUT] [--overwrite]
    masterpiece models export NAME [--weights FILE] --format onnx [--int8] [--calibration DIR] -o OUT.onnx
    masterpiece models bundle [--model NAME] [--out DIR] [--calibration-count N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .main import EXIT_MODEL, EXIT_OK, EXIT_PARTIAL_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    import numpy as np

_DEFAULT_IMPORT_OUTPUT = "eccv16-caffe.safetensors"
#: calibration images and their side for `models export --int8` (export_onnx's defaults)
_CALIBRATION_COUNT = 16
_EXPORT_SIZE = 256


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` verb and its actions."""
    parser = subparsers.add_parser(
        "models",
        help="list models, download their weights, import the Caffe release",
        description="Manage the model zoo: list models, download and verify weights (for offline "
        "use, pull on a machine with internet and copy the cache directory), import the Caffe release.",
    )
    parser.set_defaults(func=run, models_parser=parser)
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")

    actions.add_parser(
        "list", help="show every model, whether its weights are present, size and licence"
    )

    pull = actions.add_parser("pull", help="download and verify weights into the cache directory")
    pull.add_argument(
        "names", nargs="*", metavar="NAME", help="models to download (see `models list`)"
    )
    pull.add_argument("--all", action="store_true", help="download the weights of every model")

    caffe = actions.add_parser(
        "import-caffe",
        help="convert the ECCV16 Caffe release into a safetensors file for --weights",
    )
    caffe.add_argument(
        "--prototxt", required=True, type=Path, help="colorization_deploy_v2.prototxt"
    )
    caffe.add_argument(
        "--caffemodel", required=True, type=Path, help="colorization_release_v2.caffemodel"
    )
    caffe.add_argument(
        "--pts-in-hull", required=True, type=Path, help="pts_in_hull.npy (the 313 bin centres)"
    )
    caffe.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path(_DEFAULT_IMPORT_OUTPUT),
        help=f"output .safetensors file (default: {_DEFAULT_IMPORT_OUTPUT})",
    )
    caffe.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    export = actions.add_parser(
        "export",
        help="export a model to ONNX (dynamic height and width; float32 or int8)",
        description="Export a model's network to ONNX for ONNX Runtime and other runtimes. The "
        "decoding settings (bin centres) travel in the file's metadata.",
    )
    export.add_argument("name", metavar="NAME", help="model to export (see `models list`)")
    export.add_argument("--weights", type=Path, help="a local weights file instead of the registered weights")
    export.add_argument("--format", default="onnx", choices=("onnx",), help="output format (default: onnx)")
    export.add_argument("--int8", action="store_true", help="quantize to int8 (static, calibrated)")
    export.add_argument("--calibration", type=Path, metavar="DIR",
                        help="folder of photographs for the int8 calibration (default: generated images)")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output file")

    bundle = actions.add_parser(
        "bundle",
        help="rebuild the ONNX files shipped with the bundled model (after retraining it)",
        description="Export each bundled model from its shipped safetensors (the registered file) "
        "to float32 and int8 ONNX named after the safetensors (NAME-fp32.onnx, NAME-int8.onnx), "
        "record them in the folder's onnx_manifest.json, and delete the files of replaced weights. Needs the dev "
        "extras (torch, onnx, onnxruntime).",
    )
    bundle.add_argument("--model", action="append", metavar="NAME",
                        help="a bundled model to rebuild (repeatable; default: every bundled model)")
    bundle.add_argument("--out", type=Path, metavar="DIR",
                        help="folder to write into (default: the package's models/bundled)")
    bundle.add_argument("--calibration-count", type=int, default=16, metavar="N",
                        help="generated images for the int8 calibration (default: 16)")


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; returns the exit code."""
    handlers = {
        "list": _list, "pull": _pull, "import-caffe": _import_caffe, "export": _export, "bundle": _bundle,
    }
    handler = handlers.get(args.models_action)
    if handler is None:
        args.models_parser.print_help()
        return EXIT_USAGE
    return handler(args)


def _size(size_bytes: int | None) -> str:
    return "?" if size_bytes is None else f"{size_bytes / 1e6:.0f} MB"


def _list(args: argparse.Namespace) -> int:
    from ..models import cache_dir, get_model_info, list_models, weights_available

    header = ("name", "hints", "weights", "size", "licence", "source")
    rows = [header]
    for name in list_models():
        info = get_model_info(name)
        spec = info.weights
        present = "bundled" if spec is not None and spec.bundled else "present"
        rows.append(
            (
                name,
                "yes" if info.accepts_hints else "no",
                present if weights_available(info) else "missing",
                _size(spec.size_bytes) if spec else "-",
                spec.license if spec else "-",
                spec.source if spec else "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"\nweights cache: {cache_dir()}")
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    from ..errors import InvalidInputError, MasterpieceError
    from ..models import download_weights, get_model_info, list_models, published_weights

    if args.all == bool(args.names):
        raise InvalidInputError(
            "give one or more model NAMEs or --all (see `masterpiece models list`)"
        )
    infos = [get_model_info(name) for name in (list_models() if args.all else args.names)]
    if args.all:
        infos = [info for info in infos if info.weights is not None]
    failures = 0
    for info in infos:
        try:
            path = download_weights(published_weights(info), progress=True, name=info.name)
        except MasterpieceError as error:
            if len(infos) == 1:
                raise
            failures += 1
            print(f"masterpiece: error: {info.name}: {error}", file=sys.stderr)
            continue
        print(f"{info.name}: {path}")
    if failures and failures == len(infos):  # nothing was pulled: as one name's failure exits
        return EXIT_MODEL
    return EXIT_PARTIAL_FAILURE if failures else EXIT_OK


def _import_caffe(args: argparse.Namespace) -> int:
    from ..models.caffe import import_caffe_eccv16_to_file

    path = import_caffe_eccv16_to_file(
        args.prototxt, args.caffemodel, args.pts_in_hull, args.output, overwrite=args.overwrite
    )
    print(f"wrote {path}; use it with `masterpiece colorize --model eccv16 --weights {path} ...`")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from ..models import create_model, refuse_overwrite
    from ..models.export import export_onnx

    refuse_overwrite(args.output, args.overwrite)  # before loading the model
    model = create_model(args.name, weights=args.weights)
    calibration = None
    if args.int8 and args.calibration is not None:
        calibration = calibration_from_folder(args.calibration, _CALIBRATION_COUNT, _EXPORT_SIZE)
    path = export_onnx(
        model, args.output, name=args.name, int8=args.int8, calibration=calibration,
        calibration_count=_CALIBRATION_COUNT, size=_EXPORT_SIZE, overwrite=args.overwrite,
    )
    print(f"wrote {path} ({'int8' if args.int8 else 'float32'})")
    return EXIT_OK


def calibration_from_folder(folder: Path, count: int, size: int) -> list[np.ndarray]:
    """Up to ``count`` ``(1, 1, size, size)`` float32 ``L`` images from the photographs in
    ``folder`` (in name order), each exactly as the Colorizer makes the network's input.

    Raises:
        ConfigError: ``folder`` holds no readable image.
    """
    import logging

    import numpy as np

    from ..errors import ConfigError, InvalidImageError
    from ..pipeline.bands import network_lightness
    from ..pipeline.decoding import read_image
    from ..pipeline.folders import iter_image_files

    images = []
    for path in sorted(iter_image_files(Path(folder))):
        try:
            loaded = read_image(path)
        except InvalidImageError as error:
            logging.getLogger(__name__).warning("calibration: %s is skipped (%s)", path, error)
            continue
        images.append(np.asarray(network_lightness(loaded.pixels, size, loaded.is_grayscale), dtype=np.float32))
        if len(images) == count:
            break
    if not images:
        raise ConfigError(f"no readable image in the calibration folder {folder}; pass a folder of photographs")
    return images


def _bundle(args: argparse.Namespace) -> int:
    from ..models.bundled_onnx import MANIFEST_NAME, bundled_dir
    from ..models.export import bundled_model_names, export_bundled

    for name in args.model or bundled_model_names():
        files = export_bundled(name, args.out, calibration_count=args.calibration_count)
        for precision, entry in files.items():
            print(f"{name} {precision}: {entry.filename} ({entry.size / 1e6:.1f} MB, "
                  f"sha256 {entry.sha256[:12]}..., from {entry.source_filename})")
    print(f"wrote {(args.out or bundled_dir()) / MANIFEST_NAME}")
    return EXIT_OK
