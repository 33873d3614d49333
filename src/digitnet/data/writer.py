"""A stroke-based synthetic writer: the digit forms people write, as many writers write them.

MNIST's writers were American; people elsewhere write a 1 with a long flag and a foot, cross their
7s, close or open their 4s, write a 9 whose tail curls back like a g. ALLOGRAPHS is the inventory:
each form of each digit as pen strokes (polylines and cubic Béziers) in a box one unit tall, x to
the right and y down. A *writer* is one draw of parameters from its id (digitnet.data.writer.Writer):
slant, width-to-height ratio, proportions, pen width and pressure, tremor, hooks at stroke ends,
how far strokes overshoot or fail to close, which forms the writer prefers, and the medium the
digits reach us through (a pen on paper, a mouse, a marker, a low-resolution scan blown up, a
binarised scan, a form reader that stretches each digit to fill a square box). Every image ends in
`digitnet.data.preprocess.to_mnist`, exactly what `digitnet predict` does to a user's image.

Writer ids are split by a hash of the id into "train" and "heldout" (one in five), never both, so
held-out writers measure what the model does with writers it has never seen. Everything random
comes from a seed: the same seed gives the same writers and the same images.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from digitnet.data.preprocess import to_mnist
from digitnet.data.strokes import arc, bezier, join, line
from digitnet.errors import DigitnetError
from digitnet.shapes import IMAGE_SIDE

SPLITS = ("train", "heldout")
HELDOUT_SHARE = 5  # one writer id in this many is held out (by a hash of the id)
SPLIT_SALT = b"digitnet-writer-split-v1"  # changing it reshuffles which writers are held out
DIGITS_PER_WRITER = 10  # each writer writes this many digits of a set (the last may write fewer)
POINTS_PER_UNIT = 60  # a stroke is sampled this densely (points per unit of length) before drawing
# The media a writer's digits reach us through, and how often each is drawn.
MEDIA = {
    "pen": 0.34,  # a pen on paper, photographed or scanned well
    "mouse": 0.14,  # a paint program: thin hard strokes on a large canvas
    "marker": 0.12,  # a felt marker: thick strokes
    "low_res": 0.14,  # scanned 8-16 pixels tall, then blown up
    "binary": 0.14,  # a black-and-white scan at low resolution
    "form_box": 0.12,  # a form reader's crop: the digit stretched to fill a square box
}
# Pen width as a fraction of the digit's height, per medium (MNIST's own is about 0.125).
PEN_WIDTH = {
    "pen": (0.06, 0.13),
    "mouse": (0.012, 0.035),
    "marker": (0.14, 0.24),
    "low_res": (0.08, 0.16),
    "binary": (0.07, 0.14),
    "form_box": (0.06, 0.14),
}
# The digit's height on the page in pixels, per medium.
HEIGHT_PX = {
    "pen": (28, 90),
    "mouse": (90, 240),
    "marker": (40, 120),
    "low_res": (8, 16),
    "binary": (14, 40),
    "form_box": (28, 80),
}
LOW_RES_BLOWUP = (4, 10)  # the low-resolution scan is enlarged this many times before reading
FORM_BOX_MAX_STRETCH = 3.0  # a form reader's stretch is at most this, either way
WIDE_WRITER_SHARE = 0.12  # this share of writers write very wide (a 1 as wide as a 0) ...
WIDE_FACTOR = (1.6, 3.0)  # ... by this factor; the rest by:
WIDTH_FACTOR = (0.65, 1.5)  # (log-uniform)
SLANT = (-0.15, 0.45)  # shear: x moves right by this much per unit of height going up
ROTATION_DEG = 6.0
WAIST = (0.42, 0.58)  # where the digit's middle lies (top loops and bowls bigger or smaller)
JITTER = (0.01, 0.035)  # each sample's own smooth wobble of the form, of the height
TREMOR = (0.0, 0.012)  # a shaky hand, of the height
PRESSURE = (0.0, 0.5)  # pen width varies along a stroke by up to this fraction
HOOK_CHANCE = (0.0, 0.5)  # chance that a stroke starts or ends in a small hook
HOOK_LENGTH = (0.03, 0.09)
CLOSURE = (-0.10, 0.10)  # ends of strokes stop short (negative) or overshoot (positive), of the height
PREFERENCE_CONCENTRATION = 0.4  # Dirichlet: most writers prefer one or two forms of each digit


class WriterError(DigitnetError, ValueError):
    """A bad argument to the synthetic writer; str() is one line: what, where, how to fix."""


# ---------------------------------------------------------------- strokes in a unit box


@dataclass(frozen=True)
class Allograph:
    digit: int
    form: str  # what sets this form apart, e.g. "long flag"
    strokes: tuple[np.ndarray, ...]  # each (K, 2): x right, y down, the digit about one unit tall

    @property
    def name(self) -> str:
        return f"{self.digit} {self.form}"


# fmt: off
_TOP_2 = bezier((0.05, 0.24), (0.08, -0.02), (0.52, -0.06), (0.53, 0.24))
_BELLY = bezier((0.1, 0.44), (0.35, 0.3), (0.62, 0.44), (0.56, 0.72),
                (0.5, 1.02), (0.14, 1.05), (0.03, 0.86))
_LOOP_9 = arc(0.3, 0.27, 0.26, 0.27, 5, 365)
_STEM_9 = line((0.56, 0.25), (0.54, 1.0))
_FOOT_1 = line((0.1, 1.0), (0.5, 1.0))
_SEVEN = line((0.03, 0.02), (0.58, 0.02), (0.22, 1.0))


def _table() -> tuple[Allograph, ...]:
    """The inventory. Forms named as a reader would describe them; the plain form of each digit first."""
    a = Allograph
    return (
        a(0, "one stroke", (arc(0.3, 0.5, 0.28, 0.49, 95, 455),)),
        a(0, "two strokes", (arc(0.3, 0.5, 0.28, 0.49, 90, 270), arc(0.3, 0.5, 0.28, 0.49, 90, -90))),
        a(1, "plain", (line((0.3, 0.0), (0.3, 1.0)),)),
        a(1, "short flag", (line((0.16, 0.17), (0.3, 0.0), (0.3, 1.0)),)),
        a(1, "long flag", (line((-0.06, 0.5), (0.3, 0.0), (0.3, 1.0)),)),
        a(1, "foot", (line((0.3, 0.0), (0.3, 1.0)), _FOOT_1)),
        a(1, "flag and foot", (line((0.06, 0.3), (0.3, 0.0), (0.3, 1.0)), _FOOT_1)),
        # The continental 1's long up-stroke at a shallow angle, nearly a bar: the validation fonts'
        # commonest misreading left (Klaudia and Berenika write it so, read as 7), and the issue's
        # continental 1 "mostly read as 4 or 7". The stem stays upright, which a 7's does not.
        # Taken by the validation fonts, yet read as 7 four times in five, half once written six
        # times as often (README, "The continental 1 with a flat flag"): a measure of that failure.
        a(1, "flat flag", (line((-0.14, 0.18), (0.3, 0.0), (0.3, 1.0)),)),
        a(2, "plain", (join(_TOP_2, bezier((0.53, 0.24), (0.54, 0.46), (0.2, 0.7), (0.03, 1.0)),
                            line((0.03, 1.0), (0.6, 1.0))),)),
        a(2, "loop", (join(_TOP_2, bezier((0.53, 0.24), (0.54, 0.5), (0.24, 0.7), (0.14, 0.86),
                                          (0.06, 1.02), (-0.08, 0.96), (0.0, 0.8),
                                          (0.08, 0.66), (0.26, 0.82), (0.3, 0.98)),
                           line((0.3, 0.98), (0.6, 0.98))),)),
        a(3, "round", (bezier((0.05, 0.14), (0.2, -0.06), (0.56, -0.02), (0.5, 0.22),
                              (0.46, 0.42), (0.3, 0.46), (0.2, 0.47),
                              (0.46, 0.47), (0.62, 0.6), (0.56, 0.78),
                              (0.5, 1.02), (0.14, 1.05), (0.03, 0.86)),)),
        a(3, "flat top", (join(line((0.05, 0.0), (0.52, 0.0), (0.24, 0.4)),
                               bezier((0.24, 0.4), (0.56, 0.36), (0.63, 0.62), (0.56, 0.8),
                                      (0.48, 1.02), (0.14, 1.05), (0.03, 0.86))),)),
        a(4, "closed", (line((0.42, 0.0), (0.02, 0.68), (0.6, 0.68)), line((0.42, 0.0), (0.42, 1.0)))),
        a(4, "open", (line((0.12, 0.0), (0.05, 0.62), (0.6, 0.62)), line((0.45, 0.2), (0.45, 1.0)))),
        a(4, "one zigzag stroke", (line((0.1, 0.0), (0.04, 0.6), (0.5, 0.6), (0.47, 0.04), (0.44, 1.0)),)),
        a(4, "long stem", (line((0.4, 0.0), (0.02, 0.48), (0.58, 0.48)), line((0.4, 0.0), (0.4, 1.0)))),
        # Closed and compact, the bar stopping at the stem: a triangle on a stem (the compact
        # closed 4s, read as 9 or 0; the validation fonts Klaudia and Berenika write it so).
        a(4, "triangle", (line((0.44, 0.0), (0.0, 0.64), (0.47, 0.64)), line((0.44, 0.0), (0.44, 1.0)))),
        a(5, "two strokes", (join(line((0.12, 0.0), (0.1, 0.44)), _BELLY),
                             line((0.12, 0.0), (0.56, 0.0)))),
        a(5, "one stroke", (join(line((0.56, 0.0), (0.12, 0.0), (0.1, 0.44)), _BELLY),)),
        a(6, "curved", (join(bezier((0.5, 0.02), (0.2, 0.1), (0.03, 0.4), (0.05, 0.72)),
                             arc(0.3, 0.72, 0.25, 0.27, 180, 520)),)),
        a(6, "straight stem", (join(line((0.46, 0.0), (0.06, 0.7)),
                                    arc(0.3, 0.74, 0.24, 0.25, 195, 530)),)),
        a(7, "plain", (_SEVEN,)),
        a(7, "crossed", (_SEVEN, line((0.16, 0.52), (0.56, 0.52)))),
        a(7, "curved stem", (join(line((0.03, 0.02), (0.58, 0.02)),
                                  bezier((0.58, 0.02), (0.4, 0.3), (0.26, 0.6), (0.26, 1.0))),)),
        a(7, "serif", (line((0.03, 0.16), (0.03, 0.02), (0.58, 0.02), (0.22, 1.0)),)),
        a(8, "one stroke", (bezier((0.52, 0.16), (0.5, -0.05), (0.08, -0.05), (0.1, 0.2),
                                   (0.12, 0.38), (0.55, 0.5), (0.56, 0.74),
                                   (0.57, 1.02), (0.02, 1.02), (0.04, 0.74),
                                   (0.05, 0.5), (0.5, 0.38), (0.52, 0.16)),)),
        a(8, "two strokes", (arc(0.3, 0.24, 0.21, 0.23, 90, 450), arc(0.3, 0.73, 0.26, 0.26, 90, 450))),
        a(9, "straight stem", (join(_LOOP_9, _STEM_9),)),
        a(9, "curved stem", (join(_LOOP_9, bezier((0.56, 0.25), (0.6, 0.7), (0.46, 1.0), (0.1, 0.94))),)),
        a(9, "g tail", (join(_LOOP_9, bezier((0.56, 0.25), (0.57, 0.72), (0.56, 1.04), (0.3, 1.02),
                                             (0.04, 1.0), (-0.02, 0.8), (0.16, 0.7))),)),
        a(9, "foot", (join(_LOOP_9, _STEM_9), line((0.36, 1.0), (0.72, 1.0)))),
    )
# fmt: on


ALLOGRAPHS: tuple[Allograph, ...] = _table()
BY_NAME: dict[str, Allograph] = {allograph.name: allograph for allograph in ALLOGRAPHS}
# The first form of each digit: the one MNIST's American writers mostly wrote.
PLAIN_FORMS = tuple(next(a.name for a in ALLOGRAPHS if a.digit == digit) for digit in range(10))
# Forms added after the shipped not-a-digit detector was chosen. The detector's own data (digits by
# training writers among its positives and threshold digits, the writing-like negatives below) come
# from the inventory without them, so that `make model` still makes the detector its validation
# families chose: retrained with "4 triangle" it flagged 79.6% of them against 89.7%
# (docs/measurements/detector-retrained-inventory.json). As synthetic.FontPackage.detector does
# for fonts.
NOT_FOR_DETECTOR = ("4 triangle", "1 flat flag")
# Forms that are also another digit to many readers, and that digit: a shallow flag on an upright
# stem is a 7 without its cross (README, "The continental 1 with a flat flag"). Training may label
# a share of them as the look-alike (TrainConfig.look_alike_share, 0 by default: half of them, tried
# so that the network would doubt there, made it read them as 7; README, "Half the flat-flag 1s").
LOOK_ALIKES = {"1 flat flag": 7}
DETECTOR_FORMS: tuple[Allograph, ...] = tuple(a for a in ALLOGRAPHS if a.name not in NOT_FOR_DETECTOR)


def forms_of(digit: int, inventory: tuple[Allograph, ...] = ALLOGRAPHS) -> list[Allograph]:
    return [allograph for allograph in inventory if allograph.digit == digit]


# ---------------------------------------------------------------- writers


@dataclass(frozen=True)
class Writer:
    """One writer: everything about how they write, drawn once from their id."""

    writer_id: int
    medium: str
    pen_width: float  # of the digit's height
    width_factor: float  # x stretched by this (a 1 as wide as a 0 at about 2-3)
    slant: float  # shear, x per unit of height
    rotation: float  # radians
    waist: float  # where the middle of the digit lies, of its height
    jitter: float
    tremor: float
    pressure: float
    hook_chance: float
    closure: float  # mean overshoot (positive) or gap (negative) at stroke ends, of the height
    # per digit, the chance of each of forms_of(digit, inventory), the inventory it was made with
    preferences: tuple[tuple[float, ...], ...]


def writer_split(writer_id: int) -> str:
    """ "train" or "heldout", by a hash of the id: the same id is always in the same split."""
    digest = hashlib.blake2b(int(writer_id).to_bytes(8, "little"), key=SPLIT_SALT, digest_size=8).digest()
    return "heldout" if int.from_bytes(digest, "little") % HELDOUT_SHARE == 0 else "train"


def writer_ids(count: int, split: str, seed: int) -> list[int]:
    """`count` distinct writer ids of `split`, the same for the same seed."""
    _check_split(split)
    rng = np.random.default_rng([seed, 7919])
    ids: list[int] = []
    seen: set[int] = set()
    while len(ids) < count:
        for candidate in rng.integers(0, 2**62, 4 * (count - len(ids)) + 8):
            candidate = int(candidate)
            if candidate not in seen and writer_split(candidate) == split and len(ids) < count:
                seen.add(candidate)
                ids.append(candidate)
    return ids


def make_writer(writer_id: int, inventory: tuple[Allograph, ...] = ALLOGRAPHS) -> Writer:
    """The writer with this id: every parameter drawn from a generator seeded by the id alone (the
    preferences last, among the forms of `inventory`: the other parameters do not depend on it)."""
    rng = np.random.default_rng([int(writer_id), 104729])
    medium = str(rng.choice(list(MEDIA), p=np.array(list(MEDIA.values())) / sum(MEDIA.values())))
    wide = rng.random() < WIDE_WRITER_SHARE
    low, high = WIDE_FACTOR if wide else WIDTH_FACTOR
    return Writer(
        writer_id=int(writer_id),
        medium=medium,
        pen_width=float(np.exp(rng.uniform(*np.log(PEN_WIDTH[medium])))),
        width_factor=float(np.exp(rng.uniform(np.log(low), np.log(high)))),
        slant=float(rng.uniform(*SLANT)),
        rotation=float(np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG))),
        waist=float(rng.uniform(*WAIST)),
        jitter=float(rng.uniform(*JITTER)),
        tremor=float(rng.uniform(*TREMOR) if rng.random() < 0.5 else 0.0),
        pressure=float(rng.uniform(*PRESSURE)),
        hook_chance=float(rng.uniform(*HOOK_CHANCE)),
        closure=float(rng.uniform(*CLOSURE)),
        preferences=tuple(
            tuple(
                float(p) for p in rng.dirichlet([PREFERENCE_CONCENTRATION] * len(forms_of(digit, inventory)))
            )
            for digit in range(10)
        ),
    )


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise WriterError(f"unknown writer split {split!r}; use one of {', '.join(SPLITS)}")


# ---------------------------------------------------------------- one digit, as this writer writes it


def written_strokes(allograph: Allograph, writer: Writer, rng: np.random.Generator) -> list[np.ndarray]:
    """The allograph's strokes as this writer writes them this time, in units of the digit's height."""
    return hand_written(allograph.strokes, writer, rng)


def hand_written(
    model: tuple[np.ndarray, ...], writer: Writer, rng: np.random.Generator, ends: bool = True
) -> list[np.ndarray]:
    """Model strokes (digitnet.data.strokes, one unit tall) as this writer writes them this time:
    ends (overshoot, gaps, hooks; not with ends=False), proportions, width, slant, wobble, tremor."""
    field = _smooth_field(writer.jitter, rng)
    strokes = []
    for stroke in model:
        points = _resample(stroke)
        points = _shape(_with_ends(points, writer, rng) if ends else points, writer)
        # Wobble and tremor after the writer's width and slant: a wide writer's 1 is wide, not wavy
        # (stretched afterwards, a stem's small sideways wobble became a 3-like zigzag).
        points = points + field(points)
        strokes.append(points + _tremor(len(points), writer.tremor, rng))
    return strokes


def _resample(stroke: np.ndarray) -> np.ndarray:
    """Points spaced evenly along the stroke, POINTS_PER_UNIT per unit of length."""
    steps = np.hypot(*np.diff(stroke, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    count = max(2, int(along[-1] * POINTS_PER_UNIT) + 1)
    at = np.linspace(0.0, along[-1], count)
    return np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1)


def _with_ends(points: np.ndarray, writer: Writer, rng: np.random.Generator) -> np.ndarray:
    """Ends that overshoot or stop short, and now and then a small hook."""
    for _ in range(2):  # the end, then (reversed) the start
        change = writer.closure * rng.uniform(0.3, 1.5)
        cut = int(round(-change * POINTS_PER_UNIT))
        if cut > 0:
            points = points[: max(2, len(points) - cut)]
        elif cut < 0:
            direction = points[-1] - points[-2]
            direction = direction / (np.hypot(*direction) or 1.0)
            steps = np.arange(1, -cut + 1)[:, None] / POINTS_PER_UNIT
            points = np.concatenate([points, points[-1] + steps * direction])
        if rng.random() < writer.hook_chance:
            points = np.concatenate([points, _hook(points, rng)])
        points = points[::-1]
    return points


def _hook(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A short tick turned back from the stroke's last direction."""
    direction = points[-1] - points[max(0, len(points) - 4)]
    angle = np.arctan2(direction[1], direction[0]) + rng.choice([-1, 1]) * np.deg2rad(rng.uniform(110, 160))
    length = rng.uniform(*HOOK_LENGTH)
    steps = np.linspace(0, length, max(2, int(length * POINTS_PER_UNIT)))[1:, None]
    return points[-1] + steps * np.array([np.cos(angle), np.sin(angle)])


