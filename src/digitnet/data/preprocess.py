"""Users' digit images -> the MNIST form: 28x28, bright ink on black, fitted to 20x20 and centred by mass.

A digit drawn in a paint program or photographed on paper is dark on light, off-centre and the wrong
size. `to_mnist` repeats what was done to make MNIST itself (LeCun et al.): the ink is scaled to fit a
20x20 box keeping its aspect ratio, with anti-aliasing, and pasted into 28x28 so that its centre of
mass lies at the centre. Before that it finds the ink: polarity from the border; the background
(paper, shadows, JPEG noise) estimated and subtracted; faint ink kept only where it joins clear ink;
specks dropped. One step MNIST did not need: its digits were all written with similar pens, users'
are not, so strokes far thinner or thicker than MNIST's are brought into MNIST's range of widths.
Nothing here prints; bad input raises `ImageError` with a one-line message.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitnet.errors import DigitnetError, first_line
from digitnet.shapes import IMAGE_SIDE

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression-bomb guard)
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")  # only these plugins ever see the bytes
# (JPEG includes cameras' multi-picture MPO files: Pillow's JPEG plugin opens those itself.)
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, WebP or TIFF"

MNIST_SIDE = IMAGE_SIDE
MNIST_BOX = 20  # the ink is scaled so that its longer side is this long
MNIST_CENTRE = 14.0  # where MNIST's centre of mass lies, in pixel indices (measured: 13.99, 14.01)
PASS_THROUGH_BOX = 22  # a 28x28 image whose ink fits this box ...
PASS_THROUGH_OFFSET = 1.0  # ... with its centre of mass this close to the centre is MNIST already

WORK_SIDE = 1024  # larger images are averaged down to this first: plenty for a 20x20 result, and fast
BACKGROUND_CELLS = 16  # the background is estimated on about this many cells along the longer side
MIN_CONTRAST = 0.08  # ink must differ from the background by this much (of the full 0..1 range) ...
NOISE_SIGMAS = 5.0  # ... and by this many standard deviations of the background's noise
FAINT_FRACTION = 0.5  # ink touching sure ink counts down to this fraction of the sure-ink threshold
INK_FULL = 0.5  # ink at this fraction of its typical contrast counts as fully inked (soft edges below)
BOX_LEVEL = 0.3  # the box fitted to 20x20 holds the ink above this level, not its faintest fringe
SUPERSAMPLE = 4  # the 20x20 digit is drawn at this many times its size, then averaged down
# Strokes are brought into this range of widths (pixels at 28x28, see stroke_width): the 40th and
# 90th percentiles of MNIST's training digits. Thin strokes are raised further than thick ones are
# lowered because, measured on re-rendered test digits, thin faint pen lines cost the model more.
MNIST_STROKE_RANGE = (2.2, 3.25)
WIDTH_STEPS = 3  # at most this many tries to bring the stroke width into that range
SPECK_FRACTION = 0.03  # parts smaller than this fraction of the largest part are specks
SPECK_SIDE_FRACTION = 1 / 80  # ... and so are parts smaller than a square of this fraction of the short side
# Above this share of the pixels, ink spoils the median as the background's level (a tight crop):
# well above what a digit with a margin covers, so those images are read as before.
CROWDED_INK_SHARE = 0.3


class ImageError(DigitnetError, ValueError):
    """An input that is not a usable image; str() is one line: which input, what is wrong, how to fix."""


# ---------------------------------------------------------------- loading


def load_image(
    source: bytes | str | Path, *, name: str | None = None, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """A decoded, upright image from encoded bytes or a file path.

    name: how messages call the input (default: the path, or "the image" for bytes).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "the image"
        if len(source) == 0:
            raise ImageError(f"{label} is empty (0 bytes); send the content of a {_FORMAT_NAMES} file")
        return _decode(io.BytesIO(source), label, max_pixels)
    path = Path(source)
    label = name or str(path)
    try:
        with open(path, "rb") as file:
            if path.stat().st_size == 0:
                raise ImageError(f"{label} is empty (0 bytes); pass a {_FORMAT_NAMES} file")
            return _decode(file, label, max_pixels)
    except OSError as error:
        raise ImageError(
            f"{label} cannot be read ({error.strerror or error}); pass the path of a {_FORMAT_NAMES} file"
        ) from error


