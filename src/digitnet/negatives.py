"""Images that are not digits, for teaching and measuring "not a digit".

Every kind is rendered the way a user would supply it and then passed through the same
preprocessing as `digitnet predict`, so the detector learns what it will really see.
Kinds: Fashion-MNIST photos of clothes, uniform noise, random scribbles, and two MNIST
digits side by side. (A blank page needs no model: preprocessing finds no ink.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FASHION_HINT = "install it with `apt-get install dataset-fashion-mnist` or set DIGITNET_FASHION_DIR"


class NegativesError(Exception):
    """A source of negative examples is missing; the message says how to get it."""


def fashion_dir() -> Path:
    return Path(os.environ.get("DIGITNET_FASHION_DIR", FASHION_DIR))


def load_fashion(split: str) -> np.ndarray:
    """Fashion-MNIST images, uint8 (N, 28, 28); split is "train" or "test"."""
    from digitnet.data import DataError, mnist_file_path, read_idx_images

    prefix = {"train": "train", "test": "t10k"}[split]
    path = mnist_file_path(fashion_dir(), f"{prefix}-images-idx3-ubyte")
    if path is None:
        raise NegativesError(f"Fashion-MNIST not found in {fashion_dir()}; {FASHION_HINT}")
    try:
        return read_idx_images(path)
    except DataError as error:
        raise NegativesError(str(error)) from error


def _preprocess(pixels_u8: np.ndarray) -> np.ndarray:
    from PIL import Image

    from digitnet.preprocess import to_mnist

    return to_mnist(Image.fromarray(pixels_u8.astype(np.uint8), mode="L"))


def uniform_noise(rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(28, 200))
    return rng.integers(0, 256, (side, side), dtype=np.uint8)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """Random strokes, dark ink on white, like someone testing the pen."""
    from PIL import Image, ImageDraw

    side = int(rng.integers(64, 256))
    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        points = [tuple(int(v) for v in rng.integers(0, side, 2)) for _ in range(int(rng.integers(3, 12)))]
        draw.line(points, fill=0, width=int(rng.integers(max(2, side // 40), max(3, side // 12))),
                  joint="curve")
    return np.asarray(image)


def two_digits(digits_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two random digits side by side, a few pixels apart or touching."""
    first, second = digits_u8[rng.integers(0, len(digits_u8), 2)]
    gap = int(rng.integers(-4, 9))
    canvas = np.zeros((28, 56 + gap), np.uint8)
    canvas[:, :28] = first
    canvas[:, 28 + gap:56 + gap] = np.maximum(canvas[:, 28 + gap:56 + gap], second)
    return canvas


def negative_images(kind: str, count: int, rng: np.random.Generator,
                    digits_u8: np.ndarray | None = None, fashion_u8: np.ndarray | None = None) -> np.ndarray:
    """`count` preprocessed negatives of one kind: float32 (count, 28, 28)."""
    if kind == "fashion":
        chosen = fashion_u8[rng.choice(len(fashion_u8), count, replace=count > len(fashion_u8))]
        return np.stack([_preprocess(image) for image in chosen])
    makers = {"noise": lambda: uniform_noise(rng), "scribble": lambda: scribble(rng),
              "two_digits": lambda: two_digits(digits_u8, rng)}
    return np.stack([_preprocess(makers[kind]()) for _ in range(count)])