def _smooth_field(amplitude: float, rng: np.random.Generator):
    """A random displacement that varies smoothly over the box: this sample's own wobble of the form."""
    frequencies = rng.uniform(0.5, 1.6, (2, 2, 2))  # (axis, wave, x/y)
    phases = rng.uniform(0, 2 * np.pi, (2, 2))
    sizes = rng.normal(0, amplitude, (2, 2))

    def field(points: np.ndarray) -> np.ndarray:
        waves = np.sin(2 * np.pi * np.einsum("awk,nk->anw", frequencies, points) + phases[:, None, :])
        return np.einsum("anw,aw->na", waves, sizes)

    return field


def _tremor(count: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    if amplitude == 0.0:
        return np.zeros((count, 2))
    noise = rng.normal(0, 1, (count + 6, 2))
    kernel = np.ones(7) / np.sqrt(7)
    smooth = np.stack([np.convolve(noise[:, axis], kernel, mode="valid") for axis in range(2)], axis=1)
    return amplitude * smooth[:count]


def _shape(points: np.ndarray, writer: Writer) -> np.ndarray:
    """The writer's proportions, width, slant and rotation."""
    x, y = points[:, 0] - 0.3, points[:, 1]
    y = np.where(y < 0.5, y * writer.waist / 0.5, writer.waist + (y - 0.5) * (1 - writer.waist) / 0.5)
    x = x * writer.width_factor + writer.slant * (1.0 - y)
    cos, sin = np.cos(writer.rotation), np.sin(writer.rotation)
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=1)


