"""The images a user names for `digitnet predict`: files, folders and standard input, read into the
MNIST form.

    expand_inputs(["a.png", "scans/", "-"])  files as given, folders as every image inside, "-" as stdin
    read_inputs(names)                       each read by preprocess.image_to_mnist; a bad one is a
                                             problem line, and the rest are still read
    write_model_input(image, folder, name)   the 28x28 image the model saw, as a PNG (--show-input)

Nothing here prints: problems come back as lines for the caller to show. Pillow is imported only
when an image is read, so the CLI's parser can name IMAGE_SUFFIXES at no cost.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitnet.shapes import IMAGE_SIDE, INPUT_SHAPE
from digitnet.util.fileio import atomic_write_bytes

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
STDIN = "-"


def expand_inputs(names: list[str]) -> list[str]:
    """Files as given, folders as every image inside (sorted), "-" as standard input."""
    inputs = []
    for name in names:
        path = Path(name)
        if name != STDIN and path.is_dir():
            inputs += [
                str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ]
        else:
            inputs.append(name)
    return inputs


def read_input(name: str) -> np.ndarray:
    """One named input in the MNIST form, float32 (28, 28); ImageError (or OSError) if it cannot be."""
    from digitnet.data.preprocess import ImageError, image_to_mnist

    if name == STDIN:
        if getattr(sys.stdin, "buffer", None) is None:  # started with standard input closed
            raise ImageError("-: standard input is closed; pipe an image into it or name a file")
        return image_to_mnist(sys.stdin.buffer.read(), name="standard input")
    path = Path(name)
    if not path.exists():
        raise ImageError(f"{name}: no such file")
    return image_to_mnist(path, name=name)


@dataclass
class ReadInputs:
    names: list[str] = field(default_factory=list)  # the inputs read, in order
    images: list[np.ndarray] = field(default_factory=list)  # float32 (28, 28) each
    problems: list[str] = field(default_factory=list)  # one line per input that could not be read

    def batch(self) -> np.ndarray:
        """The images as one float32 (N, 28, 28, 1) batch."""
        if not self.images:
            return np.zeros((0, *INPUT_SHAPE), np.float32)
        return np.stack(self.images)[..., np.newaxis]


def read_inputs(names: list[str]) -> ReadInputs:
    """Every input read; one that cannot be is a problem line and the others are still read."""
    from digitnet.data.preprocess import ImageError

    read = ReadInputs()
    for name in names:
        try:
            image = read_input(name)
        except (ImageError, OSError) as error:
            read.problems.append(str(error))
            continue
        read.names.append(name)
        read.images.append(image)
    return read


def mnist_png(image: np.ndarray) -> bytes:
    """An MNIST-form image (28x28 values in [0, 1], white ink on black) as PNG bytes."""
    from PIL import Image

    pixels = np.clip(np.asarray(image, dtype=np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE), 0.0, 1.0)
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_model_input(image: np.ndarray, folder: Path, name: str) -> Path:
    """FOLDER/<input's stem>.png ("stdin.png" for standard input): what the model saw."""
    stem = "stdin" if name == STDIN else Path(name).stem
    path = Path(folder) / f"{stem}.png"
    atomic_write_bytes(path, mnist_png(image))
    return path
