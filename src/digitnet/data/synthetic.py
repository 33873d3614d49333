"""Digits in handwriting styles MNIST lacks: rendered from handwriting fonts, or re-rendered as phone photos.

MNIST's digits were written by a few hundred American census employees and students on forms, scanned
and cleaned; people's digits today are drawn with a mouse or photographed on paper, in many more styles.
`render_digits` draws digits from handwriting fonts with the variation a writer has (size, slant,
rotation, stroke width, a mild elastic wobble, ink and paper levels, blur, noise); `photo_digits` shows
MNIST digits as a phone photo of paper would (lighting, paper texture, perspective, JPEG). Both end in
`digitnet.data.preprocess.to_mnist`, exactly what `digitnet predict` does to a user's image.

The fonts are split by Debian package, never a package in both: TRAIN packages may be used for training,
VALIDATION packages only for choosing between recipes (styles no network trained on, that choices may be
made on), HELD-OUT packages only for measuring how well the model reads styles it has never seen.
Everything random comes from a seed; the same seed on the same fonts gives the same images.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.shapes import IMAGE_SIDE

FONTS_ROOT = Path("/usr/share/fonts")  # Debian's; DIGITNET_FONTS_DIR overrides it
SPLITS = ("train", "validation", "heldout")
DIGITS = "0123456789"


@dataclass(frozen=True)
class FontPackage:
    split: str  # "train", "validation" or "heldout"
    globs: tuple[str, ...]  # the package's font files, relative to the fonts root
    # Whether the shipped not-a-digit detector's work uses it: a training package's digits are its
    # positives and its letters negatives, a validation package's letters are the letters it is chosen
    # on. The packages added later are not: the detector trained on the five later training packages
    # too flagged fewer non-digits on validation (README: "More training fonts"), so the detector's
    # fonts stay as chosen, and its validation letters stay the ones its candidates were measured on.
    detector: bool = True


# One constant table: which Debian package serves which split. A package is in exactly one split.
FONT_PACKAGES: dict[str, FontPackage] = {
    "fonts-bwht": FontPackage("train", ("opentype/bwht/*.otf",)),  # six people's handwriting
    "fonts-breip": FontPackage("train", ("truetype/breip/*.ttf",)),
    # Hollow, sketched outlines: kept as they are, since people do draw outlined digits. (Closing them
    # into solid strokes was tried: at any closing size that keeps the 0's hole, 2, 4, 5 and 7 stay
    # partly hollow and read as other digits.)
    "fonts-femkeklaver": FontPackage("train", ("truetype/femkeklaver/*.ttf",)),
    "fonts-rufscript": FontPackage("train", ("truetype/rufscript/*.ttf",)),
    "fonts-comic-neue": FontPackage("train", ("opentype/comic-neue/*.otf",)),
    "fonts-dancingscript": FontPackage("train", ("opentype/dancingscript/*.otf",)),
    "fonts-kaushanscript": FontPackage("train", ("opentype/kaushanscript/*.otf",)),
    "fonts-ecolier-court": FontPackage("train", ("truetype/ecolier-court/*.ttf",)),
    "fonts-havana": FontPackage("train", ("opentype/havana/*.otf",)),
    # Five more training packages (README: "More training fonts", chosen on the validation split
    # below): kiloji's four weights of one hand, Seto's hand, a fat brush script (Leckerli One),
    # hatched sketched outlines (Cabin Sketch) and a Byzantine cursive (GFS Gazis, old-style digits).
    "fonts-kiloji": FontPackage("train", ("truetype/kiloji/*.ttf",), detector=False),
    "fonts-seto": FontPackage("train", ("truetype/seto/*.ttf",), detector=False),  # -ex: no digits
    "fonts-leckerli-one": FontPackage("train", ("truetype/leckerli-one/*.ttf",), detector=False),
    "fonts-cabinsketch": FontPackage("train", ("truetype/cabinsketch/*.ttf",), detector=False),
    "fonts-gfs-gazis": FontPackage("train", ("opentype/gazis/*.otf",), detector=False),
    # Validation: never trained on, chosen on. A handwriting family (Purisa, four weights), a pen
    # script (Navilu) and a bold script (Lobster), so that a choice of fonts is made on styles no
    # network saw, and the held-out packages below stay for measuring only.
    "fonts-tlwg-purisa-ttf": FontPackage("validation", ("truetype/tlwg/Purisa*.ttf",)),
    "fonts-navilu": FontPackage("validation", ("truetype/Navilu/*.ttf",)),
    "fonts-lobster": FontPackage("validation", ("opentype/lobster/*.otf",)),
    # Four more validation packages: the shipped model read the six fonts above at 98-99.5% each, too
    # well to choose between recipes by. Split before any network read them: Klaudia and Berenika
    # (four weights each; continental 1s with a long flag, 4s with a triangular top) and three brush
    # hands by Aoyagi Kouzan (7s with a curled bar). Their letters are not the detector's.
    "fonts-klaudia-berenika": FontPackage("validation", ("truetype/klaudia-berenika/*.ttf",), detector=False),
    "fonts-aoyagi-kouzan-t": FontPackage("validation", ("truetype/aoyagi-kouzan-t/*.ttf",), detector=False),
    "fonts-aoyagi-soseki": FontPackage("validation", ("truetype/aoyagi-soseki/*.ttf",), detector=False),
    "fonts-kouzan-mouhitsu": FontPackage("validation", ("truetype/kouzan-mouhitsu/*.ttf",), detector=False),
    "fonts-dkg-handwriting": FontPackage("heldout", ("truetype/fifthhorseman/dkg*.ttf",)),
    "fonts-klee": FontPackage("heldout", ("truetype/klee/*.ttf",)),
    "fonts-humor-sans": FontPackage("heldout", ("truetype/humor-sans/*.ttf",)),
    "fonts-kristi": FontPackage("heldout", ("truetype/kristi/*.ttf",)),
    "fonts-joscelyn": FontPackage("heldout", ("opentype/joscelyn/*.otf",)),
}

PROBE_PX = 96  # font size at which a glyph is first drawn, to measure it
GLYPH_HEIGHT = 96  # glyphs are then drawn once so that their ink is this tall, and cached
MAX_FONT_PX = 4 * PROBE_PX  # ... but no larger than this (a dash or a dot would need a huge size)
HEIGHT_PX = (20, 72)  # the written digit's height on the page, pixels (to_mnist makes it 20; more costs time)
WIDTH_FACTOR = (0.8, 1.2)  # some writers write narrower or wider than the font
ROTATION_DEG = 12.0  # at most this much either way
SHEAR_DEG = 15.0  # slant, at most this much either way
ELASTIC_FRACTION = (0.01, 0.035)  # elastic wobble, as a fraction of the digit's height (standard deviation)
ELASTIC_GRID = 4  # the wobble is smooth: random on a 4x4 grid, interpolated in between
PAPER_LEVEL = (170, 250)  # grey levels, 0..255
INK_LEVEL = (0, 90)
MIN_CONTRAST = 70  # the ink is at least this much darker than the paper
NOISE_PROBABILITY, NOISE_SIGMA = 0.4, (1.0, 8.0)
BLUR_PROBABILITY, BLUR_FRACTION = 0.3, (0.005, 0.02)  # Gaussian radius as a fraction of the height
STROKE_CHANGE = (-1, 0, 0, 1, 2)  # strokes change by one of these times STROKE_STEP on each side
STROKE_STEP = 1 / 40  # of the written height: 1 pixel at 40 pixels tall
MIN_STROKE_PX = 2.0  # thinning never leaves strokes thinner than this (hairline fonts stay as they are)


class SyntheticError(DigitnetError, ValueError):
    """No usable fonts, or a bad argument; str() is one line: what, where, how to fix."""


# ---------------------------------------------------------------- fonts


def fonts_root() -> Path:
    return Path(os.environ.get("DIGITNET_FONTS_DIR", FONTS_ROOT))


def packages_of(split: str, *, for_detector: bool = False) -> list[str]:
    """The split's packages; for_detector: only those the not-a-digit detector learns from."""
    _check_split(split)
    return [
        name
        for name, package in FONT_PACKAGES.items()
        if package.split == split and (package.detector or not for_detector)
    ]


