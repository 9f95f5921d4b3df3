"""``masterpiece video IN [OUT]``: colorize a film without flicker, keeping its audio."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .main import EXIT_OK, say
from .options import add_model_options, add_restore_options

if TYPE_CHECKING:
    from ..pipeline.image import ColorHint

#: output extensions; the same as ``masterpiece.video.io.VIDEO_EXTENSIONS`` (spelled out so that
#: ``--help`` imports nothing heavy; a test keeps them equal)
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "video",
        help="colorize a video (stable colours within each shot, audio kept)",
        description="Colorize a black-and-white video: scene cuts are detected and, within each "
        "shot, colours are carried along the motion so that they do not flicker. The output has "
        "the source's resolution and frame rate, H.264 for .mp4 .m4v .mov .mkv, VP9 for .webm, "
        "MPEG-4 for .avi; the audio is copied (or transcoded when the container cannot hold it). "
        "The output is written to a hidden .part file and renamed when complete.",
    )
    parser.add_argument(
        "input", metavar="IN", help="the video to colorize (any format FFmpeg reads)"
    )
    parser.add_argument(
        "output",
        metavar="OUT",
        nargs="?",
        help="the output video, or an existing folder to write it into (default: IN_colorized with "
        "IN's extension, or .mp4)",
    )
    add_model_options(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--no-stabilise",
        dest="stabilise",
        action="store_false",
        help="colorize every frame on its own (flickers; for comparison)",
    )
    parser.add_argument(
        "--carry",
        type=float,
        default=None,
        help="how strongly colours follow the motion within a shot, 0..0.99 (default: 0.9)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="frames per network call (default: 4 on the CPU, 16 on a GPU)",
    )
    parser.add_argument(
        "--crf",
        type=int,
        default=18,
        help="H.264/VP9 quality, 0 (lossless) .. 51; lower is better and bigger (default: 18)",
    )
    parser.add_argument(
        "--hints",
        type=Path,
        metavar="FILE",
        help='colour hints as JSON: [{"frame": 0, "x": 120, "y": 80, "color": "#3a6ea5"}, ...]; '
        "each applies from its frame to the end of its shot, following the motion",
    )
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="FRAME:IMAGE",
        help="a colour image of frame FRAME (for example colorized by hand) that sets the "
        "colours of its shot from there on; may be repeated",
    )
    add_restore_options(parser, masks=False)
    parser.set_defaults(func=run, max_pixels=None)


def default_output(source: Path) -> Path:
    """``NAME_colorized.EXT`` beside ``source``; ``.mp4`` when its extension cannot be written."""
    extension = source.suffix.lower() if source.suffix.lower() in VIDEO_EXTENSIONS else ".mp4"
    return source.with_name(f"{source.stem}_colorized{extension}")


def load_hints(path: Path) -> dict[int, list[ColorHint]]:
    """Read a hints file: a JSON list of ``{"frame", "x", "y", "color"[, "size"]}`` objects.

    Raises:
        InvalidHintError: the file cannot be read or an entry is malformed.
    """
    from ..errors import InvalidHintError
    from ..pipeline.image import ColorHint

    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidHintError(f"cannot read the hints file '{path}': {error}") from error
    if not isinstance(entries, list):
        raise InvalidHintError(f"the hints file '{path}' must hold a JSON list of hints")
    hints: dict[int, list[ColorHint]] = {}
    for number, entry in enumerate(entries, 1):
        try:
            frame = int(entry["frame"])
            color: Any = entry["color"]
            hint = ColorHint(
                float(entry["x"]),
                float(entry["y"]),
                color if isinstance(color, str) else tuple(color),
                int(entry.get("size", 3)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InvalidHintError(
                f"hint {number} in '{path}' must be an object with frame, x, y and color "
                f'(like {{"frame": 0, "x": 120, "y": 80, "color": "#3a6ea5"}}): {error}'
            ) from error
        if frame < 0:
            raise InvalidHintError(
                f"hint {number} in '{path}': frame must be 0 or more, got {frame}"
            )
        hints.setdefault(frame, []).append(hint)
    return hints


def parse_references(specs: list[str]) -> dict[int, Path]:
    """``["12:frame12.png", ...]`` -> ``{12: Path("frame12.png")}``."""
    from ..errors import InvalidHintError

    references: dict[int, Path] = {}
    for spec in specs:
        frame, separator, image = spec.partition(":")
        if not separator or not frame.strip().isdigit() or not image:
            raise InvalidHintError(
                f"--reference {spec!r} must be FRAME:IMAGE, like 0:first_frame_colour.png"
            )
        references[int(frame)] = Path(image)
    return references


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..video.io import VideoReader
    from ..video.pipeline import colorize_video
    from ..video.temporal import TemporalSettings
    from .options import make_colorizer, make_restorer

    source = Path(args.input)
    destination = Path(args.output) if args.output else default_output(source)
    if destination.is_dir():  # an existing folder: the default name inside it
        destination = destination / default_output(source).name
    # what can never be written is refused before an existing output is skipped: a rerun
    # would otherwise report 'skipped' for a name that --overwrite then refuses
    if destination.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ConfigError(f"cannot write a video named '{destination}'; use one of {', '.join(VIDEO_EXTENSIONS)}")
    same_file = os.path.lexists(destination) and os.path.realpath(destination) == os.path.realpath(
        source
    )
    if os.path.lexists(destination) and not args.overwrite and not same_file:
        say(f"skipped: {destination} exists (use --overwrite to replace it)")
        return EXIT_OK
    if args.carry is not None and not 0.0 <= args.carry < 1.0:
        raise ConfigError(f"--carry must be in [0, 1), got {args.carry}")
    temporal = TemporalSettings(carry=args.carry) if args.carry is not None else None
    hints = load_hints(args.hints) if args.hints else None
    references = parse_references(args.reference)
    VideoReader(source).close()  # a file that is not a video fails before the model loads
    colorizer = make_colorizer(args)
    restorer = make_restorer(args)
    with _ProgressBar() as bar:
        result = colorize_video(
            source,
            destination,
            colorizer,
            stabilise=args.stabilise,
            temporal=temporal,
            batch_size=args.batch_size,
            hints=hints,
            references=references,
            overwrite=args.overwrite,
            crf=args.crf,
            on_frame=bar.update,
            restore=restorer,
        )
    say(str(result.path), sys.stdout)
    say(
        f"colorized {result.frames} frames ({result.shots} shot(s)) in {result.seconds:.1f} s "
        f"({result.fps:.1f} frames/s) with model {result.model}; audio: {result.audio}"
    )
    return EXIT_OK


class _ProgressBar:
    """A tqdm bar on stderr fed by ``on_frame(done, total)``: frames per second and time left."""

    def __init__(self) -> None:
        self._bar: Any = None

    def update(self, done: int, total: int | None) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True)
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> _ProgressBar:  # noqa: PYI034  (Self needs Python 3.11)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()
