"""Users' images -> MNIST form: polarity, centring, size, modes, formats, refusals, and real digits."""

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from digitnet.data.preprocess import (
    MNIST_STROKE_RANGE,
    ImageError,
    has_no_ink,
    image_to_mnist,
    load_image,
    stroke_width,
    to_mnist,
)

# ---------------------------------------------------------------- helpers


def _seven(size=(120, 120), box=(30, 20, 90, 100), stroke=8, ink=0, paper=255, mode="L") -> Image.Image:
    """A '7' (asymmetric, so a flip or a misplaced crop shows) drawn in `box` = (left, top, right, bottom)."""
    image = Image.new(mode, size, paper)
    left, top, right, bottom = box
    draw = ImageDraw.Draw(image)
    draw.line(
        [(left, top), (right, top), (left + (right - left) // 3, bottom)],
        fill=ink,
        width=stroke,
        joint="curve",
    )
    return image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _ink_box(mnist: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(mnist > 0)
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


def _centre_of_mass(mnist: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[0:28, 0:28]
    return np.array([(mnist * rows).sum(), (mnist * cols).sum()]) / mnist.sum()


def _assert_mnist_form(mnist: np.ndarray) -> None:
    assert mnist.shape == (28, 28) and mnist.dtype == np.float32
    assert mnist.min() >= 0.0 and mnist.max() == pytest.approx(1.0)
    assert max(_ink_box(mnist)) <= 20
    assert np.abs(_centre_of_mass(mnist) - 14.0).max() <= 1.0


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height and whose pixel data is garbage."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"not zlib data") + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The '7' in MNIST form, from the plainest input: black on white, 8-bit grayscale."""
    return to_mnist(_seven())


# ---------------------------------------------------------------- polarity, placement, size


def test_dark_ink_on_light_paper_is_inverted(reference):
    _assert_mnist_form(reference)
    assert reference[0, 0] == 0.0 and reference[:, :3].max() == 0.0  # background is black
    assert (reference > 0.5).sum() > 20  # the ink is bright


def test_light_ink_on_dark_is_not_inverted(reference):
    bright = to_mnist(_seven(ink=255, paper=0))
    np.testing.assert_allclose(bright, reference, atol=1e-6)


def test_an_mnist_form_image_passes_through_unchanged(reference):
    pixels = np.uint8(np.round(reference * 255))
    out = to_mnist(Image.fromarray(pixels))
    np.testing.assert_array_equal(out, pixels.astype(np.float32) / np.float32(255))


def test_a_28x28_digit_off_centre_on_black_is_centred():
    image = _seven(size=(28, 28), box=(1, 1, 12, 14), stroke=2, ink=255, paper=0)
    _assert_mnist_form(to_mnist(image))


def test_small_off_centre_digit_on_a_big_canvas_is_scaled_to_20_and_centred(reference):
    image = _seven(size=(400, 300), box=(300, 200, 330, 240), stroke=4)  # the reference, halved
    out = to_mnist(image)
    _assert_mnist_form(out)
    assert max(_ink_box(out)) >= 19  # scaled up to fill the 20x20 box, not just pasted
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.8


def test_aspect_ratio_is_kept():
    tall = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(tall).line([(100, 20), (100, 180)], fill=0, width=14)  # a '1': 160 tall, 14 wide
    height, width = _ink_box(to_mnist(tall))
    assert height == 20 and 1 <= width <= 5
    wide = to_mnist(tall.transpose(Image.Transpose.ROTATE_90))
    assert _ink_box(wide) == (width, height)


def test_specks_do_not_move_or_shrink_the_digit(reference):
    image = _seven()
    draw = ImageDraw.Draw(image)
    for x, y in [(3, 3), (110, 5), (5, 112), (112, 110), (60, 112)]:
        draw.rectangle((x, y, x + 1, y + 1), fill=0)  # dust: 2x2 dots far from the digit
    np.testing.assert_allclose(to_mnist(image), reference, atol=1e-6)


def test_uneven_lighting_and_noise_are_not_ink(reference):
    rng = np.random.default_rng(0)
    paper = np.linspace(0.95, 0.55, 120)[None, :] * np.ones((120, 1))  # a shadow across the page
    paper[:, :30] *= 0.85  # and a darker band along one side
    ink = np.asarray(_seven(ink=255, paper=0), np.float32) / 255
    pixels = paper * (1 - ink) + 0.15 * ink + rng.normal(0, 0.02, paper.shape)
    jpeg = _encode(Image.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255)), "JPEG", quality=70)
    out = image_to_mnist(jpeg)
    _assert_mnist_form(out)
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.9
    far = np.ones((28, 28), bool)
    rows, cols = np.nonzero(reference > 0)
    far[max(rows.min() - 2, 0) : rows.max() + 3, max(cols.min() - 2, 0) : cols.max() + 3] = False
    assert out[far].max() == 0.0  # nothing of the paper survives away from the digit


@pytest.mark.parametrize("stroke", [1, 40])
def test_hairline_and_marker_strokes_come_out_as_wide_as_mnist(stroke):
    image = _seven(size=(400, 400), box=(80, 50, 320, 350), stroke=stroke)
    width = stroke_width(to_mnist(image))
    low, high = MNIST_STROKE_RANGE
    assert low - 0.35 <= width <= high + 0.35


# ---------------------------------------------------------------- modes and formats


def _as_mode(mode: str) -> Image.Image:
    image = _seven()
    if mode == "I;16":
        return Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    if mode == "RGBA-transparent":  # black ink on a transparent page, as paint programs export it
        rgba = Image.new("RGBA", image.size, (0, 0, 0, 0))
        rgba.putalpha(Image.eval(image, lambda value: 255 - value))
        return rgba
    if mode == "LA-transparent":
        return Image.merge(
            "LA", [Image.new("L", image.size, 0), Image.eval(image, lambda value: 255 - value)]
        )
    if mode == "F-unit":  # float TIFFs usually hold 0..1
        return Image.fromarray(np.asarray(image, np.float32) / 255)
    if mode == "P-transparent":
        palette = image.convert("P")
        palette.info["transparency"] = palette.getpixel((0, 0))  # the page's colour is transparent
        return palette
    if mode == "RGB-blue-ink":
        return Image.merge("RGB", [image, image, Image.new("L", image.size, 255)])
    return image.convert(mode)


@pytest.mark.parametrize(
    "mode",
    [
        "1",
        "P",
        "RGB",
        "RGBA",
        "LA",
        "CMYK",
        "YCbCr",
        "I",
        "F",
        "F-unit",
        "I;16",
        "RGBA-transparent",
        "LA-transparent",
        "P-transparent",
        "RGB-blue-ink",
    ],
)
def test_every_image_mode_gives_the_same_digit(mode, reference):
    np.testing.assert_allclose(to_mnist(_as_mode(mode)), reference, atol=1e-6)


def test_big_endian_16_bit_images_are_read_correctly(reference):
    values = np.asarray(_seven()).astype(np.uint16) * 257
    image = Image.frombytes("I;16B", (120, 120), values.astype(">u2").tobytes())
    np.testing.assert_allclose(to_mnist(image), reference, atol=1e-6)


def test_a_big_noisy_jpeg_photo_works(reference):
    rng = np.random.default_rng(1)
    ink = (
        np.asarray(
            _seven(size=(1600, 1200), box=(900, 300, 1350, 900), stroke=60, ink=255, paper=0), np.float32
        )
        / 255
    )  # the reference, 7.5 times larger
    pixels = 0.85 - 0.7 * ink + rng.normal(0, 0.03, ink.shape)
    jpeg = _encode(Image.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255)), "JPEG", quality=60)
    out = image_to_mnist(jpeg)
    _assert_mnist_form(out)
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.9