def font_files(split: str, *, for_detector: bool = False) -> list[Path]:
    """The existing font files of `split` whose digits 0-9 all draw, sorted (for_detector: of the
    packages the detector learns from).

    Raises SyntheticError, saying what to install, when there are none.
    """
    usable = [path for _, path in _existing_files(split, for_detector) if has_glyphs(path, DIGITS)]
    if not usable:
        packages = " ".join(packages_of(split))
        raise SyntheticError(
            f"no handwriting fonts for the {split!r} split under {fonts_root()}; "
            f"install them with `apt-get install {packages}`, or `make test` does"
        )
    return usable


def font_manifest(split: str) -> list[dict]:
    """Which font files exist for `split` and whether they are used, for a run to record."""
    return [
        {
            "package": package,
            "file": path.name,
            "bytes": path.stat().st_size,
            "used": has_glyphs(path, DIGITS),
        }
        for package, path in _existing_files(split)
    ]


def _existing_files(split: str, for_detector: bool = False) -> list[tuple[str, Path]]:
    """(package, path) of every font file of `split` under the fonts root, sorted by path."""
    root = fonts_root()
    found = {
        path: name
        for name in packages_of(split, for_detector=for_detector)
        for pattern in FONT_PACKAGES[name].globs
        for path in root.glob(pattern)
        if path.is_file()
    }
    return [(found[path], path) for path in sorted(found)]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise SyntheticError(f"unknown font split {split!r}; use one of {', '.join(SPLITS)}")


