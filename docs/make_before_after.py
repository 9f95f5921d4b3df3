"""Build the README's before/after pictures from Masterpiece's own output (bundled model).

    .venv/bin/python docs/make_before_after.py             # both pictures
    .venv/bin/python docs/make_before_after.py astronaut   # docs/before_after.jpg (after `make demo`)
    .venv/bin/python docs/make_before_after.py portraits   # docs/portraits_before_after.jpg

The portraits are the public-domain 19th- and early 20th-century ones of ``../shared/data/bw``
(Old Tom Morris, David Hilbert), colorized here by the bundled model with its defaults.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ("rni6_Old_Tom_Morris.png", "rni6_David_Hilbert.png")
LABEL_AFTER = "after (Masterpiece, bundled model)"


def _labelled_pairs(pairs: list[tuple[Path, Path]], height: int, label_after: str) -> Image.Image:
    """Each ``(before, after)`` pair side by side, the pairs in a row, labels at the bottom."""
    gap = 8
    tiles: list[tuple[Image.Image, str]] = []
    for before, after in pairs:
        for path, label in ((before, "before"), (after, label_after)):
            image = Image.open(path).convert("RGB")
            width = round(image.width * height / image.height)
            tiles.append((image.resize((width, height), Image.LANCZOS), label))
    canvas = Image.new("RGB", (sum(t.width for t, _ in tiles) + gap * (len(tiles) - 1), height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label in tiles:
        canvas.paste(tile, (x, 0))
        text = label if 7 * len(label) + 16 < tile.width else label.split(" (")[0]
        draw.rectangle((x + 4, height - 26, x + 7 * len(text) + 16, height - 6), fill="black")
        draw.text((x + 8, height - 24), text, fill="white")
        x += tile.width + gap
    return canvas


def side_by_side(before: Path, after: Path, destination: Path, height: int = 360) -> None:
    _labelled_pairs([(before, after)], height, LABEL_AFTER).save(destination, quality=88)


def portraits(destination: Path, data: Path = ROOT.parent / "shared" / "data" / "bw", height: int = 300) -> None:
    """Colorize the public-domain portraits with the bundled model and put them side by side."""
    from masterpiece import Colorizer

    colorizer = Colorizer("compact", download=False)
    with tempfile.TemporaryDirectory() as folder:
        pairs = []
        for name in PORTRAITS:
            after = Path(folder) / f"{Path(name).stem}_colorized.png"
            colorizer.colorize_file(data / name, after)
            pairs.append((data / name, after))
        _labelled_pairs(pairs, height, "after").save(destination, quality=90)


if __name__ == "__main__":
    wanted = set(sys.argv[1:]) or {"astronaut", "portraits"}
    if "astronaut" in wanted:
        side_by_side(ROOT / "examples/astronaut_bw.jpg", ROOT / "out/astronaut_colorized.jpg", ROOT / "docs/before_after.jpg")
        print(ROOT / "docs/before_after.jpg")
    if "portraits" in wanted:
        portraits(ROOT / "docs/portraits_before_after.jpg")
        print(ROOT / "docs/portraits_before_after.jpg")