@pytest.mark.parametrize(
    "fmt, options",
    [
        ("PNG", {}),
        ("BMP", {}),
        ("GIF", {}),
        ("TIFF", {}),
        ("WEBP", {"lossless": True}),
        ("JPEG", {"quality": 95}),
    ],
)
def test_formats_round_trip(fmt, options, reference):
    loaded = load_image(_encode(_seven(), fmt, **options))
    assert loaded.size == (120, 120)
    tolerance = 0.15 if fmt == "JPEG" else 1e-6
    np.testing.assert_allclose(to_mnist(loaded), reference, atol=tolerance)


def test_an_animated_gif_is_read_from_its_first_frame(reference):
    frames = [_seven().convert("P"), Image.new("P", (120, 120), 255)]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    np.testing.assert_allclose(image_to_mnist(data), reference, atol=1e-6)


def test_paths_load_and_phone_photos_are_turned_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: stored sideways, to be turned 90 degrees clockwise
    path = tmp_path / "photo.jpg"
    _seven(size=(160, 120)).save(path, "JPEG", exif=exif)
    assert load_image(path).size == (120, 160)
    assert load_image(str(path)).size == (120, 160)


# ---------------------------------------------------------------- blank images


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("L", (100, 100), 255),
        lambda: Image.new("L", (28, 28), 0),
        lambda: Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
        lambda: Image.fromarray(np.uint8(np.linspace(250, 120, 200)[None, :] * np.ones((150, 1)))),
        lambda: Image.open(
            io.BytesIO(
                _encode(
                    Image.fromarray(
                        np.uint8(np.clip(np.random.default_rng(2).normal(215, 6, (240, 320)), 0, 255))
                    ),
                    "JPEG",
                    quality=60,
                )
            )
        ),
    ],
    ids=["white", "black-28", "transparent", "gradient", "noisy-paper-jpeg"],
)
def test_a_blank_image_gives_zeros(make):
    out = to_mnist(make())
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert not out.any() and has_no_ink(out)


