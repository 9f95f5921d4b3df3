"""Build docs/before_after.jpg: the demo input beside Masterpiece's colorization of it.

Run after `make demo`:  .venv/bin/python docs/make_before_after.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]


def side_by_side(before: Path, after: Path, destination: Path, height: int = 360) -> None:
    left = Image.open(before).convert("RGB")
    right = Image.open(after).convert("RGB")
    width = round(left.width * height / left.height)
    gap = 8
    canvas = Image.new("RGB", (2 * width + gap, height), "white")
    canvas.paste(left.resize((width, height), Image.LANCZOS), (0, 0))
    canvas.paste(right.resize((width, height), Image.LANCZOS), (width + gap, 0))
    draw = ImageDraw.Draw(canvas)
    for x, label in ((8, "before"), (width + gap + 8, "after (Masterpiece, bundled model)")):
        draw.rectangle((x - 4, height - 26, x + 7 * len(label) + 4, height - 6), fill="black")
        draw.text((x, height - 24), label, fill="white")
    canvas.save(destination, quality=88)


if __name__ == "__main__":
    side_by_side(ROOT / "examples/astronaut_bw.jpg", ROOT / "out/astronaut_colorized.jpg", ROOT / "docs/before_after.jpg")
    print(ROOT / "docs/before_after.jpg")
