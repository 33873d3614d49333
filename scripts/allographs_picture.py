"""Draw the allograph inventory (digitnet.data.writer.ALLOGRAPHS) for the README: one row a digit.

    python scripts/allographs_picture.py [--out docs/allographs.png]

Each form once, as the even-handed plain writer writes it, with its name underneath.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from digitnet.data.writer import forms_of, inventory_image

CELL_WIDTH, CELL_HEIGHT, DIGIT_HEIGHT = 120, 92, 56  # pixels
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def caption_font():
    return ImageFont.truetype(str(FONT_FILE), 12) if FONT_FILE.is_file() else ImageFont.load_default()


def picture() -> Image.Image:
    columns = max(len(forms_of(digit)) for digit in range(10))
    sheet = Image.new("L", (columns * CELL_WIDTH, 10 * CELL_HEIGHT), 255)
    draw, font = ImageDraw.Draw(sheet), caption_font()
    for digit in range(10):
        for column, allograph in enumerate(forms_of(digit)):
            ink = Image.fromarray(inventory_image(allograph, DIGIT_HEIGHT))
            ink.thumbnail((CELL_WIDTH - 8, DIGIT_HEIGHT + 24))
            left = column * CELL_WIDTH + (CELL_WIDTH - ink.width) // 2
            top = digit * CELL_HEIGHT + max(0, (DIGIT_HEIGHT + 24 - ink.height) // 2) - 6
            sheet.paste(ink, (left, top))
            text_width = draw.textlength(allograph.name, font=font)
            caption_at = (column * CELL_WIDTH + (CELL_WIDTH - text_width) / 2, (digit + 1) * CELL_HEIGHT - 18)
            draw.text(caption_at, allograph.name, fill=90, font=font)
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/allographs.png"))
    args = parser.parse_args()
    from digitnet.util.fileio import atomic_write_bytes

    buffer = io.BytesIO()
    picture().save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"wrote {args.out} ({len(buffer.getvalue()):,} bytes)")


if __name__ == "__main__":
    main()