def has_glyphs(path: Path, text: str) -> bool:
    """Whether every character of `text` draws visible ink in this font (not nothing, not the missing box)."""
    return all(glyph_mask(path, char) is not None for char in text)


@functools.lru_cache(maxsize=4096)
def glyph_mask(path: Path, text: str) -> np.ndarray | None:
    """float32 (H, W) in [0, 1], 1 = ink, cropped to the ink (about GLYPH_HEIGHT tall); None when the
    font cannot draw `text`. Drawn once and cached (read-only): every image only rescales and warps it.
    """
    path = Path(path)
    probe = _font(path, PROBE_PX)
    if probe is None:
        return None
    mask = _draw(probe, text)
    # A character the font lacks draws as nothing or as the font's "missing" box (.notdef); U+10FFFD is a
    # private-use code point no handwriting font has, so its drawing is that box.
    if mask is None or np.array_equal(mask, _draw(probe, "\U0010fffd")):
        return None
    # Fonts draw digits at very different heights for one font size (Ecolier's are half as tall as
    # most); drawn again at the size that makes them GLYPH_HEIGHT tall, thin strokes keep their detail.
    size = min(MAX_FONT_PX, round(PROBE_PX * GLYPH_HEIGHT / mask.shape[0]))
    if size != PROBE_PX:
        mask = _draw(_font(path, size), text)
    mask.flags.writeable = False
    return mask