def _decode(file, label: str, max_pixels: int) -> Image.Image:
    try:
        # Pillow warns, rather than raises, for images between its two bomb limits; a library must not
        # print, and such an image is over any sensible max_pixels anyway, so the warning is an error.
        # (The filter is process-wide while it is set; other threads' warnings are unaffected but for
        # this one category.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file, formats=FORMATS)  # reads the header only
            _check_size(image.size, label, max_pixels)
            image.load()
        # Phone photos are stored sideways with an EXIF note saying how to turn them; honour it.
        return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(
            f"{label} is too large to decode safely ({first_line(error)}); "
            "scale it down or crop it to the digit"
        ) from error
    except UnidentifiedImageError as error:
        raise ImageError(
            f"{label} is not a {_FORMAT_NAMES} image; save the drawing or photo in one of those formats"
        ) from error
    except Exception as error:  # Pillow raises many kinds for damaged data (OSError, SyntaxError, ...)
        raise ImageError(
            f"{label} could not be decoded, it may be truncated or damaged "
            f"({type(error).__name__}: {first_line(error)}); save or send it again"
        ) from error


def _check_size(size: tuple[int, int], label: str, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{label} is too large: {width}x{height} pixels, more than the {max_pixels:,} "
            "allowed; scale it down or crop it to the digit"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{label} has no pixels ({width}x{height}); pass a picture of a digit")


# ---------------------------------------------------------------- to the MNIST form


def image_to_mnist(
    source: bytes | str | Path, *, name: str | None = None, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """load_image + to_mnist: float32 (28, 28) in [0, 1], ink bright on black."""
    return to_mnist(load_image(source, name=name, max_pixels=max_pixels))


def to_mnist(image: Image.Image) -> np.ndarray:
    """float32 (28, 28) in [0, 1], ink bright on black; all zeros when there is no ink."""
    flat, white = _flatten(image)
    if flat.size == (MNIST_SIDE, MNIST_SIDE) and is_mnist_form(gray := _unit_values(flat, white)):
        return gray
    gray = _unit_values(_reduce(flat, WORK_SIDE), white)
    light = 1.0 - gray if ink_is_dark(gray) else gray
    return _fit_and_centre(_ink_map(light))


def has_no_ink(mnist_image: np.ndarray) -> bool:
    """True when no pixel holds any ink at all (a single preprocessed image). For a batch, and for
    ink too faint to read, see digitnet.reading.uncertainty.too_faint_to_read."""
    return not np.any(np.asarray(mnist_image) > 0)


def _flatten(image: Image.Image) -> tuple[Image.Image, float]:
    """One channel without transparency, and the value that means white in it."""
    if image.mode.startswith("I;16"):
        # As 32-bit "I": Pillow can average that, and reads big-endian "I;16B" correctly only via numpy.
        return Image.fromarray(np.asarray(image).astype(np.int32)), 65535.0
    if image.mode in ("I", "F"):
        # These modes store no range: 16-bit PNGs may open as "I", float TIFFs usually hold 0..1.
        top = image.getextrema()[1]
        return image, 1.0 if image.mode == "F" and top <= 1.0 else 255.0 if top <= 255 else 65535.0
    try:
        if image.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
        # Via RGB: CMYK, YCbCr, LAB, HSV, palette and 1-bit images all convert to it.
        return (image if image.mode == "L" else image.convert("RGB").convert("L")), 255.0
    except ValueError as error:
        raise ImageError(
            f"images in Pillow's mode {image.mode} cannot be read ({first_line(error)}); "
            "save it as an 8-bit RGB or grayscale image"
        ) from error


def _reduce(flat: Image.Image, side: int) -> Image.Image:
    """Averaged down by a whole factor until its longer side is at most `side` (done by Pillow, fast)."""
    factor = -(-max(flat.size) // side)
    return flat.reduce(factor) if factor > 1 else flat


def _unit_values(flat: Image.Image, white: float) -> np.ndarray:
    """float32 (H, W) in [0, 1]: the same arithmetic as digitnet.data.mnist for 8 bits (MNIST stays exact)."""
    return (np.asarray(flat, dtype=np.float32) / np.float32(white)).clip(0, 1)


def is_mnist_form(gray: np.ndarray) -> bool:
    """28x28 with a black background, its ink inside ~20x20 and centred by mass, like MNIST's own."""
    if gray.shape != (MNIST_SIDE, MNIST_SIDE) or _border_level(gray) > 0.1 or not np.any(gray > 0):
        return False
    rows, cols = np.nonzero(gray > 0)
    if max(np.ptp(rows), np.ptp(cols)) + 1 > PASS_THROUGH_BOX:
        return False
    centre = np.array(_centre_of_mass(gray))
    return bool(np.all(np.abs(centre - MNIST_CENTRE) <= PASS_THROUGH_OFFSET))


def ink_is_dark(gray: np.ndarray) -> bool:
    """Whether the ink is darker than the background (then the image must be inverted for MNIST).

    The ink lies on the side of the background level where the image reaches furthest; when neither
    side stands out (faint or hairline ink), a light background means dark ink.
    """
    background = _border_level(gray)
    values = gray.ravel()
    count = max(1, values.size // 2000)  # the few most extreme pixels, not the single noisiest one
    darkest = np.partition(values, count - 1)[count - 1]
    brightest = np.partition(values, values.size - count)[values.size - count]
    dark_reach, bright_reach = background - darkest, brightest - background
    if abs(dark_reach - bright_reach) > 0.1:
        return bool(dark_reach > bright_reach)
    return bool(background >= 0.5)


def _border_level(gray: np.ndarray) -> float:
    """The median of the outer frame: the background, since a digit seldom reaches the edges."""
    width = max(1, min(gray.shape) // 32)
    frame = np.concatenate(
        [gray[:width].ravel(), gray[-width:].ravel(), gray[:, :width].ravel(), gray[:, -width:].ravel()]
    )
    return float(np.median(frame))


def _ink_map(light: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1]: 1 = ink, 0 = background, soft at the ink's edges; `light` has bright ink."""
    residual = light - _background(light)
    level, noise = _background_statistics(residual)
    sure = level + max(MIN_CONTRAST, NOISE_SIGMAS * noise)
    strong = residual[residual > sure]
    if strong.size == 0:
        return np.zeros_like(light)
    # Hysteresis, as in Canny's edge detector: faint ink counts where it joins ink that is surely
    # ink, so a thin pencil line fading in and out stays one stroke while lone noise is dropped.
    floor = level + max(MIN_CONTRAST, NOISE_SIGMAS * noise) * FAINT_FRACTION
    # Typical ink contrast: a high percentile, so that blurred or thin strokes do not drag it down.
    peak = float(np.percentile(strong, 90))
    full = max(floor + (peak - floor) * INK_FULL, floor + 1e-3)
    ink = ((residual - floor) / (full - floor)).clip(0, 1).astype(np.float32)
    return ink * _ink_parts(ink > 0, residual > sure)


def _background_statistics(residual: np.ndarray) -> tuple[float, float]:
    """The background's level and noise (a robust sigma) in `residual`, where ink is bright.

    Median and median absolute deviation, when most pixels are background. In a crop tight around a
    thick, blurred or blown-up digit, ink covers 40% of the pixels or more: the median then lies in
    the ink and the deviation spans ink and paper, so no ink stands out (the whole digit was lost).
    Then (above Otsu's threshold lies CROWDED_INK_SHARE of the pixels or more) the pixels below the
    threshold are the background, provided the two sides differ by more than ink must differ from
    noise; a blank or evenly noisy page never splits that clearly.
    """
    level = float(np.median(residual))
    noise = _robust_sigma(residual, level)
    split = _otsu_threshold(residual)
    below, above = residual[residual <= split], residual[residual > split]
    if below.size == 0 or above.size < CROWDED_INK_SHARE * residual.size:
        return level, noise
    paper_level = float(np.median(below))
    paper_noise = _robust_sigma(below, paper_level)
    gap = float(np.median(above)) - paper_level
    if paper_noise < noise and gap > max(MIN_CONTRAST, NOISE_SIGMAS * paper_noise) / FAINT_FRACTION:
        return paper_level, paper_noise
    return level, noise


def _robust_sigma(values: np.ndarray, centre: float) -> float:
    return float(1.4826 * np.median(np.abs(values - centre)))


def _otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The level that best splits `values` in two (Otsu 1979: the largest between-class variance)."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_below = np.cumsum(counts)
    weight_above = weight_below[-1] - weight_below
    sum_below = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_below = sum_below / weight_below
        mean_above = (sum_below[-1] - sum_below) / weight_above
        between = weight_below * weight_above * (mean_below - mean_above) ** 2
    return float(edges[1:][int(np.nanargmax(np.nan_to_num(between, nan=-1.0)))])


def _background(light: np.ndarray) -> np.ndarray:
    """A smooth estimate of the background under bright ink: low percentiles on a coarse grid.

    Each cell's 20th percentile ignores the ink in it; the minimum over neighbouring cells then ignores
    cells that ink covers completely. Lighting gradients and shadows vary slowly, so this follows them.
    """
    height, width = light.shape
    cell = max(4, int(np.ceil(max(height, width) / BACKGROUND_CELLS)))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.pad(light, ((0, rows * cell - height), (0, cols * cell - width)), mode="edge")
    blocks = padded.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    grid = np.percentile(blocks, 20, axis=2).astype(np.float32)
    grid = _grid_min3(grid)
    # Cell centres are at (cell-1)/2 + k*cell; resizing the grid by `cell` puts them there.
    smooth = _as_image(grid).resize((cols * cell, rows * cell), Image.Resampling.BILINEAR)
    return np.asarray(smooth)[:height, :width]


def _grid_min3(grid: np.ndarray) -> np.ndarray:
    padded = np.pad(grid, 1, mode="edge")
    rows, cols = grid.shape
    shifted = [padded[dr : dr + rows, dc : dc + cols] for dr in range(3) for dc in range(3)]
    return np.min(shifted, axis=0)


def _ink_parts(faint: np.ndarray, sure: np.ndarray) -> np.ndarray:
    """The 8-connected parts of `faint` that hold some `sure` ink and are not specks.

    A speck is tiny next to the largest part, or tiny for the image (dust, a JPEG block's noise).
    """
    rows, starts, ends = _runs(faint)
    if rows.size == 0:
        return faint
    component = _connect_runs(rows, starts, ends)
    sure_before = np.pad(np.cumsum(sure, axis=1), ((0, 0), (1, 0)))
    sure_counts = np.bincount(component, weights=sure_before[rows, ends] - sure_before[rows, starts])
    areas = np.bincount(component, weights=ends - starts) * (sure_counts > 0)
    smallest = max(SPECK_FRACTION * areas.max(), (min(faint.shape) * SPECK_SIDE_FRACTION) ** 2, 1.0)
    keep = areas[component] >= smallest
    return _paint_runs(faint.shape, rows[keep], starts[keep], ends[keep])


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True, in row-major order: row, start and (exclusive) end of each."""
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends


def _connect_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Component index of each run: runs in adjacent rows touching (diagonals too) are connected."""
    stride = int(ends.max()) + 2
    start_keys, end_keys = rows * stride + starts, rows * stride + ends
    # The runs of row r-1 touching run (r, s, e) are those with end >= s and start <= e: a slice.
    first = np.searchsorted(end_keys, (rows - 1) * stride + starts, side="left")
    last = np.searchsorted(start_keys, (rows - 1) * stride + ends, side="right")
    parent = list(range(rows.size))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for run in np.nonzero(last > first)[0]:
        for other in range(first[run], last[run]):
            a, b = root(run), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.array([root(index) for index in range(rows.size)])


def _paint_runs(shape, rows, starts, ends) -> np.ndarray:
    marks = np.zeros((shape[0], shape[1] + 1), dtype=np.int32)
    np.add.at(marks, (rows, starts), 1)
    np.add.at(marks, (rows, ends), -1)
    return np.cumsum(marks, axis=1)[:, :-1] > 0


def _fit_and_centre(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, scale its longer side to 20 and paste it into 28x28 centred by mass."""
    result = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.float32)
    rows, cols = np.nonzero(ink > BOX_LEVEL)
    if rows.size == 0:
        return result
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    small = _fit_box(crop)
    if small.max() <= 0:
        return result
    small = small / small.max()  # MNIST's strokes are saturated; thin or faint ink would not be
    centre_row, centre_col = _centre_of_mass(small)
    # MNIST shifted by whole pixels; clamping keeps a lopsided digit from being cut off.
    top = int(np.clip(round(MNIST_CENTRE - centre_row), 0, MNIST_SIDE - small.shape[0]))
    left = int(np.clip(round(MNIST_CENTRE - centre_col), 0, MNIST_SIDE - small.shape[1]))
    result[top : top + small.shape[0], left : left + small.shape[1]] = small
    return result


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """The crop scaled so that its longer side is 20, its strokes as wide as MNIST's usually are.

    The work is done at SUPERSAMPLE times that size and averaged down, which gives the anti-aliased
    edges MNIST has. A thin pen on a big canvas, or a marker on a small one, gives strokes far
    thinner or thicker than any the model was trained on; those are grown or shrunk into MNIST's range.
    """
    scale = MNIST_BOX / max(crop.shape)
    height, width = (max(1, round(side * scale)) for side in crop.shape)
    fine = np.asarray(
        _as_image(crop).resize((width * SUPERSAMPLE, height * SUPERSAMPLE), Image.Resampling.LANCZOS)
    ).clip(0, 1)
    inked = fine[fine > 0.05]
    if inked.size == 0:
        return fine[::SUPERSAMPLE, ::SUPERSAMPLE]
    # A line thinner than a pixel here comes out faint all along; it is ink all the same, so make it full.
    fine = (fine / np.percentile(inked, 90)).clip(0, 1)
    return _average_down(_with_stroke_width_in(fine, MNIST_STROKE_RANGE), SUPERSAMPLE)


def _with_stroke_width_in(fine: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """`fine` (SUPERSAMPLE times the 20x20 scale) grown or shrunk until its stroke width is within limits.

    Each edge moves by half the change in width; a few corrections make up for what the first guess
    misses (stroke ends, corners, soft edges).
    """
    stroke = stroke_width(fine) / SUPERSAMPLE
    target = float(np.clip(stroke, *limits))
    radius, adjusted = 0.0, fine
    for _ in range(WIDTH_STEPS):
        if abs(target - stroke) < 0.1:
            break
        radius += (target - stroke) / 2 * SUPERSAMPLE
        adjusted = _dilate(fine, radius)
        stroke = stroke_width(adjusted) / SUPERSAMPLE
    return adjusted


def stroke_width(image: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the ink's area over its outline's length.

    For a soft image the total variation is the outline's length, so this needs no binarising.
    """
    padded = np.pad(image.astype(np.float64), 1)  # so that ink touching the edge has an outline there
    across, down = np.diff(padded, axis=1)[:-1], np.diff(padded, axis=0)[:, :-1]
    outline = np.sqrt(across**2 + down**2).sum()
    return float(2 * image.sum() / outline) if outline > 0 else 0.0


def _dilate(image: np.ndarray, radius: float) -> np.ndarray:
    """Grey dilation by a disc (erosion for a negative radius): strokes grow evenly in every direction.

    A fractional radius blends the two whole-pixel results, so small changes in width are not lost.
    """
    whole, fraction = divmod(abs(radius), 1.0)
    inner = _dilate_whole(image, int(whole), radius > 0)
    if fraction == 0:
        return inner
    return inner + fraction * (_dilate_whole(image, int(whole) + 1, radius > 0) - inner)


def _dilate_whole(image: np.ndarray, reach: int, grow: bool) -> np.ndarray:
    if reach == 0:
        return image
    pick = np.maximum if grow else np.minimum
    padded = np.pad(image, reach)
    height, width = image.shape
    result = image
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dy * dy + dx * dx <= reach * reach:
                result = pick(
                    result, padded[reach + dy : reach + dy + height, reach + dx : reach + dx + width]
                )
    return result


def _average_down(image: np.ndarray, factor: int) -> np.ndarray:
    height, width = image.shape[0] // factor, image.shape[1] // factor
    return image.reshape(height, factor, width, factor).mean(axis=(1, 3), dtype=np.float32)


def _as_image(values: np.ndarray) -> Image.Image:
    """A float32 ("F") image, which Pillow resizes without rounding to 8 bits."""
    return Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    row = float((image.sum(axis=1) * np.arange(image.shape[0])).sum() / total)
    col = float((image.sum(axis=0) * np.arange(image.shape[1])).sum() / total)
    return row, col