# ---------------------------------------------------------------- onto the page


def render_page(
    strokes: list[np.ndarray], writer: Writer, rng: np.random.Generator, frame: np.ndarray | None = None
) -> np.ndarray:
    """uint8 (H, W): the strokes written on paper, dark on light, as they reach the reader.

    frame: the points whose box is the written digit's (default: the strokes'); a fragment of a
    digit is drawn at the size the whole digit would have.
    """
    if writer.medium == "form_box" and frame is None:
        strokes = _fill_square(strokes)
    low, high = HEIGHT_PX[writer.medium]
    height = rng.uniform(low, high)
    supersample = 4 if height < 24 else 2 if height < 48 else 1
    ink = _draw_ink(strokes, height * supersample, writer, rng, frame)
    if supersample > 1:
        size = (max(1, ink.width // supersample), max(1, ink.height // supersample))
        ink = ink.resize(size, Image.Resampling.BOX)
    if writer.medium == "low_res":
        blowup = rng.uniform(*LOW_RES_BLOWUP)
        size = (max(1, round(ink.width * blowup)), max(1, round(ink.height * blowup)))
        ink = ink.resize(size, rng.choice([Image.Resampling.NEAREST, Image.Resampling.BILINEAR]))
    values = np.asarray(ink, dtype=np.float32) / 255.0
    if writer.medium == "binary":
        values = (values > rng.uniform(0.3, 0.65)).astype(np.float32)
    return _on_paper(values, rng)


def _fill_square(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Stretched (x only) until the digit's box is square, as a form reader normalises a field."""
    points = np.concatenate(strokes)
    width, height = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    stretch = float(np.clip(height / max(width, 1e-6), 1 / FORM_BOX_MAX_STRETCH, FORM_BOX_MAX_STRETCH))
    return [stroke * np.array([stretch, 1.0]) for stroke in strokes]


def _draw_ink(strokes: list[np.ndarray], height: float, writer: Writer, rng: np.random.Generator, frame=None):
    """An "L" image, 255 = ink: the strokes (or `frame`) `height` pixels tall with a margin, pen
    width varying."""
    points = np.concatenate(strokes if frame is None else [frame, *strokes])
    top_left = points.min(axis=0)
    scale = height / max(np.ptp(points[:, 1]), 0.05)
    pen = max(1.0, writer.pen_width * height)
    # A margin of paper around the digit: to_mnist takes the page's border for the background, and a
    # crop tight around a blurry blown-up digit leaves it none (it then finds no ink at all).
    margin = pen + 2 + rng.uniform(0.1, 0.4) * height
    size = np.ceil((points.max(axis=0) - top_left) * scale + 2 * margin).astype(int)
    image = Image.new("L", (int(size[0]), int(size[1])), 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        pixels = (stroke - top_left) * scale + margin
        _draw_stroke(draw, pixels, pen, writer.pressure, rng)
    return image


def _draw_stroke(draw, pixels: np.ndarray, pen: float, pressure: float, rng: np.random.Generator) -> None:
    """The stroke in short pieces, each with its own width: pressure rises and falls along it."""
    count = len(pixels)
    chunk = max(2, count // 8)
    phase, cycles = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 2.0)
    for start in range(0, count - 1, chunk):
        piece = pixels[start : min(count, start + chunk + 1)]
        middle = (start + len(piece) / 2) / count
        width = pen * (1 + pressure * np.sin(phase + 2 * np.pi * cycles * middle))
        width = max(1, int(round(width)))
        flat = [float(v) for v in piece.ravel()]
        draw.line(flat, fill=255, width=width, joint="curve")
        if width > 2:
            x, y = piece[0]
            radius = width / 2
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)


def _on_paper(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    paper = rng.uniform(190, 255)
    dark = rng.uniform(0, min(110, paper - 80))
    page = paper - (paper - dark) * ink
    if rng.random() < 0.3:
        page = page + rng.normal(0, rng.uniform(1, 6), page.shape)
    return np.clip(np.round(page), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- sets of digits


@dataclass(frozen=True)
class WrittenDigits:
    """Digits in the MNIST form and what made each: who wrote it, in which form, with which pen."""

    images: np.ndarray  # float32 (N, 28, 28, 1) in [0, 1], ink bright on black
    labels: np.ndarray  # int32 (N,)
    forms: np.ndarray  # str (N,): the allograph's name, e.g. "1 long flag"
    writer_ids: np.ndarray  # int64 (N,)
    media: np.ndarray  # str (N,)
    pen_widths: np.ndarray  # float32 (N,): pen width over the digit's height, as written
    width_factors: np.ndarray  # float32 (N,): the writer's horizontal stretch


def writer_digits(
    count: int, split: str = "train", seed: int = 0, *, for_detector: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` digits by writers of `split`, each in a form its writer prefers (among DETECTOR_FORMS
    with for_detector, as synthetic.render_digits takes the detector's fonts).

    Returns images float32 (count, 28, 28, 1) in [0, 1], labels int32 (count,) (every digit equally
    often, in random order) and the allograph names (count,); DIGITS_PER_WRITER digits a writer.
    """
    written = write_digits(count, split, seed, for_detector=for_detector)
    return written.images, written.labels, written.forms


def write_digits(
    count: int,
    split: str = "train",
    seed: int = 0,
    forms: list[str] | None = None,
    *,
    for_detector: bool = False,
) -> WrittenDigits:
    """Like writer_digits, with what made each digit. `forms`: write only these allographs (names of
    ALLOGRAPHS), in turn, whatever the writer prefers (for measuring); a writer still writes
    DIGITS_PER_WRITER digits in a row, so with 10 forms or more each form's digits are by different
    writers. for_detector: writers prefer among DETECTOR_FORMS (when `forms` is None)."""
    _check_count(count)
    rng = np.random.default_rng([seed, 31337])
    chosen = _chosen_forms(count, forms, rng)
    inventory = DETECTOR_FORMS if for_detector else ALLOGRAPHS
    writers = [make_writer(i, inventory) for i in writer_ids(-(-count // DIGITS_PER_WRITER), split, seed)]
    rows = []
    for index in range(count):
        writer = writers[index // DIGITS_PER_WRITER]
        allograph = (
            chosen[index] if chosen is not None else preferred_form(writer, int(index % 10), rng, inventory)
        )
        rows.append((allograph, writer, render_digit(allograph, writer, rng)))
    if chosen is None:
        order = rng.permutation(count)  # digits in random order, writers' digits scattered
        rows = [rows[i] for i in order]
    return _collect(rows)


def _chosen_forms(count: int, forms: list[str] | None, rng: np.random.Generator) -> list[Allograph] | None:
    if forms is None:
        return None
    unknown = [name for name in forms if name not in BY_NAME]
    if unknown or not forms:
        raise WriterError(
            f"unknown allograph(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"use names from digitnet.data.writer.ALLOGRAPHS, e.g. {ALLOGRAPHS[4].name!r}"
        )
    return [BY_NAME[forms[index % len(forms)]] for index in range(count)]


def preferred_form(
    writer: Writer, digit: int, rng: np.random.Generator, inventory: tuple[Allograph, ...]
) -> Allograph:
    options = forms_of(digit, inventory)
    return options[
        int(rng.choice(len(options), p=np.array(writer.preferences[digit]) / sum(writer.preferences[digit])))
    ]


def render_digit(allograph: Allograph, writer: Writer, rng: np.random.Generator) -> np.ndarray:
    """float32 (28, 28) in [0, 1]: the allograph as this writer writes it, read as `predict` reads it."""
    page = render_page(written_strokes(allograph, writer, rng), writer, rng)
    return to_mnist(Image.fromarray(page, mode="L"))


def _collect(rows: list) -> WrittenDigits:
    allographs, writers, images = zip(*rows) if rows else ((), (), ())
    blank = np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.float32)
    return WrittenDigits(
        images=(np.stack(images) if images else blank).astype(np.float32)[..., np.newaxis],
        labels=np.array([a.digit for a in allographs], np.int32),
        forms=np.array([a.name for a in allographs], dtype=str),
        writer_ids=np.array([w.writer_id for w in writers], np.int64),
        media=np.array([w.medium for w in writers], dtype=str),
        pen_widths=np.array([w.pen_width for w in writers], np.float32),
        width_factors=np.array([w.width_factor for w in writers], np.float32),
    )


def _check_count(count: int) -> None:
    if not isinstance(count, (int, np.integer)) or count < 0:
        raise WriterError(f"count must be a whole number of digits, 0 or more, got {count!r}")


@functools.lru_cache(maxsize=1)
def plain_writer() -> Writer:
    """An even-handed writer with a fine pen and no quirks: how the inventory picture draws each form."""
    even = tuple(tuple(1.0 / len(forms_of(d)) for _ in forms_of(d)) for d in range(10))
    quirks = dict(rotation=0.0, jitter=0.0, tremor=0.0, pressure=0.0, hook_chance=0.0, closure=0.0)
    return Writer(
        0, "pen", pen_width=0.09, width_factor=1.0, slant=0.1, waist=0.5, preferences=even, **quirks
    )


def inventory_image(allograph: Allograph, height: int = 64) -> np.ndarray:
    """uint8 (H, W): the allograph as plain_writer writes it, `height` pixels tall, dark on white,
    with no wobble or paper: how the README's picture of the inventory shows each form."""
    rng = np.random.default_rng(0)
    writer = plain_writer()
    strokes = [_shape(_resample(stroke), writer) for stroke in allograph.strokes]
    ink = _draw_ink(strokes, height * 2, writer, rng)
    ink = ink.resize((max(1, ink.width // 2), max(1, ink.height // 2)), Image.Resampling.BOX)
    return (255 - np.asarray(ink)).astype(np.uint8)


# ---------------------------------------------------------------- writing that is not a digit
# Training families of non-digits for the detector (digitnet.negatives), by TRAINING writers only,
# from the detector's forms (DETECTOR_FORMS).

NON_DIGIT_KINDS = ("stroke_fragments", "touching_digits", "crossed_out")
FRAGMENT_SHARE = (0.15, 0.35)  # a fragment keeps this share of one stroke's length
# ... and bends away from its chord by this share of the chord: from a half circle (a straight or
# gently bent piece is a 1, as "(" is) to two thirds of one (a nearly closed piece is a 0). A
# corner of a 7 or a 4 is a 7, so only curved digits give pieces (and not the 2's small loop).
FRAGMENT_BEND = (0.4, 0.8)
FRAGMENT_DIGITS = (0, 2, 3, 6, 8, 9)  # (a 5 has a 7-like corner)
TOUCH_GAP = (-0.12, 0.04)  # two digits this far apart, of the height: overlapping to just touching
FRAGMENT_TRIES = 20


def non_digit_page(kind: str, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W): writing that is not one digit, by a training writer, as it reaches the reader."""
    if kind not in NON_DIGIT_KINDS:
        raise WriterError(
            f"unknown kind of written non-digit {kind!r}; use one of {', '.join(NON_DIGIT_KINDS)}"
        )
    person = page_writer(rng)
    sources = (
        [a for a in DETECTOR_FORMS if a.digit in FRAGMENT_DIGITS and a.name != "2 loop"]
        if kind == "stroke_fragments"
        else DETECTOR_FORMS
    )
    strokes = written_strokes(sources[int(rng.integers(0, len(sources)))], person, rng)
    if kind == "stroke_fragments":
        piece = _fragment(strokes, rng)
        if piece is None:  # no piece bent just enough: half of a loop of the digit's size instead
            start = rng.uniform(0, 360)
            piece = _shape(_resample(arc(0.3, 0.5, 0.25, 0.25, start, start + 180)), person)
        return render_page([piece], person, rng, frame=np.concatenate(strokes))
    if kind == "touching_digits":
        other = written_strokes(DETECTOR_FORMS[int(rng.integers(0, len(DETECTOR_FORMS)))], person, rng)
        return render_page(side_by_side(strokes, other, rng), person, rng)
    return render_page(strokes + _cross_out(np.concatenate(strokes), rng), person, rng)


def page_writer(rng: np.random.Generator) -> Writer:
    """A TRAINING writer for a page that holds no digit: a form reader's box is a digit's, so a pen."""
    person = make_writer(writer_ids(1, "train", int(rng.integers(0, 2**31)))[0])
    return person if person.medium != "form_box" else dataclasses.replace(person, medium="pen")


def _fragment(strokes: list[np.ndarray], rng: np.random.Generator) -> np.ndarray | None:
    """A curved piece of one of the strokes; None when FRAGMENT_TRIES pieces did not bend just enough."""
    for _ in range(FRAGMENT_TRIES):
        stroke = strokes[int(rng.integers(0, len(strokes)))]
        length = max(2, int(len(stroke) * rng.uniform(*FRAGMENT_SHARE)))
        start = int(rng.integers(0, max(1, len(stroke) - length)))
        piece = stroke[start : start + length]
        if FRAGMENT_BEND[0] <= _bend(piece) <= FRAGMENT_BEND[1]:
            return piece
    return None


def _bend(piece: np.ndarray) -> float:
    """How far the piece strays from the straight line between its ends, over that line's length."""
    chord = piece[-1] - piece[0]
    length = float(np.hypot(*chord))
    if length < 1e-6:
        return np.inf  # a closed loop
    away = piece - piece[0]
    offsets = np.abs(chord[0] * away[:, 1] - chord[1] * away[:, 0]) / length
    return float(offsets.max() / length)


def side_by_side(
    first: list[np.ndarray], second: list[np.ndarray], rng: np.random.Generator, gap: tuple = TOUCH_GAP
) -> list:
    """Both sets of strokes, the second to the right of the first, `gap` (a range, of the height) apart."""
    right_edge = np.concatenate(first)[:, 0].max()
    left_edge = np.concatenate(second)[:, 0].min()
    shift = np.array([right_edge - left_edge + rng.uniform(*gap), rng.uniform(-0.1, 0.1)])
    return first + [stroke + shift for stroke in second]


def _cross_out(points: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Strokes crossing out the digit in `points`: an X, or a zigzag back and forth over it."""
    low, high = points.min(axis=0) - 0.05, points.max(axis=0) + 0.05
    if rng.random() < 0.4:
        return [line(low, high), line((low[0], high[1]), (high[0], low[1]))]
    passes = int(rng.integers(4, 9))
    ys = np.linspace(low[1], high[1], passes) + rng.normal(0, 0.03, passes)
    xs = np.where(np.arange(passes) % 2 == 0, low[0], high[0]) + rng.normal(0, 0.03, passes)
    if rng.random() < 0.5:  # scribbled up and down instead of across
        xs, ys = np.linspace(low[0], high[0], passes), np.where(np.arange(passes) % 2 == 0, low[1], high[1])
    return [_resample(np.stack([xs, ys], axis=1))]


# ---------------------------------------------------------------- marks: a training family
# Marks that are no digit, drawn from random parameters (never from DOODLES below, which measure
# how a detector does on marks it never saw): a few near-level bars, two crossing strokes, a
# chevron whose point is down, left or right (pointing up-right it is a 7's corner), a ring with
# dots or dashes inside (a ring alone is a 0).
MARK_KINDS = ("bars", "crossing", "chevron", "ring_and_dots")


def mark_page(rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W): one random mark (MARK_KINDS) by a training writer, as it reaches the reader."""
    person = page_writer(rng)
    kind = MARK_KINDS[int(rng.integers(0, len(MARK_KINDS)))]
    field = _smooth_field(person.jitter, rng)
    strokes = []
    for stroke in _mark_strokes(kind, rng):
        points = _shape(_resample(stroke), person)
        strokes.append(points + field(points) + _tremor(len(points), person.tremor, rng))
    return render_page(strokes, person, rng)


def _mark_strokes(kind: str, rng: np.random.Generator) -> list[np.ndarray]:
    if kind == "bars":
        return [
            _segment((0.5, 0.5 + offset), rng.uniform(-20, 20), rng.uniform(0.5, 1.0))
            for offset in _gaps(rng)
        ]
    if kind == "crossing":
        angle = rng.uniform(0, 180)
        return [
            _segment((0.5, 0.5), angle, rng.uniform(0.5, 1.0), rng.uniform(-0.2, 0.2)),
            _segment((0.5, 0.5), angle + rng.uniform(50, 130), rng.uniform(0.5, 1.0), rng.uniform(-0.2, 0.2)),
        ]
    if kind == "chevron":
        point = {"down": 270.0, "left": 180.0, "right": 0.0}[str(rng.choice(["down", "left", "right"]))]
        half = rng.uniform(50, 70)  # narrower (or squeezed by a writer) it is a "(" or ")": a 1
        arms = [np.deg2rad(point + 180 + side * half) for side in (-1, 1)]
        lengths = rng.uniform(0.4, 0.9, 2)
        ends = [(lengths[i] * np.cos(arms[i]), -lengths[i] * np.sin(arms[i])) for i in (0, 1)]
        return [line(ends[0], (0.0, 0.0), ends[1])]
    rx, ry = rng.uniform(0.3, 0.5, 2)
    inside = [
        _segment(
            (0.5 + rng.uniform(-0.5, 0.5) * rx, 0.5 + rng.uniform(-0.5, 0.5) * ry),
            rng.uniform(0, 180),
            length,
        )
        for length in rng.uniform(0.05, 0.25, int(rng.integers(2, 4)))  # one dot in a ring: a 0
    ]
    return [arc(0.5, 0.5, rx, ry, 90, 450), *inside]


def _gaps(rng: np.random.Generator) -> np.ndarray:
    """Offsets of two or three bars, 0.25-0.4 apart, centred on 0."""
    steps = np.cumsum(np.concatenate([[0.0], rng.uniform(0.25, 0.4, int(rng.integers(1, 3)))]))
    return steps - steps.mean()


def _segment(centre, angle_deg: float, length: float, along: float = 0.0) -> np.ndarray:
    """A straight stroke `length` long at `angle_deg`, its middle `along` of its length from centre."""
    direction = np.array([np.cos(np.deg2rad(angle_deg)), -np.sin(np.deg2rad(angle_deg))])
    middle = np.asarray(centre, dtype=np.float64) + along * length * direction
    return line(middle - direction * length / 2, middle + direction * length / 2)


# ---------------------------------------------------------------- doodles: a validation family
# Marks people put on a page that are no digit, in the writer's hand: for CHOOSING between
# detectors (digitnet.data.negatives.VALIDATION_KINDS), never for training one. Unlike the
# training families (scribbles, shapes, pieces of digits) and the held-out ones (curves, textures,
# letters) in what they are: signs and small drawings.
DOODLES = {
    "check mark": (line((0.0, 0.55), (0.3, 0.95), (0.9, 0.0)),),
    "arrow": (line((0.0, 0.5), (1.0, 0.5)), line((0.72, 0.25), (1.0, 0.5), (0.72, 0.75))),
    "plus": (line((0.5, 0.1), (0.5, 0.9)), line((0.1, 0.5), (0.9, 0.5))),
    "equals": (line((0.1, 0.35), (0.9, 0.35)), line((0.1, 0.65), (0.9, 0.65))),
    "times": (line((0.15, 0.15), (0.85, 0.85)), line((0.85, 0.15), (0.15, 0.85))),
    "smiley": (
        arc(0.5, 0.5, 0.45, 0.45, 90, 450),
        arc(0.35, 0.38, 0.04, 0.04, 0, 360),
        arc(0.65, 0.38, 0.04, 0.04, 0, 360),
        arc(0.5, 0.5, 0.27, 0.24, 200, 340),
    ),
    "heart": (
        bezier((0.5, 1.0), (-0.1, 0.55), (0.1, -0.05), (0.5, 0.3), (0.9, -0.05), (1.1, 0.55), (0.5, 1.0)),
    ),
}


def doodle_page(rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W): one of DOODLES by a training writer (slant, width, wobble, pen, medium), as it
    reaches the reader."""
    person = page_writer(rng)
    name = list(DOODLES)[int(rng.integers(0, len(DOODLES)))]
    return render_page(hand_written(DOODLES[name], person, rng, ends=False), person, rng)
