"""``masterpiece colorize IN... [-o OUT]``: colorize files, folders or standard input."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .main import EXIT_OK, EXIT_PARTIAL_FAILURE

STDIO = "-"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every verb that runs a model."""
    parser.add_argument("--model", help="model name (default: the best model whose weights are present)")
    parser.add_argument("--weights", type=Path, help="use this local weights file instead of the registered weights")
    parser.add_argument("--temperature", type=float, default=0.38,
                        help="annealed-mean temperature: lower is more vivid, 1 the plain mean (default: 0.38)")
    parser.add_argument("--saturation", type=float, default=1.0, help="chroma multiplier (default: 1)")
    parser.add_argument("--size", type=int, default=256, help="side of the image the network sees (default: 256)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "colorize",
        help="colorize photographs (files, folders, or - for stdin/stdout)",
        description="Colorize black-and-white photographs. Folders are searched recursively and "
        "the output tree mirrors the input tree. Existing outputs are skipped unless --overwrite; "
        "inputs are never overwritten.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders, or - for standard input")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file (one input), folder (several inputs or a folder), or - for stdout; "
                        "default: NAME_colorized.EXT beside each file, FOLDER_colorized for a folder")
    add_model_options(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default: 95)")
    parser.add_argument("--format", dest="extension",
                        help="output format for folders and stdout, e.g. png or jpg (default: keep the input's)")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16),
                        help="output bit depth for PNG/TIFF (default: the input's)")
    parser.set_defaults(func=run)


@dataclass
class Job:
    """One input file and where its output goes."""

    source: Path
    destination: Path


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _with_extension(path: Path, extension: str | None) -> Path:
    return path.with_suffix("." + extension.lstrip(".")) if extension else path


def plan_jobs(inputs: list[str], output: str | None, extension: str | None) -> Plan:
    """Decide every input file's output path (no file is touched)."""
    from ..errors import InvalidInputError
    from ..pipeline.io import iter_image_files, output_path_for

    plan = Plan()
    several = len(inputs) > 1 or any(Path(item).is_dir() for item in inputs)
    out_dir = Path(output) if output else None
    if several and out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(f"-o {output} must be a folder when colorizing several images or a folder")
    for item in inputs:
        source = Path(item)
        if source.is_dir():
            root = out_dir / source.name if out_dir and len(inputs) > 1 else out_dir
            root = root or source.with_name(f"{source.name}_colorized")
            files = list(iter_image_files(source))
            if not files:
                plan.problems.append(f"{source}: no images found in this folder")
            for file in files:
                destination = _with_extension(output_path_for(file, source, root), extension)
                plan.jobs.append(Job(file, destination))
        elif source.exists() or source.is_symlink():
            if out_dir is not None and (several or out_dir.is_dir() or output.endswith(("/", "\\"))):
                destination = out_dir / source.name
            elif out_dir is not None:
                destination = out_dir
            else:
                destination = source.with_name(f"{source.stem}_colorized{source.suffix}")
            plan.jobs.append(Job(source, _with_extension(destination, extension)))
        else:
            plan.problems.append(f"{source}: no such file or folder")
    return plan


def _is_same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.resolve() == b.resolve()
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if not 1 <= args.quality <= 100:
        raise ConfigError(f"--quality must be 1..100, got {args.quality}")
    if STDIO in args.inputs:
        if len(args.inputs) > 1:
            raise ConfigError("'-' (standard input) cannot be combined with other inputs")
        return _run_stdio(args)
    plan = plan_jobs(args.inputs, args.output, args.extension)
    inputs = {job.source.resolve() for job in plan.jobs}
    for problem in plan.problems:
        print(f"masterpiece: {problem}", file=sys.stderr)
    colorizer = _make_colorizer(args)
    failures, skipped, written = len(plan.problems), 0, 0
    from tqdm import tqdm

    from ..errors import MasterpieceError

    bar = tqdm(plan.jobs, unit="image", disable=len(plan.jobs) < 2, file=sys.stderr)
    for job in bar:
        if job.destination.resolve() in inputs or _is_same_file(job.source, job.destination):
            print(f"masterpiece: {job.source}: output would overwrite an input; skipped", file=sys.stderr)
            failures += 1
            continue
        if job.destination.exists() and not args.overwrite:
            skipped += 1
            continue
        try:
            colorizer.colorize_file(
                job.source, job.destination, overwrite=args.overwrite, quality=args.quality, bit_depth=args.bit_depth,
            )
            written += 1
            if len(plan.jobs) == 1:
                print(job.destination)
        except MasterpieceError as error:
            failures += 1
            bar.write(f"masterpiece: {job.source}: {error}", file=sys.stderr)
    summary = f"colorized {written} image(s) with model {colorizer.model_name}"
    if skipped:
        summary += f"; skipped {skipped} existing output(s) (use --overwrite to replace them)"
    if failures:
        summary += f"; {failures} failed"
    print(summary, file=sys.stderr)
    return EXIT_PARTIAL_FAILURE if failures else EXIT_OK


def _make_colorizer(args: argparse.Namespace):
    from ..pipeline.image import Colorizer

    return Colorizer(
        args.model, weights=args.weights, size=args.size, temperature=args.temperature,
        saturation=args.saturation, device=args.device,
    )


def _run_stdio(args: argparse.Namespace) -> int:
    """Read one image from stdin; write to ``-o`` or, by default, to stdout."""
    from ..pipeline.io import encode_image, read_image, writable_format

    data = sys.stdin.buffer.read()
    loaded = read_image(data)
    colorizer = _make_colorizer(args)
    rgb = colorizer.colorize_loaded(loaded)
    if args.output and args.output != STDIO:
        from ..pipeline.io import write_image

        write_image(Path(args.output), rgb, alpha=loaded.alpha, bit_depth=args.bit_depth or loaded.bit_depth,
                    exif=loaded.exif, icc_profile=loaded.icc_profile, quality=args.quality,
                    overwrite=args.overwrite)
    else:
        fmt = args.extension or writable_format(loaded.format)
        encoded = encode_image(
            rgb, fmt, alpha=loaded.alpha, exif=loaded.exif, icc_profile=loaded.icc_profile, quality=args.quality
        )
        sys.stdout.buffer.write(encoded)
        sys.stdout.buffer.flush()
    print(f"colorized standard input with model {colorizer.model_name}", file=sys.stderr)
    return EXIT_OK
