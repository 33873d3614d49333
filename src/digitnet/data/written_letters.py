"""Letters and symbols in the synthetic writer's hand: a training family of non-digits for the detector.

Letters in the TRAINING fonts teach the detector how a letter looks in a font; people send letters
in their own hand, slanted, squeezed, wobbly, with a mouse or a marker, scanned at low resolution.
LETTERS holds each character as pen strokes in a box one unit tall (capitals from y = 0 to 1,
lowercase letters' bodies from about 0.42 to 1, ascenders from 0, descenders below 1), written by
a TRAINING writer (digitnet.data.writer.page_writer) exactly as that writer writes a digit.

Only characters that no reader would take for a digit (digitnet.data.negatives.LETTER_CHARACTERS),
and none of the shapes of the validation doodles (digitnet.data.writer.DOODLES: a plus, an equals
sign, a times sign, so "+", "=", "X" and "x" are left out) or an up-pointing chevron ("^", a 7's
or a 4's corner): the validation families must stay unseen by any detector.

The shipped detector does not train on them: the candidate that did was not taken
(benchmarks/detector_choice.py "written_letters": its threshold, set on the digits, came out far
lower, and it flagged fewer of every family, these letters included).
"""

from __future__ import annotations

import numpy as np

from digitnet.data.strokes import arc, bezier, join, line
from digitnet.data.writer import hand_written, page_writer, render_page, side_by_side

PAIR_SHARE = 0.2  # this share of pages hold two characters side by side (as negatives' "letters")
LETTER_GAP = (0.0, 0.25)  # two characters this far apart, of the height

_P_BOWL = bezier((0.05, 0.0), (0.72, -0.05), (0.72, 0.58), (0.05, 0.52))


def _arch(left: float, right: float) -> np.ndarray:
    """The arch of an n, h or m: up from the stem at `left`, over, and down at `right` to the baseline."""
    return join(
        bezier((left, 0.62), (left + 0.1, 0.38), (right, 0.38), (right, 0.6)),
        line((right, 0.6), (right, 1.0)),
    )


