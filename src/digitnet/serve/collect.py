"""Digits people correct on the drawing page ("wrong? it was 3"), kept as examples to fine-tune on.

Each is the 28x28 image the model saw, saved as DIR/<UTC time>-<random id>_<label>.png: the name
`digitnet finetune DIR` reads the label from. Files are written whole or not at all (temp + rename);
a lock makes counting and writing one step, so concurrent requests cannot pass the cap together.
"""

from __future__ import annotations

import errno
import io
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from digitnet.serve.errors import RequestError, ServeError
from digitnet.serve.tensors import PIXELS, SIDE, describe, nested_numbers, pixels
from digitnet.util.fileio import atomic_write_bytes

MAX_EXAMPLES = 10_000  # files kept in the folder: far more than one writer's fine-tuning needs
MAX_BYTES = 50 * 1024 * 1024  # and bytes (a 28x28 PNG is ~300 bytes, so the count binds first)
IMAGE_SHAPES = ((SIDE, SIDE), (PIXELS,), (SIDE, SIDE, 1))
FULL = 507  # Insufficient Storage: the client did nothing wrong, the folder is full


def parse_example(body: Any) -> tuple[np.ndarray, int]:
    """{"image": 28x28 (or 784) pixels in [0, 1], "label": 0-9} -> (float32 (28, 28), label)."""
    if not isinstance(body, dict):
        raise RequestError(
            f'send a JSON object {{"image": [[...28x28 pixels...]], "label": 0-9}}, got {describe(body)}'
        )
    if "image" not in body or "label" not in body:
        missing = " and ".join(f'"{key}"' for key in ("image", "label") if key not in body)
        raise RequestError(f'{missing} missing; send {{"image": 28x28 pixels in [0, 1], "label": 0-9}}')
    label = body["label"]
    if type(label) is not int or not 0 <= label <= 9:  # type(), so true/false are refused
        raise RequestError(f'"label" must be a whole number 0-9, got {describe(label)} {str(label)[:20]}')
    numbers, shape = nested_numbers(body["image"], '"image"')
    if shape not in IMAGE_SHAPES:
        raise RequestError(
            f'"image" has shape {list(shape)}; send 28x28 rows (or 784 numbers), '
            "the model input the page shows"
        )
    image = pixels(numbers, '"image"').reshape(SIDE, SIDE)
    if not np.any(image > 0):
        raise RequestError('"image" is blank; draw a digit before saying what it was')
    return image, label


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def example_name(label: int, now: datetime | None = None) -> str:
    """<UTC time>-<8 hex>_<label>.png: sorts by time, never collides, ends in finetune's label."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}_{label}.png"


class ExampleStore:
    """The --collect folder: saves labelled examples up to a cap on files and bytes."""

    def __init__(self, directory: Path, *, max_examples: int = MAX_EXAMPLES, max_bytes: int = MAX_BYTES):
        self.directory = Path(directory)
        self.max_examples = max_examples
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServeError(
                f"cannot use {self.directory} for --collect ({error.strerror or error}); "
                "pass a folder this user can write"
            ) from None
        if not self.directory.is_dir():
            raise ServeError(f"{self.directory} is not a folder; pass a folder for --collect")

    def usage(self) -> tuple[int, int]:
        """(examples, bytes) in the folder now; counted afresh, so files moved away free room."""
        count = size = 0
        for entry in self.directory.iterdir():
            if entry.suffix == ".png" and not entry.name.startswith(".") and entry.is_file():
                count += 1
                size += entry.stat().st_size
        return count, size

    def save(self, image: np.ndarray, label: int) -> tuple[str, int]:
        """Write one example; (its file name, examples now in the folder). RequestError 507 when full."""
        data = png_bytes(image)
        name = example_name(label)
        with self._lock:
            count, size = self.usage()
            if count >= self.max_examples or size + len(data) > self.max_bytes:
                raise RequestError(
                    f"the collection is full ({count:,} examples, {size / 1e6:.1f} MB; the most kept is "
                    f"{self.max_examples:,} or {self.max_bytes / 1e6:.0f} MB); fine-tune on them and "
                    "move them out of the --collect folder to collect more",
                    status=FULL,
                )
            try:
                atomic_write_bytes(self.directory / name, data)
            except OSError as error:
                if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise  # a server fault: logged, answered 500
                raise RequestError(
                    "the server's disk is full; the example was not saved", status=FULL
                ) from None
            return name, count + 1
