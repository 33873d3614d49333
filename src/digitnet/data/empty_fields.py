"""Empty fields of printed forms, as a reader crops them: a validation family of non-digits.

A form reader, or a user cropping a photo of a form, sends the box a digit should have been
written in even when nobody wrote in it: its printed frame (often cut by the crop on a side or
two), a comb (a baseline with ticks between the cells), a dotted or dashed guide line, or a patch
of squared paper, under uneven light. No detector trains on these
(digitnet.data.negatives.VALIDATION_KINDS "empty_fields"): they are for choosing between
detectors, the first validation family of printed lines on paper (letters in the validation fonts
and doodles are writing; the held-out textures and paper photos had no validation family like them).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

FIELD_KINDS = ("box", "comb", "guide_line", "squared_paper")
SUPERSAMPLE = 4  # lines are drawn this many times larger, turned, then shrunk: thin and smooth
LINE_WIDTH_PX = (0.6, 2.5)  # a printed line's width on the page
LINE_DARKNESS = (40, 150)  # how much darker than the paper a printed line is (pale blue-grey to black)
TILT_DEG = 4.0  # the form photographed or scanned a little askew


def empty_field(rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """uint8 (H, W): one empty field on lit paper, dark lines on light; of `kind` (FIELD_KINDS),
    or of one drawn at random when None."""
    from digitnet.data.synthetic import lit_paper_page

    side = int(rng.integers(40, 160))
    drawn = FIELD_KINDS[int(rng.integers(0, len(FIELD_KINDS)))]  # drawn either way: the same stream
    kind = drawn if kind is None else kind
    page = lit_paper_page(side, rng) - rng.uniform(*LINE_DARKNESS) * printed_lines(kind, side, rng)
    return np.round(page).clip(0, 255).astype(np.uint8)


def printed_lines(kind: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (side, side) in [0, 1], 1 = a printed line: the field's lines, a little askew."""
    if kind not in FIELD_KINDS:
        raise ValueError(f"unknown kind of empty field {kind!r}; use one of {', '.join(FIELD_KINDS)}")
    size = side * SUPERSAMPLE
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    width = max(1, round(rng.uniform(*LINE_WIDTH_PX) * SUPERSAMPLE))
    for start, end in _segments(kind, float(size), rng):
        draw.line([tuple(start), tuple(end)], fill=255, width=width)
    image = image.rotate(rng.uniform(-TILT_DEG, TILT_DEG), resample=Image.Resampling.BILINEAR)
    return np.asarray(image.resize((side, side), Image.Resampling.BOX), np.float32) / 255.0


def _segments(kind: str, size: float, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """The field's straight lines, as (start, end) points (x, y) on a page `size` wide."""
    if kind == "box":
        # Each side's distance from the crop's edge; a negative one is cut off by the crop.
        left, top, right, bottom = rng.uniform(-0.08, 0.15, 4) * size
        corners = np.array(
            [(left, top), (size - right, top), (size - right, size - bottom), (left, size - bottom)]
        )
        return [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    if kind == "comb":
        base, cell, tick = rng.uniform(0.6, 0.9) * size, rng.uniform(0.35, 0.8) * size, rng.uniform(0.15, 0.4)
        ticks = np.arange(rng.uniform(0, cell), size, cell)
        return [(np.array([0.0, base]), np.array([size, base]))] + [
            (np.array([x, base]), np.array([x, base - tick * size])) for x in ticks
        ]
    if kind == "guide_line":
        y, dash, gap = (
            rng.uniform(0.4, 0.9) * size,
            rng.uniform(0.01, 0.08) * size,
            rng.uniform(0.01, 0.06) * size,
        )
        starts = np.arange(0.0, size, dash + gap)
        return [(np.array([x, y]), np.array([min(size, x + dash), y])) for x in starts]
    period = rng.uniform(0.12, 0.3) * size  # squared paper
    at = np.arange(rng.uniform(0, period), size, period)
    return [(np.array([v, 0.0]), np.array([v, size])) for v in at] + [
        (np.array([0.0, v]), np.array([size, v])) for v in at
    ]
