"""Images that are not digits, for teaching and measuring "not a digit".

Every kind is rendered the way a user would supply it and then passed through the same
preprocessing as `digitnet predict`, so the detector learns what it will really see.
(A blank page needs no model: preprocessing finds no ink.) The one exception, "raw_noise", is
noise sent to the tensor APIs as a 28x28 array, which no preprocessing touches.

TRAIN_KINDS teach the detector: Fashion-MNIST photos of clothes, uniform noise (an image of it
preprocesses to blank), random scribbles, two MNIST digits side by side, and raw noise arrays.
WRITING_KINDS are training families too, of things that look like writing: letters and symbols in
the TRAINING handwriting fonts, and from the synthetic writer (digitnet.data.writer, training
writers only) fragments of a digit's strokes, two digits touching, crossed-out digits, marks (bars,
crossings, chevrons, rings with dots), and letters and symbols in the writer's hand
(digitnet.data.written_letters).
VALIDATION_KINDS are families no detector trains on, for choosing between detectors: letters and
symbols in the VALIDATION handwriting fonts, doodles (check marks, arrows, plus, equals and
times signs, smileys, hearts) in a training writer's hand, and empty fields of printed forms
(frames, combs, guide lines, squared paper: digitnet.data.empty_fields). The training families'
own draws, from the generators a detector learns, have not predicted how it does on families it
never saw.
HELDOUT_KINDS are other families, never to be used in training or choosing, so that measuring the
detector on them shows how it does on non-digits unlike anything it was taught: letters and
symbols, curves drawn another way than the scribbles, textures, blank paper as a phone
photographs it, and partial digits.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.shapes import IMAGE_SIDE

# The detector's own mix is jobs.detector_train.NEGATIVE_MIX, a subset of these.
WRITING_KINDS = (
    "train_letters",
    "stroke_fragments",
    "touching_digits",
    "crossed_out",
    "marks",
    "written_letters",
)
TRAIN_KINDS = ("fashion", "noise", "scribble", "two_digits", "shapes", *WRITING_KINDS, "raw_noise")
VALIDATION_KINDS = ("validation_letters", "doodles", "empty_fields")  # for choosing, never training
HELDOUT_KINDS = ("letters", "curves", "texture", "paper", "partial")  # for evaluation only
KINDS = TRAIN_KINDS + VALIDATION_KINDS + HELDOUT_KINDS

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FASHION_HINT = "install it with `apt-get install dataset-fashion-mnist` or set DIGITNET_FASHION_DIR"


class NegativesError(DigitnetError):
    """A source of negative examples is missing; the message says how to get it."""


def fashion_dir() -> Path:
    return Path(os.environ.get("DIGITNET_FASHION_DIR", FASHION_DIR))


def load_fashion(split: str) -> np.ndarray:
    """Fashion-MNIST images, uint8 (N, 28, 28); split is "train" or "test"."""
    from digitnet.data.mnist import DataError, mnist_file_path, read_idx_images

    prefix = {"train": "train", "test": "t10k"}[split]
    path = mnist_file_path(fashion_dir(), f"{prefix}-images-idx3-ubyte")
    if path is None:
        raise NegativesError(f"Fashion-MNIST not found in {fashion_dir()}; {FASHION_HINT}")
    try:
        return read_idx_images(path)
    except DataError as error:
        raise NegativesError(str(error)) from error


def preprocessed(pixels_u8: np.ndarray) -> np.ndarray:
    """float32 (28, 28): a negative page as reading sees it (preprocess.to_mnist), as every family's are."""
    from PIL import Image

    from digitnet.data.preprocess import to_mnist

    return to_mnist(Image.fromarray(pixels_u8.astype(np.uint8), mode="L"))


def uniform_noise(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(28, 200))
    return rng.integers(0, 256, (side, side), dtype=np.uint8)


RAW_NOISE_KINDS = ("uniform", "sparse")