def _tight_zero(blur: float) -> Image.Image:
    """A thick '0' blown up from a 20-pixel scan, cropped at its ink: ink covers about half the image."""
    small = Image.new("L", (14, 20), 255)
    ImageDraw.Draw(small).ellipse((0, 0, 13, 19), outline=0, width=4)
    return small.resize((140, 200), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(blur))


@pytest.mark.parametrize("blur", [0, 3])
def test_a_crop_tight_around_a_thick_blown_up_digit_keeps_its_ink(blur):
    # The median pixel of such a crop is ink: taken for the background, it hid the whole digit.
    image = _tight_zero(blur)
    assert np.mean(np.asarray(image) < 128) > 0.4
    out = to_mnist(image)
    _assert_mnist_form(out)
    assert out[14, 14] < 0.1 and out[14, 14:].max() > 0.9  # a ring: hollow middle, ink to its right
    np.testing.assert_allclose(to_mnist(ImageOps.invert(image)), out, atol=1e-5)  # either polarity alike


def test_has_no_ink_sees_any_ink(reference):
    assert not has_no_ink(reference)
    single = np.zeros((28, 28), np.float32)
    single[14, 14] = 0.01
    assert not has_no_ink(single)


# ---------------------------------------------------------------- refusals


def _refusal(source, **options) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(source, **options)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def test_empty_data_is_refused(tmp_path):
    assert "empty" in _refusal(b"", name="upload.png")
    assert "upload.png" in _refusal(b"", name="upload.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert str(empty) in _refusal(empty)


def test_data_that_is_not_an_image_is_refused(tmp_path):
    message = _refusal(b"digit: 7\n", name="notes.txt")
    assert "notes.txt" in message and "not a PNG" in message
    svg = tmp_path / "seven.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert str(svg) in _refusal(svg)


def test_a_missing_file_is_refused(tmp_path):
    assert "nothing.png" in _refusal(tmp_path / "nothing.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(fmt, tmp_path):
    noise = Image.fromarray(np.random.default_rng(3).integers(0, 256, (200, 200), dtype=np.uint8))
    data = _encode(noise, fmt)
    message = _refusal(data[: len(data) // 2], name="cut." + fmt.lower())
    assert "cut." + fmt.lower() in message and "truncated" in message
    path = tmp_path / "cut.bin"
    path.write_bytes(data[: len(data) // 2])
    assert str(path) in _refusal(path)


def test_images_over_max_pixels_are_refused():
    data = _encode(_seven(), "PNG")
    assert "too large" in _refusal(data, max_pixels=100 * 100)
    assert load_image(data, max_pixels=120 * 120).size == (120, 120)


def test_a_header_claiming_huge_dimensions_is_refused_before_decoding():
    # The pixel data is garbage: had it been decoded, the error would say so, not "too large".
    assert "7000x7000" in _refusal(_png_header_only(7000, 7000))  # over MAX_PIXELS: our own check
    assert "too large" in _refusal(_png_header_only(100_000, 100_000))  # over Pillow's limit too


def test_pillows_bomb_warning_becomes_an_error_and_is_not_shown():
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        message = _refusal(_png_header_only(10_000, 10_000), max_pixels=10**9)  # between Pillow's limits
    assert "too large" in message
    assert not [warning for warning in shown if issubclass(warning.category, Image.DecompressionBombWarning)]


def test_image_to_mnist_names_the_input_in_its_errors():
    with pytest.raises(ImageError, match="drawing.png"):
        image_to_mnist(b"GIF89a", name="drawing.png")


# ---------------------------------------------------------------- real digits (slow)


def as_users_send_it(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 28x28 MNIST digit as a user would send it: dark ink on a photographed page, as a JPEG.

    Larger canvas (64..300 px), the digit 1..3 times MNIST's size and off-centre, the stroke up to
    half a pixel (in MNIST's pixels) thinner or thicker on each side, paper with a lighting gradient,
    grain and fibres, a slight blur and JPEG quality 60..90.
    """
    side = int(rng.integers(64, 301))
    size = max(28, int(side * rng.uniform(0.35, 0.9)))
    pen = Image.fromarray(np.uint8(np.round(digit * 255))).resize((size, size), Image.Resampling.BICUBIC)
    growth = rng.uniform(-0.5, 0.5) * size / 28  # in pixels of the canvas, per side of the stroke
    radius = int(round(abs(growth)))
    if radius:
        rank_filter = ImageFilter.MaxFilter if growth > 0 else ImageFilter.MinFilter
        pen = pen.filter(rank_filter(2 * radius + 1))
    ink = np.zeros((side, side), np.float32)
    top, left = rng.integers(0, side - size + 1, 2)
    ink[top : top + size, left : left + size] = np.asarray(pen, np.float32) / 255
    rows, cols = np.mgrid[0:side, 0:side] / side
    angle = rng.uniform(0, 2 * np.pi)
    lighting = rng.uniform(0, 0.2) * (np.cos(angle) * cols + np.sin(angle) * rows - 0.5)
    paper = rng.uniform(0.7, 0.95) + lighting + rng.normal(0, rng.uniform(0.005, 0.03), (side, side))
    fibres = Image.fromarray(rng.normal(0, 1, (side // 4 + 1, side // 4 + 1)).astype(np.float32))
    paper += 0.02 * np.asarray(fibres.resize((side, side), Image.Resampling.BICUBIC))
    pixels = paper * (1 - ink) + rng.uniform(0.05, 0.3) * ink
    photo = Image.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255))
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))
    return _encode(photo, "JPEG", quality=int(rng.integers(60, 91)))


@pytest.mark.slow
def test_mnist_test_digits_pass_through_unchanged(real_mnist):
    digits = real_mnist.test.images[:500, :, :, 0]
    identical = sum(
        np.array_equal(to_mnist(Image.fromarray(np.uint8(np.round(digit * 255)))), digit) for digit in digits
    )
    print(f"\n{identical} of {len(digits)} MNIST test digits pass through unchanged")
    assert identical >= 0.99 * len(digits)


@pytest.mark.slow
def test_digits_as_users_send_them_read_as_well_as_the_originals(real_mnist, real_model_dir):
    from digitnet.reading.predict import Predictor

    count = 2000  # 500 would leave about one percentage point of noise in the comparison
    digits, labels = real_mnist.test.images[:count], real_mnist.test.labels[:count]
    rng = np.random.default_rng(2024)
    photos = [as_users_send_it(digit[:, :, 0], rng) for digit in digits]
    prepared = np.stack([image_to_mnist(photo) for photo in photos])[..., np.newaxis]
    predictor = Predictor(real_model_dir)
    original = np.mean([p.digit for p in predictor.predict(digits)] == labels)
    rerendered = np.mean([p.digit for p in predictor.predict(prepared)] == labels)
    print(
        f"\naccuracy on {count} MNIST test digits: {original:.2%} as they are, "
        f"{rerendered:.2%} as users would send them, after preprocessing"
    )
    assert rerendered >= original - 0.01