@functools.lru_cache(maxsize=256)
def _font(path: Path, size: int):
    """The font at `size` pixels, or None when the file is missing or not a font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return None


def _draw(font, text: str) -> np.ndarray | None:
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text)
    pad = 4
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=font, fill=255)
    values = np.asarray(image, dtype=np.float32) / 255.0
    rows, cols = np.nonzero(values > 0.05)
    if rows.size == 0:
        return None
    return np.ascontiguousarray(values[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])


def _mask_image(mask: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8), mode="L")


# ---------------------------------------------------------------- handwritten digits


def render_digits(
    count: int, split: str = "train", seed: int = 0, *, for_detector: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits written in the split's fonts (for_detector: those the detector learns from), in
    the MNIST form.

    Returns images float32 (count, 28, 28) in [0, 1] (bright ink on black) and labels int32 (count,):
    every digit equally often (counts differ by at most one), in random order, each from a random font.
    """
    fonts = font_files(split, for_detector=for_detector)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % 10).astype(np.int32)
    choices = rng.integers(0, len(fonts), count)
    images = [
        _to_mnist(written_image(fonts[font], DIGITS[label], rng)) for font, label in zip(choices, labels)
    ]
    return _stack(images), labels


def writer_digits(font_path: Path, count_per_digit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digits of one font (one "writer"), `count_per_digit` of each, in random order; like render_digits."""
    font_path = Path(font_path)
    if not has_glyphs(font_path, DIGITS):
        raise SyntheticError(
            f"{font_path} cannot draw all of 0-9 (missing file or glyphs); "
            "pass a handwriting font from font_files()"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(10), count_per_digit)).astype(np.int32)
    images = [_to_mnist(written_image(font_path, DIGITS[label], rng)) for label in labels]
    return _stack(images), labels


def written_image(font_path: Path, text: str, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W): `text` written in this font on paper, dark on light, as a user would supply it.

    A random size, width, rotation, slant, stroke width and elastic wobble, off-centre on a page larger
    than the writing, with random ink and paper levels and sometimes blur or noise.
    """
    mask = glyph_mask(Path(font_path), text)
    if mask is None:
        raise SyntheticError(f"{font_path} cannot draw {text!r}; check with has_glyphs() first")
    mask = _vary_stroke(_resize_glyph(mask, rng), rng)
    ink = _place_and_warp(mask, rng)
    return _on_paper(ink, float(mask.shape[0]), rng)


def _resize_glyph(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The glyph at a random height and width (Pillow's resize averages, so small sizes do not alias)."""
    from PIL import Image

    height = rng.uniform(*HEIGHT_PX)
    scale = height / mask.shape[0]
    width = max(2, round(mask.shape[1] * scale * rng.uniform(*WIDTH_FACTOR)))
    resized = Image.fromarray(mask).resize((width, max(2, round(height))), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32).clip(0, 1)


def _vary_stroke(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thinner, as drawn, or thicker strokes: a fine pen, a felt tip or a marker."""
    from PIL import ImageFilter

    from digitnet.data.preprocess import stroke_width

    change = int(round(rng.choice(STROKE_CHANGE) * STROKE_STEP * mask.shape[0]))  # pixels on each side
    if change == 0 or (change < 0 and stroke_width(mask) + 2 * change < MIN_STROKE_PX):
        return mask
    size = 2 * abs(change) + 1
    padded = np.pad(mask, abs(change))  # room to grow; zeros outside so that edges thin too
    rank = ImageFilter.MaxFilter(size) if change > 0 else ImageFilter.MinFilter(size)
    return np.asarray(_mask_image(padded).filter(rank), dtype=np.float32) / 255.0


def _place_and_warp(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float32 (S, S): the glyph off-centre on a larger page, rotated, slanted and wobbled elastically.

    One inverse map for all three, sampled once, so the glyph is resampled only once.
    """
    height, width = mask.shape
    diagonal = float(np.hypot(height, width))
    side = int(np.ceil(diagonal * rng.uniform(1.15, 1.6))) + 4
    spare = side - diagonal
    centre = np.array([side / 2, side / 2]) + rng.uniform(-spare / 2.5, spare / 2.5, 2)  # (row, col)
    angle = np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    shear = np.tan(np.deg2rad(rng.uniform(-SHEAR_DEG, SHEAR_DEG)))
    # Forward map (glyph -> page): slant (cols move with height), then rotate. Invert it for sampling.
    slant = np.array([[1.0, 0.0], [-shear, 1.0]])  # (row, col): col' = col - shear * row
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    inverse = np.linalg.inv(rotate @ slant)
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float32)
    offsets = np.stack([rows - centre[0], cols - centre[1]])
    source = np.tensordot(inverse, offsets, axes=1) + np.array([height / 2, width / 2])[:, None, None]
    source += _smooth_field(side, height * rng.uniform(*ELASTIC_FRACTION), rng)
    return _sample_bilinear(mask, source[0], source[1])


def _smooth_field(side: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """float32 (2, side, side): a random displacement in pixels that varies smoothly across the page."""
    from PIL import Image

    coarse = rng.normal(0.0, sigma, (2, ELASTIC_GRID, ELASTIC_GRID)).astype(np.float32)
    return np.stack(
        [
            np.asarray(Image.fromarray(plane).resize((side, side), Image.Resampling.BICUBIC))
            for plane in coarse
        ]
    )


def _sample_bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """image at fractional (rows, cols), bilinear; 0 outside the image."""
    height, width = image.shape
    padded = np.pad(image, 1)  # a frame of zeros: every point outside samples it
    rows, cols = rows + 1.0, cols + 1.0
    top, left = np.floor(rows), np.floor(cols)
    down, right = (rows - top).astype(np.float32), (cols - left).astype(np.float32)
    top, left = top.astype(np.int64), left.astype(np.int64)
    # Clipped after taking +1, so that both neighbours of a far-away point land on the zero frame.
    bottom, rightmost = np.clip(top + 1, 0, height + 1), np.clip(left + 1, 0, width + 1)
    top, left = np.clip(top, 0, height + 1), np.clip(left, 0, width + 1)
    upper = padded[top, left] * (1 - right) + padded[top, rightmost] * right
    lower = padded[bottom, left] * (1 - right) + padded[bottom, rightmost] * right
    return (upper * (1 - down) + lower * down).astype(np.float32)


def _on_paper(ink: np.ndarray, height: float, rng: np.random.Generator) -> np.ndarray:
    """uint8: the ink map as dark ink on light paper, sometimes blurred (focus) or noisy (sensor)."""
    from PIL import ImageFilter

    paper = rng.uniform(*PAPER_LEVEL)
    pen = rng.uniform(INK_LEVEL[0], min(INK_LEVEL[1], paper - MIN_CONTRAST))
    page = paper + (pen - paper) * ink
    if rng.random() < BLUR_PROBABILITY:
        radius = max(0.4, height * rng.uniform(*BLUR_FRACTION))
        blurred = _gray_image(page).filter(ImageFilter.GaussianBlur(radius))  # Pillow blurs 8-bit only
        page = np.asarray(blurred, dtype=np.float32)
    if rng.random() < NOISE_PROBABILITY:
        page = page + rng.normal(0.0, rng.uniform(*NOISE_SIGMA), page.shape)
    return np.round(page).clip(0, 255).astype(np.uint8)


def _gray_image(page: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.round(page).clip(0, 255).astype(np.uint8), mode="L")


# ---------------------------------------------------------------- MNIST digits as phone photos


PHOTO_SCALE = (2.5, 5.0)  # the 28x28 digit is enlarged this much: a photo has more pixels than MNIST
PHOTO_ROTATION_DEG = 6.0
PHOTO_TILT = 0.25  # perspective: the far edge of the paper shrinks by up to this fraction
JPEG_QUALITY = (30, 90)


def photo_digits(digits_u8: np.ndarray, seed: int = 0) -> np.ndarray:
    """float32 (N, 28, 28): MNIST digits (uint8, bright on black) as a phone photo of paper shows them.

    Dark ink on paper, enlarged off-centre on a larger page, uneven light, paper texture, a slight
    tilt and rotation, slight blur and JPEG compression at a random quality, then to_mnist.
    """
    digits_u8 = np.asarray(digits_u8)
    if digits_u8.ndim != 3 or digits_u8.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise SyntheticError(
            f"photo_digits needs uint8 digits shaped (N, 28, 28), got {digits_u8.shape}; "
            "pass e.g. (mnist.test.images[..., 0] * 255).astype(np.uint8)"
        )
    rng = np.random.default_rng(seed)
    return _stack([_to_mnist(photo_image(digit, rng)) for digit in digits_u8])


def photo_image(digit_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W): one 28x28 bright-on-black image drawn on paper and photographed."""
    from PIL import Image

    scale = rng.uniform(*PHOTO_SCALE)
    enlarged = Image.fromarray(np.asarray(digit_u8, dtype=np.uint8)).resize(
        (round(IMAGE_SIDE * scale),) * 2, Image.Resampling.BILINEAR
    )
    mask = np.asarray(enlarged, dtype=np.float32) / 255.0
    side = int(np.ceil(mask.shape[0] * rng.uniform(1.3, 2.0)))
    ink = _photo_warp(mask, side, rng)
    lit_paper = lit_paper_page(side, rng)
    darkness = rng.uniform(0.45, 0.9)  # how much light the ink absorbs: pencil to marker
    return _photograph(lit_paper * (1 - darkness * ink), blur=rng.uniform(0.3, 1.2) * scale / 4, rng=rng)


def _photo_warp(mask: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """The digit off-centre on a (side, side) page, rotated a little and seen at a slight tilt."""
    height = mask.shape[0]
    spare = side - height * 1.2
    centre = side / 2 + rng.uniform(-spare / 2, spare / 2, 2)
    angle = np.deg2rad(rng.uniform(-PHOTO_ROTATION_DEG, PHOTO_ROTATION_DEG))
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float32)
    y, x = (rows - centre[0]) / height, (cols - centre[1]) / height  # page coordinates, digit heights
    # A camera not square to the paper: a projective map, near the identity.
    tilt_y, tilt_x = rng.uniform(-PHOTO_TILT, PHOTO_TILT, 2)
    depth = 1.0 + tilt_y * y + tilt_x * x
    y, x = y / depth, x / depth
    cos, sin = np.cos(angle), np.sin(angle)
    source_rows = (cos * y + sin * x) * height + height / 2
    source_cols = (-sin * y + cos * x) * height + height / 2
    return _sample_bilinear(mask, source_rows, source_cols)


def lit_paper_page(side: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (side, side), 0..255: blank paper under uneven light, with its texture."""
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float32) / side
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(direction) * (rows - 0.5) + np.sin(direction) * (cols - 0.5)
    light = rng.uniform(150, 245) + rng.uniform(10, 70) * ramp  # a lamp or window to one side
    texture = _smooth_field(side, rng.uniform(1.0, 5.0), rng)[0]  # fibres and unevenness of the paper
    return (light + texture + rng.normal(0.0, rng.uniform(1.0, 4.0), (side, side))).astype(np.float32)


def _photograph(page: np.ndarray, blur: float, rng: np.random.Generator) -> np.ndarray:
    """uint8: the page slightly out of focus, saved as a JPEG at a random quality and read back."""
    from PIL import Image, ImageFilter

    image = _gray_image(page).filter(ImageFilter.GaussianBlur(blur))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    return np.asarray(Image.open(buffer).convert("L"))


# ---------------------------------------------------------------- shared


def _to_mnist(pixels_u8: np.ndarray) -> np.ndarray:
    from PIL import Image

    from digitnet.data.preprocess import to_mnist

    return to_mnist(Image.fromarray(pixels_u8, mode="L"))


def _stack(images: list[np.ndarray]) -> np.ndarray:
    return (
        np.stack(images).astype(np.float32) if images else np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.float32)
    )
