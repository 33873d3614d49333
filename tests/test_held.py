"""What Python users hold (paths, bytes, PIL images, numpy arrays) in the MNIST form: names, batches,
dtypes, polarity and the one-line errors. No model is run here."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from digitnet.data.held import held_inputs, held_to_mnist
from digitnet.data.preprocess import ImageError, to_mnist

pytestmark = pytest.mark.reader


def _page() -> np.ndarray:
    """A dark bar (a 1) on white, 90x60: not MNIST-sized, not MNIST's polarity."""
    pixels = np.full((90, 60), 250, np.uint8)
    pixels[15:75, 26:34] = 10
    return pixels


def test_names_come_from_paths_files_and_places(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(_page()).save(path)
    named = held_inputs([str(path), path, Image.open(path), Image.fromarray(_page()), _page(), b"png"])
    assert [name for name, _ in named] == [
        str(path),
        str(path),
        str(path),
        "<image 3>",
        "<array 4>",
        "<bytes 5>",
    ]


@pytest.mark.parametrize(
    "inputs, count",
    [
        (np.zeros((28, 28)), 1),  # one grey image
        (np.zeros((28, 28, 1)), 1),
        (np.zeros((28, 28, 3), np.uint8), 1),  # one RGB image
        (np.zeros((5, 28, 28)), 5),  # a batch, e.g. MNIST's x_test[:5]
        (np.zeros((5, 28, 28, 1)), 5),
        ([np.zeros((2, 28, 28)), np.zeros((10, 10))], 3),
        ("one.png", 1),
    ],
)
def test_one_item_or_many_and_batches_split_image_by_image(inputs, count):
    named = held_inputs(inputs)
    assert len(named) == count
    if isinstance(inputs, np.ndarray):
        assert [name for name, _ in named] == [f"<array {index}>" for index in range(count)]


def test_every_dtype_and_polarity_reads_as_the_same_digit():
    reference = to_mnist(Image.fromarray(_page()))
    page = _page()
    variants = {
        "uint8": page,
        "inverted uint8": 255 - page,
        "float 0..1": page / 255.0,
        "inverted float32": (255 - page).astype(np.float32) / 255,
        "float 0..255": page.astype(np.float64),
        "int64": page.astype(np.int64),
        "uint16": page.astype(np.uint16) * 257,
        "rgb": np.repeat(page[..., None], 3, axis=2),
        "rgba": np.dstack([np.repeat(page[..., None], 3, axis=2), np.full(page.shape, 255, np.uint8)]),
        "bool ink": page < 128,
        "pil": Image.fromarray(page),
    }
    for label, item in variants.items():
        image = held_to_mnist(item, label)
        assert image.shape == (28, 28) and image.dtype == np.float32, label
        assert np.abs(image - reference).max() < 0.05, label  # the same 1, centred the same way


def test_an_mnist_form_array_passes_through_unchanged():
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 12:16] = 1.0
    assert np.array_equal(held_to_mnist(digit, "x"), digit)


def test_bytes_read_as_a_file_would_be():
    buffer = io.BytesIO()
    Image.fromarray(_page()).save(buffer, format="PNG")
    assert np.array_equal(held_to_mnist(buffer.getvalue(), "b"), to_mnist(Image.fromarray(_page())))


@pytest.mark.parametrize(
    "item, words",
    [
        (np.full((10, 10), np.nan), "NaN"),
        (np.full((10, 10), -0.5), "negative"),
        (np.zeros((0, 10)), "no pixels"),
        (np.zeros((4, 4, 2)), "not one image"),
        (np.zeros(3), "not one image"),
        (np.array([["a"]]), "not an image"),
        (object(), "cannot read"),
        ("/no/such/file.png", "no such file"),
    ],
)
def test_bad_items_are_one_line_naming_them(item, words):
    with pytest.raises(ImageError) as caught:
        held_to_mnist(item, "<array 7>" if not isinstance(item, str) else item)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert message.startswith(item if isinstance(item, str) else "<array 7>")