# fmt: off
LETTERS: dict[str, tuple[np.ndarray, ...]] = {
    "C": (arc(0.32, 0.5, 0.3, 0.5, 55, 305),),
    "E": (line((0.58, 0.0), (0.05, 0.0), (0.05, 1.0), (0.58, 1.0)), line((0.05, 0.5), (0.45, 0.5))),
    "H": (line((0.05, 0.0), (0.05, 1.0)), line((0.55, 0.0), (0.55, 1.0)), line((0.05, 0.5), (0.55, 0.5))),
    "K": (line((0.05, 0.0), (0.05, 1.0)), line((0.55, 0.0), (0.05, 0.6)), line((0.22, 0.42), (0.58, 1.0))),
    "L": (line((0.05, 0.0), (0.05, 1.0), (0.55, 1.0)),),
    "M": (line((0.0, 1.0), (0.06, 0.0), (0.32, 0.62), (0.58, 0.0), (0.64, 1.0)),),
    "N": (line((0.05, 1.0), (0.05, 0.0), (0.55, 1.0), (0.55, 0.0)),),
    "P": (line((0.05, 1.0), (0.05, 0.0)), _P_BOWL),
    "R": (line((0.05, 1.0), (0.05, 0.0)), _P_BOWL, line((0.24, 0.53), (0.6, 1.0))),
    "U": (bezier((0.03, 0.0), (0.0, 1.3), (0.62, 1.3), (0.58, 0.0)),),
    "V": (line((0.0, 0.0), (0.3, 1.0), (0.6, 0.0)),),
    "W": (line((0.0, 0.0), (0.17, 1.0), (0.34, 0.3), (0.51, 1.0), (0.68, 0.0)),),
    "Y": (line((0.02, 0.0), (0.3, 0.48)), line((0.6, 0.0), (0.3, 0.48), (0.3, 1.0))),
    "c": (arc(0.3, 0.71, 0.26, 0.29, 55, 305),),
    "d": (arc(0.28, 0.72, 0.24, 0.28, 0, 360), line((0.52, 0.0), (0.52, 1.0))),
    "e": (join(line((0.06, 0.72), (0.54, 0.72)), arc(0.3, 0.72, 0.24, 0.28, 0, 310)),),
    "f": (join(bezier((0.58, 0.08), (0.46, -0.04), (0.26, -0.02), (0.26, 0.25)),
               line((0.26, 0.25), (0.26, 1.0))),
          line((0.06, 0.45), (0.48, 0.45))),
    "h": (line((0.05, 0.0), (0.05, 1.0)), _arch(0.05, 0.5)),
    "k": (line((0.05, 0.0), (0.05, 1.0)), line((0.45, 0.42), (0.05, 0.74), (0.5, 1.0))),
    "m": (line((0.03, 0.42), (0.03, 1.0)), _arch(0.03, 0.32), _arch(0.32, 0.61)),
    "n": (line((0.05, 0.42), (0.05, 1.0)), _arch(0.05, 0.5)),
    "p": (line((0.05, 0.42), (0.05, 1.4)), bezier((0.05, 0.5), (0.6, 0.3), (0.7, 1.0), (0.05, 0.92))),
    "r": (line((0.05, 0.42), (0.05, 1.0)), bezier((0.05, 0.66), (0.14, 0.44), (0.32, 0.38), (0.5, 0.46))),
    "t": (join(line((0.22, 0.05), (0.22, 0.88)),
               bezier((0.22, 0.88), (0.22, 1.02), (0.4, 1.02), (0.5, 0.9))),
          line((0.04, 0.38), (0.46, 0.38))),
    "u": (join(line((0.05, 0.42), (0.05, 0.78)),
               bezier((0.05, 0.78), (0.05, 1.04), (0.5, 1.04), (0.5, 0.76))),
          line((0.5, 0.42), (0.5, 1.0))),
    "v": (line((0.0, 0.42), (0.26, 1.0), (0.52, 0.42)),),
    "w": (line((0.0, 0.42), (0.14, 1.0), (0.3, 0.6), (0.46, 1.0), (0.6, 0.42)),),
    "#": (line((0.22, 0.0), (0.16, 1.0)), line((0.46, 0.0), (0.4, 1.0)),
          line((0.0, 0.33), (0.62, 0.33)), line((-0.02, 0.67), (0.6, 0.67))),
    "*": (line((0.3, 0.1), (0.3, 0.9)), line((0.0, 0.3), (0.6, 0.7)), line((0.0, 0.7), (0.6, 0.3))),
    "<": (line((0.55, 0.15), (0.05, 0.5), (0.55, 0.85)),),
    ">": (line((0.05, 0.15), (0.55, 0.5), (0.05, 0.85)),),
    "@": (arc(0.3, 0.52, 0.13, 0.16, 10, 370), line((0.43, 0.36), (0.43, 0.68)),
          join(bezier((0.43, 0.68), (0.5, 0.8), (0.66, 0.7), (0.62, 0.5)),
               arc(0.3, 0.5, 0.32, 0.42, 0, 300))),
    "~": (bezier((0.0, 0.6), (0.1, 0.35), (0.25, 0.4), (0.3, 0.5), (0.35, 0.6), (0.5, 0.65), (0.6, 0.4)),),
}
# fmt: on


def letter_page(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """uint8 (H, W): one or two of LETTERS by a training writer, as it reaches the reader, and the
    text written."""
    person = page_writer(rng)
    length = 2 if rng.random() < PAIR_SHARE else 1
    text = "".join(list(LETTERS)[int(index)] for index in rng.integers(0, len(LETTERS), length))
    strokes = hand_written(LETTERS[text[0]], person, rng)
    for char in text[1:]:
        strokes = side_by_side(strokes, hand_written(LETTERS[char], person, rng), rng, gap=LETTER_GAP)
    return render_page(strokes, person, rng), text