def raw_noise(rng: np.random.Generator) -> np.ndarray:
    """float32 (28, 28) in [0, 1]: noise sent straight to the tensor APIs in the MNIST form, which no
    preprocessing of an image produces (uniform noise in an image file comes out a blank page):
    uniform noise at a random brightness, or sparse bright specks."""
    kind = RAW_NOISE_KINDS[int(rng.integers(0, len(RAW_NOISE_KINDS)))]
    values = rng.random((IMAGE_SIDE, IMAGE_SIDE))
    if kind == "uniform":
        return (values * rng.uniform(0.3, 1.0)).astype(np.float32)
    return (values < rng.uniform(0.05, 0.5)).astype(np.float32) * rng.uniform(0.5, 1.0)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """Random strokes, dark ink on white, like someone testing the pen."""
    from PIL import Image, ImageDraw

    side = int(rng.integers(64, 256))
    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        points = [tuple(int(v) for v in rng.integers(0, side, 2)) for _ in range(int(rng.integers(3, 12)))]
        draw.line(
            points, fill=0, width=int(rng.integers(max(2, side // 40), max(3, side // 12))), joint="curve"
        )
    return np.asarray(image)


SHAPE_KINDS = ("rectangle", "ellipse", "triangle", "polygon", "star")


def shapes(rng: np.random.Generator) -> np.ndarray:
    """One to three geometric shapes, outlined or filled, dark on a light page: drawn things with
    straight edges and regular curves that no digit has (a training family beside the scribbles)."""
    from PIL import Image, ImageDraw

    side = int(rng.integers(64, 220))
    paper = int(rng.integers(180, 256))
    image = Image.new("L", (side, side), paper)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        kind = SHAPE_KINDS[int(rng.integers(0, len(SHAPE_KINDS)))]
        points = _shape_points(kind, side, rng)
        ink = int(rng.integers(0, max(1, paper - 80)))
        if rng.random() < 0.4:
            draw.polygon(points, fill=ink)
        else:
            width = int(rng.integers(max(1, side // 60), max(2, side // 14)))
            draw.line(points + points[:1], fill=ink, width=width, joint="curve")
    return np.asarray(image)


def _shape_points(kind: str, side: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    centre = rng.uniform(0.3, 0.7, 2) * side
    radius = rng.uniform(0.15, 0.4) * side
    squash = rng.uniform(0.5, 1.0)
    turn = rng.uniform(0, 2 * np.pi)
    if kind == "rectangle":
        angles = turn + np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
        radii = np.full(4, radius)
    elif kind == "ellipse":
        angles = turn + np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radii = np.full(48, radius)
    elif kind == "triangle":
        angles = turn + np.array([0.0, 2 / 3, 4 / 3]) * np.pi + rng.uniform(-0.2, 0.2, 3)
        radii = np.full(3, radius)
    elif kind == "star":
        points = int(rng.integers(5, 9))
        angles = turn + np.linspace(0, 2 * np.pi, 2 * points, endpoint=False)
        radii = np.where(np.arange(2 * points) % 2 == 0, radius, radius * rng.uniform(0.35, 0.6))
    else:  # a random convex-ish polygon of 5-9 corners
        corners = int(rng.integers(5, 10))
        angles = turn + np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = radius * rng.uniform(0.7, 1.0, corners)
    xs = centre[0] + radii * np.cos(angles)
    ys = centre[1] + squash * radii * np.sin(angles)
    return [(int(x), int(y)) for x, y in zip(xs, ys)]


def two_digits(digits_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two random digits side by side, a few pixels apart or touching."""
    first, second = digits_u8[rng.integers(0, len(digits_u8), 2)]
    gap = int(rng.integers(-4, 9))
    canvas = np.zeros((IMAGE_SIDE, 2 * IMAGE_SIDE + gap), np.uint8)
    canvas[:, :IMAGE_SIDE] = first
    canvas[:, IMAGE_SIDE + gap : 2 * IMAGE_SIDE + gap] = np.maximum(
        canvas[:, IMAGE_SIDE + gap : 2 * IMAGE_SIDE + gap], second
    )
    return canvas


def negative_images(
    kind: str,
    count: int,
    rng: np.random.Generator,
    digits_u8: np.ndarray | None = None,
    fashion_u8: np.ndarray | None = None,
) -> np.ndarray:
    """`count` preprocessed negatives of one kind: float32 (count, 28, 28).

    "fashion" needs fashion_u8; "two_digits" and "partial" need digits_u8 (uint8 (N, 28, 28)).
    """
    _check_kind(kind, digits_u8, fashion_u8)
    if count == 0:  # (np.stack refuses an empty list)
        return np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.float32)
    if kind == "raw_noise":  # sent as a tensor: no preprocessing on the way
        return np.stack([raw_noise(rng) for _ in range(count)])
    # The training kinds must stay exactly as they were, random draw for random draw: the
    # detector's training set depends on them bit for bit.
    if kind == "fashion":
        chosen = fashion_u8[rng.choice(len(fashion_u8), count, replace=count > len(fashion_u8))]
        return np.stack([preprocessed(image) for image in chosen])
    makers = {
        "noise": lambda: uniform_noise(rng),
        "scribble": lambda: scribble(rng),
        "two_digits": lambda: two_digits(digits_u8, rng),
        "shapes": lambda: shapes(rng),
        **_heldout_makers(rng, digits_u8),
        **_writing_makers(rng),
        **_validation_makers(rng),
    }
    return np.stack([preprocessed(makers[kind]()) for _ in range(count)])


def _check_kind(kind: str, digits_u8, fashion_u8) -> None:
    if kind not in KINDS:
        raise NegativesError(f"unknown kind of negative {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "fashion" and fashion_u8 is None:
        raise NegativesError('negatives of kind "fashion" need fashion_u8; pass load_fashion("train")')
    if kind in ("two_digits", "partial") and digits_u8 is None:
        raise NegativesError(f"negatives of kind {kind!r} need digits_u8, uint8 (N, 28, 28) MNIST digits")


def _heldout_makers(rng: np.random.Generator, digits_u8: np.ndarray | None) -> dict:
    fonts = functools.cache(letter_fonts)  # looked up once a call, and only when letters are made
    return {
        "letters": lambda: letter_image(rng, fonts())[0],
        "curves": lambda: curves(rng),
        "texture": lambda: texture(rng),
        "paper": lambda: blank_paper(rng),
        "partial": lambda: partial_digit(digits_u8, rng),
    }


def _writing_makers(rng: np.random.Generator) -> dict:
    from digitnet.data import writer, written_letters

    fonts = functools.cache(train_letter_fonts)
    pages = {kind: functools.partial(writer.non_digit_page, kind, rng) for kind in writer.NON_DIGIT_KINDS}
    return {
        "train_letters": lambda: letter_image(rng, fonts())[0],
        **pages,
        "marks": lambda: writer.mark_page(rng),
        "written_letters": lambda: written_letters.letter_page(rng)[0],
    }


def _validation_makers(rng: np.random.Generator) -> dict:
    from digitnet.data import empty_fields, writer

    return {
        "validation_letters": lambda: letter_image(rng, validation_letter_fonts())[0],
        "doodles": lambda: writer.doodle_page(rng),
        "empty_fields": lambda: empty_fields.empty_field(rng),
    }


def validation_letter_fonts() -> list[Path]:
    """The VALIDATION handwriting fonts the detector is chosen on: no detector trains on letters in
    them; choices may be made."""
    from digitnet.data.synthetic import font_files

    return font_files("validation", for_detector=True)


def train_letter_fonts() -> list[Path]:
    """The TRAINING handwriting fonts the detector learns from: letters in them may teach the detector;
    letter_fonts() only measure."""
    from digitnet.data.synthetic import font_files

    return font_files("train", for_detector=True)


# ---------------------------------------------------------------- held-out families
# None of these may be used to train the detector: they measure how it does on the unfamiliar.


# Characters a reader could take for a digit, so "letters" never holds them (the detector must not be
# blamed for calling a digit-like shape a digit). Why each: once scaled to 20x20 and centred, ...
LOOKS_LIKE_A_DIGIT = {
    "0": "0OoDQ",  # ... a closed oval; D and Q are ovals with a flat side or a small tail
    # ... one stroke, upright or slanted; dots, ticks and dashes grow into strokes; a slanted % is a slash
    # whose small circles fade (seen in the preview sheet)
    "1": "1IlijJ|!/\\()[]{}'`\",.:;-_%",
    "2": "2Zz?",  # ... a top arc or bar, a diagonal, a flat base; a question mark is a 2 without its base
    "3": "3",  # (no letter or symbol here has a 3's two bumps facing right but "B", listed under 8)
    "4": "4Ay",  # ... a handwritten A is a closed 4 missing its stem's tail; y's arms and stem make a 4
    "5": "5Ss$",  # ... S is a round-topped 5
    "6": "6Gb",  # ... a loop at the bottom with a stroke rising from it
    "7": "7TF",  # ... a bar on top of one stroke; a slanted F is a 7 crossed, as many Europeans write it
    "8": "8B&g",  # ... two stacked loops (a handwritten & and a two-storey g are just that)
    "9": "9gqa",  # ... a loop with a stem down its right side
}
EXCLUDED_CHARACTERS = frozenset("".join(LOOKS_LIKE_A_DIGIT.values()))
_LETTER_POOL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#%*+-<=>@^~"
LETTER_CHARACTERS = "".join(char for char in _LETTER_POOL if char not in EXCLUDED_CHARACTERS)
# Beside the held-out handwriting fonts, printed letters: fonts-dejavu-core's files.
DEJAVU_FILES = (
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/dejavu/DejaVuSans-Bold.ttf",
    "truetype/dejavu/DejaVuSansMono.ttf",
    "truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "truetype/dejavu/DejaVuSerif.ttf",
    "truetype/dejavu/DejaVuSerif-Bold.ttf",
)
PAIR_SHARE = 0.2  # this share of "letters" images hold two characters side by side, the rest one


def letter_fonts() -> list[Path]:
    """The held-out handwriting fonts and the DejaVu fonts that exist (never the training fonts)."""
    from digitnet.data.synthetic import font_files, fonts_root

    dejavu = [fonts_root() / name for name in DEJAVU_FILES if (fonts_root() / name).is_file()]
    return font_files("heldout") + dejavu


def letter_image(rng: np.random.Generator, fonts: list[Path] | None = None) -> tuple[np.ndarray, str]:
    """uint8 (H, W): one or two letters or symbols written on paper, and the text written."""
    from digitnet.data.synthetic import written_image

    fonts = letter_fonts() if fonts is None else fonts
    font = fonts[int(rng.integers(0, len(fonts)))]
    drawable = _drawable_letters(font)
    length = 2 if rng.random() < PAIR_SHARE else 1
    text = "".join(drawable[int(index)] for index in rng.integers(0, len(drawable), length))
    return written_image(font, text, rng), text


def _drawable_letters(font: Path) -> str:
    from digitnet.data.synthetic import has_glyphs

    drawable = "".join(char for char in LETTER_CHARACTERS if has_glyphs(font, char))
    if not drawable:
        raise NegativesError(
            f"{font} draws none of the letters {LETTER_CHARACTERS!r}; pass fonts that have Latin letters"
        )
    return drawable


def curves(rng: np.random.Generator) -> np.ndarray:
    """Smooth pen strokes unlike `scribble`'s polylines: Bezier chains, spirals, zig-zags and coils."""
    from PIL import Image, ImageDraw

    side = int(rng.integers(64, 200))
    paper = int(rng.integers(180, 256))
    image = Image.new("L", (side, side), paper)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        shape = _CURVE_SHAPES[int(rng.integers(0, len(_CURVE_SHAPES)))](rng)
        points = _fit_into(shape, side, rng)
        width = int(rng.integers(max(1, side // 60), max(2, side // 14)))
        draw.line(
            [tuple(point) for point in points],
            fill=int(rng.integers(0, paper - 80)),
            width=width,
            joint="curve",
        )
    return np.asarray(image)


def _bezier_chain(rng: np.random.Generator) -> np.ndarray:
    """3-5 cubic Bezier segments joined end to end (one or two can draw a 1, 2, 7 or S)."""
    t = np.linspace(0, 1, 40)[:, None]
    start, segments = rng.uniform(-1, 1, 2), []
    for _ in range(int(rng.integers(3, 6))):
        c1, c2, end = rng.uniform(-1, 1, (3, 2))
        segments.append(
            (1 - t) ** 3 * start + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * end
        )
        start = end
    return np.concatenate(segments)


def _spiral(rng: np.random.Generator) -> np.ndarray:
    turns = rng.uniform(1.5, 4.0)
    t = np.linspace(0, 1, int(120 * turns))
    angle = rng.uniform(0, 2 * np.pi) + np.sign(rng.uniform(-1, 1)) * 2 * np.pi * turns * t
    radius = rng.uniform(0.05, 0.2) + t
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def _zigzag(rng: np.random.Generator) -> np.ndarray:
    corners = int(rng.integers(6, 13))  # fewer make a Z, a 2 or a 3
    x = np.linspace(0, 1, corners) + rng.uniform(-0.03, 0.03, corners)
    y = np.where(np.arange(corners) % 2 == 0, 0.0, rng.uniform(0.2, 0.6)) + rng.uniform(-0.05, 0.05, corners)
    return np.stack([x, y], axis=1)


def _coil(rng: np.random.Generator) -> np.ndarray:
    """A row of loops, like a telephone cord or a child's "eeee"."""
    loops = rng.uniform(3, 7)
    t = np.linspace(0, 1, int(60 * loops))
    radius = rng.uniform(0.4, 0.8) / loops * 2
    x = t - radius * np.sin(2 * np.pi * loops * t)
    y = radius * np.cos(2 * np.pi * loops * t)
    return np.stack([x, y], axis=1)


_CURVE_SHAPES = (_bezier_chain, _spiral, _zigzag, _coil)


def _fit_into(points: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """The shape turned by a random angle and scaled into a random part of a (side, side) page."""
    angle = rng.uniform(0, 2 * np.pi)
    turned = points @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    turned = turned - turned.min(axis=0)
    size = side * rng.uniform(0.4, 0.85)
    scaled = turned * (size / max(float(turned.max()), 1e-6))
    offset = rng.uniform(0, np.maximum(side - scaled.max(axis=0), 1))
    return np.round(scaled + offset).astype(int)


TEXTURES = ("stripes", "checkerboard", "hatching", "dots", "blobs")
PATCH_SHARE = 0.7  # this share of textures cover a patch of the page, the rest all of it


def texture(rng: np.random.Generator) -> np.ndarray:
    """A patterned surface at a random scale and angle, on the whole page or on a patch of it."""
    side = int(rng.integers(48, 200))
    pattern = _texture_pattern(TEXTURES[int(rng.integers(0, len(TEXTURES)))], side, rng)
    # A patterned thing (fabric, a box) on a plain background, mostly: a pattern filling the whole
    # page is often taken for the background by to_mnist and comes out blank (measured: about half).
    if rng.random() < PATCH_SHARE:
        pattern = pattern * _ellipse(side, rng)
    paper = rng.uniform(160, 250)
    ink = rng.uniform(0, paper - 70)
    page = paper + (ink - paper) * pattern + rng.normal(0, rng.uniform(0.5, 6.0), (side, side))
    return np.round(page).clip(0, 255).astype(np.uint8)


def _texture_pattern(name: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """float (side, side) in [0, 1], 1 = dark; periods make at least ~5 repeats across the page."""
    period = rng.uniform(max(4.0, side / 20), side / 5)
    angle = rng.uniform(0, np.pi)
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    u = cols * np.cos(angle) + rows * np.sin(angle)
    v = -cols * np.sin(angle) + rows * np.cos(angle)
    if name == "stripes":
        return (np.sin(2 * np.pi * u / period) > rng.uniform(-0.5, 0.5)).astype(np.float64)
    if name == "checkerboard":
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float64)
    if name == "hatching":
        crossing = angle + rng.uniform(np.pi / 4, np.pi / 2)
        w = cols * np.cos(crossing) + rows * np.sin(crossing)
        return ((np.sin(2 * np.pi * u / period) > 0.6) | (np.sin(2 * np.pi * w / period) > 0.6)).astype(
            np.float64
        )
    if name == "dots":
        radius = period * rng.uniform(0.15, 0.4)
        return ((((u % period) - period / 2) ** 2 + ((v % period) - period / 2) ** 2) < radius**2).astype(
            np.float64
        )
    return _smooth_blobs(side, rng)


def _smooth_blobs(side: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random noise, thresholded softly: a mottled surface with many blobs."""
    from PIL import Image

    grid = int(rng.integers(5, 12))
    coarse = rng.normal(0, 1, (grid, grid)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse).resize((side, side), Image.Resampling.BICUBIC), np.float64)
    return np.clip((smooth - rng.uniform(-0.3, 0.3)) * rng.uniform(1.5, 6.0), 0, 1)


def _ellipse(side: int, rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64) / side
    centre = rng.uniform(0.35, 0.65, 2)
    radii = rng.uniform(0.2, 0.45, 2)
    return (((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1).astype(
        np.float64
    )


def blank_paper(rng: np.random.Generator) -> np.ndarray:
    """uint8: a phone photo of paper with nothing written on it (often preprocessed to blank, rightly).

    Uneven light and paper texture, and sometimes a shadow's edge, a fold and faint ruled lines.
    """
    from digitnet.data.synthetic import lit_paper_page

    side = int(rng.integers(64, 220))
    page = lit_paper_page(side, rng)
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float32)
    if rng.random() < 0.5:  # the shadow of the phone or a hand: a soft-edged darker region
        page = page - rng.uniform(15, 60) * _soft_half_plane(
            rows, cols, side, rng, softness=rng.uniform(1, 8)
        )
    if rng.random() < 0.4:  # a fold: a thin crease, lit on one side and shaded on the other
        fold = _signed_distance(rows, cols, side, rng)
        page = page + rng.uniform(5, 20) * np.sign(fold) * np.exp(-np.abs(fold) / rng.uniform(1, 3))
    if rng.random() < 0.5:  # faint ruled lines, printed in a light colour
        spacing = rng.uniform(side / 5, side / 2)
        tilt = rng.uniform(-0.03, 0.03)
        line = ((rows + tilt * cols - rng.uniform(0, spacing)) % spacing) < rng.uniform(1, 2.5)
        page = page - rng.uniform(10, 40) * line
    return np.round(page).clip(0, 255).astype(np.uint8)


def _signed_distance(rows: np.ndarray, cols: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """Distance in pixels from a random line through the page, positive on one side."""
    angle = rng.uniform(0, np.pi)
    through = rng.uniform(0.2, 0.8, 2) * side
    return (rows - through[0]) * np.cos(angle) - (cols - through[1]) * np.sin(angle)


def _soft_half_plane(rows, cols, side, rng, softness: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-_signed_distance(rows, cols, side, rng) / softness))


PARTIAL_CUT = (0.5, 0.7)  # the share of the digit's ink cut away
CORNER_SHARE = 0.3  # this share of "partial" images keep only a corner fragment instead
CORNER_SIZE = (0.35, 0.5)  # the corner kept, as a fraction of the digit's box in each direction
# In the MNIST form, ink whose spread across is under this fraction of its spread along is one stroke
# (measured on MNIST test digits: 95% of 1s are under 0.25, 95% of the others over 0.34).
ONE_STROKE_RATIO = 0.4
PARTIAL_TRIES = 10  # parts drawn before one that is not a single stroke is found (else the last is used)


def partial_digit(digits_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8: an MNIST digit with 50-70% of its ink cut away along a line, or only a corner of it, drawn
    on paper or photographed. Part of a digit can still look like another digit (half an 8 is an o);
    that is why this family is for measuring, reported on its own. A part that is one straight stroke
    is drawn again: scaled to 20x20 it is a 1 (and part of a 1 is a 1)."""
    from digitnet.data.synthetic import photo_image

    for _ in range(PARTIAL_TRIES):
        digit = digits_u8[int(rng.integers(0, len(digits_u8)))].astype(np.float32)
        part = _corner_fragment(digit, rng) if rng.random() < CORNER_SHARE else _cut_away(digit, rng)
        part_u8 = np.round(part).clip(0, 255).astype(np.uint8)
        page = photo_image(part_u8, rng) if rng.random() < 0.5 else _drawn_on_page(part_u8, rng)
        # Judged as the model will see it: a short thick stub is a 1 too once scaled up and thinned.
        if not _is_one_stroke(preprocessed(page)):
            break
    return page


def _is_one_stroke(part: np.ndarray) -> bool:
    """Whether the ink is a thin straight line: its spread across is small beside its spread along."""
    total = float(part.sum())
    if total <= 0:
        return True  # nothing left: as useless as a stroke
    rows, cols = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE]
    points = np.stack([rows.ravel(), cols.ravel()]).astype(np.float64)
    weights = part.ravel() / total
    centred = points - (points * weights).sum(axis=1, keepdims=True)
    spreads = np.linalg.eigvalsh((centred * weights) @ centred.T)  # ascending
    return bool(np.sqrt(max(spreads[0], 0.0) / max(spreads[1], 1e-9)) < ONE_STROKE_RATIO)


def _cut_away(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit with the ink on one side of a random straight cut removed: PARTIAL_CUT of it."""
    angle = rng.uniform(0, 2 * np.pi)
    rows, cols = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE]
    along = rows * np.cos(angle) + cols * np.sin(angle)
    order = np.argsort(along, axis=None, kind="stable")
    removed_share = np.cumsum(digit.ravel()[order]) / max(float(digit.sum()), 1e-6)
    cut = along.ravel()[order][
        np.searchsorted(removed_share, rng.uniform(*PARTIAL_CUT)).clip(0, digit.size - 1)
    ]
    return np.where(along > cut, digit, 0.0)


def _corner_fragment(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Only one corner of the digit's box; a corner with too little ink is passed over."""
    rows, cols = np.nonzero(digit > 0)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    height = max(1, round((bottom - top) * rng.uniform(*CORNER_SIZE)))
    width = max(1, round((right - left) * rng.uniform(*CORNER_SIZE)))
    corners = [(top, left), (top, right - width), (bottom - height, left), (bottom - height, right - width)]
    inks = np.array([digit[r : r + height, c : c + width].sum() for r, c in corners])
    candidates = np.flatnonzero(inks >= 0.1 * digit.sum())
    chosen = corners[int(rng.choice(candidates)) if candidates.size else int(np.argmax(inks))]
    fragment = np.zeros_like(digit)
    r, c = chosen
    fragment[r : r + height, c : c + width] = digit[r : r + height, c : c + width]
    return fragment


def _drawn_on_page(image_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark on a light page, enlarged and off-centre, as drawn in a paint program."""
    from PIL import Image

    scale = int(rng.integers(2, 6))
    side = IMAGE_SIDE * scale + int(rng.integers(0, 60))
    ink = np.zeros((side, side), np.float32)
    enlarged = Image.fromarray(image_u8).resize(
        (IMAGE_SIDE * scale, IMAGE_SIDE * scale), Image.Resampling.BILINEAR
    )
    x, y = (int(v) for v in rng.integers(0, side - IMAGE_SIDE * scale + 1, 2))
    ink[y : y + IMAGE_SIDE * scale, x : x + IMAGE_SIDE * scale] = np.asarray(enlarged, np.float32) / 255.0
    paper = int(rng.integers(200, 256))
    return np.round(paper * (1.0 - ink)).astype(np.uint8)  # ink darkens the page; no pasted frame
