"""Build the README's before/after pictures from Masterpiece's own output (bundled model).

    .venv/bin/python docs/make_before_after.py             # both pictures
    .venv/bin/python docs/make_before_after.py astronaut   # docs/before_after.jpg (after `make demo`)
    .venv/bin/python docs/make_before_after.py portraits   # docs/portraits_before_after.jpg
    .venv/bin/python docs/make_before_after.py repair      # docs/repair_before_after.jpg

The portraits are the public-domain 19th- and early 20th-century ones of ``../shared/data/bw``
(Old Tom Morris, David Hilbert), colorized here by the bundled model with its defaults.

The repair picture scratches those portraits with the seeded synthetic damage generator
(:mod:`masterpiece.restoration.damage`: scratches, hairlines, dust, spots, a crease), then
shows ``masterpiece restore`` and ``masterpiece colorize --restore`` on the scratched prints.
The scanned scratched prints of ``bw/`` (``bopbtl_a`` to ``d``, from Microsoft's "Bringing
Old Photos Back to Life" test images) are not used: no licence is recorded for them.
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


#: the synthetic damage of the repair picture: denser than the generator's defaults (counts are
#: per 512 x 512 pixels and the portraits are about 210 x 280), no torn corner or missing region
#: (the picture is about scratches and dust)
REPAIR_SEEDS = (3, 11)


def _scratch(source: Path, destination: Path, seed: int) -> None:
    """``source`` with synthetic damage drawn on its lightness, as an 8-bit gray PNG."""
    import numpy as np

    from masterpiece.pipeline.decoding import read_image
    from masterpiece.pipeline.repair import image_lightness, lightness_to_gray
    from masterpiece.restoration.damage import DamageConfig, draw_damage

    config = DamageConfig(scratches=14, hairlines=10, dust=120, spots=6, creases=2, torn_probability=0,
                          missing=0, stains=0, grain_sigma=(0.0, 1.0))
    loaded = read_image(source)
    damaged, _ = draw_damage(image_lightness(loaded.pixels, loaded.is_grayscale), seed, config)
    Image.fromarray(np.rint(lightness_to_gray(damaged) * 255).astype(np.uint8)).save(destination)


def repair(destination: Path, data: Path = ROOT.parent / "shared" / "data" / "bw", height: int = 300) -> str:
    """Scratched portraits, restored, and restored and colorized, side by side; returns the
    detector used (the bundled learned one, or the classical one while it is not bundled)."""
    from masterpiece import Colorizer
    from masterpiece.errors import WeightsError
    from masterpiece.pipeline.repair import restore_file
    from masterpiece.restoration import Restorer

    try:
        restorer = Restorer("learned")
    except WeightsError:
        restorer = Restorer("classical")
    colorizer = Colorizer("compact", download=False)
    gap, rows = 8, []
    with tempfile.TemporaryDirectory() as folder:
        for name, seed in zip(PORTRAITS, REPAIR_SEEDS):
            stem = Path(folder) / Path(name).stem
            scratched = stem.with_name(f"{stem.name}_scratched.png")
            _scratch(data / name, scratched, seed)
            restored = restore_file(scratched, stem.with_name(f"{stem.name}_restored.png"), restorer)
            colour = colorizer.colorize_file(scratched, stem.with_name(f"{stem.name}_colour.png"), restore=restorer)
            rows.append([Image.open(path).convert("RGB") for path in (scratched, restored, colour)])
        labels = ("scratched (synthetic damage)", f"masterpiece restore ({restorer.detector_name})",
                  "masterpiece colorize --restore")
        tiles = [(image.resize((round(image.width * height / image.height), height), Image.LANCZOS), label)
                 for row in rows for image, label in zip(row, labels)]
        canvas = Image.new("RGB", (sum(t.width for t, _ in tiles) + gap * (len(tiles) - 1), height), "white")
        draw, x = ImageDraw.Draw(canvas), 0
        for tile, label in tiles:
            canvas.paste(tile, (x, 0))
            text = label if 7 * len(label) + 16 < tile.width else label.split(" (")[0].replace("masterpiece ", "")
            draw.rectangle((x + 4, height - 26, x + 7 * len(text) + 16, height - 6), fill="black")
            draw.text((x + 8, height - 24), text, fill="white")
            x += tile.width + gap
        canvas.save(destination, quality=88)
    return restorer.detector_name


if __name__ == "__main__":
    wanted = set(sys.argv[1:]) or {"astronaut", "portraits", "repair"}
    if "astronaut" in wanted:
        side_by_side(ROOT / "examples/astronaut_bw.jpg", ROOT / "out/astronaut_colorized.jpg", ROOT / "docs/before_after.jpg")
        print(ROOT / "docs/before_after.jpg")
    if "portraits" in wanted:
        portraits(ROOT / "docs/portraits_before_after.jpg")
        print(ROOT / "docs/portraits_before_after.jpg")
    if "repair" in wanted:
        detector = repair(ROOT / "docs/repair_before_after.jpg")
        print(ROOT / "docs/repair_before_after.jpg", f"({detector} detector)")
