"""Each plot writes a whole PNG of the documented pixel size, atomically."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from digitnet.jobs.plots import (
    plot_augment_preview,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_misclassified,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the signature."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    length, chunk_type = struct.unpack(">I4s", data[8:16])
    assert chunk_type == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", f"{path} is truncated"
    return width, height


def only_file_in(folder: Path) -> Path:
    files = list(folder.iterdir())
    assert len(files) == 1, f"leftovers beside the plot: {files}"
    return files[0]


def digit_set(size: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.random((size, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, size)
    return images, labels


def test_confusion_matrix_png(tmp_path):
    confusion = np.diag(np.full(10, 95)) + np.eye(10, k=1, dtype=int) * 5
    written = plot_confusion_matrix(confusion.tolist(), tmp_path / "confusion.png")
    assert written == tmp_path / "confusion.png" == only_file_in(tmp_path)
    assert png_size(written) == (700, 600)


def test_confusion_matrix_rejects_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="10x10"):
        plot_confusion_matrix(np.zeros((9, 10)), tmp_path / "confusion.png")
    assert not any(tmp_path.iterdir())


def test_misclassified_png(tmp_path):
    images, labels = digit_set()
    predicted = labels.copy()
    predicted[[1, 4, 7]] = (labels[[1, 4, 7]] + 1) % 10
    confidence = np.full(len(labels), 0.93)
    written = plot_misclassified(images, labels, predicted, confidence, tmp_path / "wrong.png")
    assert written == only_file_in(tmp_path)
    assert png_size(written) == (1000, 1100)


def test_misclassified_caps_the_count_and_accepts_3d_images(tmp_path):
    images, labels = digit_set(size=150)
    predicted = (labels + 1) % 10  # all wrong
    written = plot_misclassified(
        images[..., 0], labels, predicted, np.ones(150), tmp_path / "wrong.png", max_images=100
    )
    assert png_size(written) == (1000, 1100)


def test_misclassified_with_no_mistakes_still_writes_a_png(tmp_path):
    images, labels = digit_set()
    written = plot_misclassified(images, labels, labels, np.ones(len(labels)), tmp_path / "wrong.png")
    assert written == only_file_in(tmp_path)
    assert png_size(written) == (1000, 1100)


def test_misclassified_rejects_mismatched_lengths(tmp_path):
    images, labels = digit_set()
    with pytest.raises(ValueError, match="length N"):
        plot_misclassified(images, labels[:-1], labels[:-1], np.ones(len(labels) - 1), tmp_path / "w.png")


HISTORY = [
    {
        "epoch": 1.0,
        "batch_loss": 0.9,
        "train_loss": 0.5,
        "train_accuracy": 0.85,
        "validation_loss": 0.55,
        "validation_accuracy": 0.84,
    },
    {
        "epoch": 2.0,
        "batch_loss": 0.4,
        "train_loss": 0.3,
        "train_accuracy": 0.91,
        "validation_loss": 0.33,
        "validation_accuracy": 0.90,
    },
    {
        "epoch": 3.0,
        "batch_loss": 0.25,
        "train_loss": 0.2,
        "train_accuracy": 0.94,
        "validation_loss": 0.24,
        "validation_accuracy": 0.93,
    },
]


def test_learning_curves_png(tmp_path):
    written = plot_learning_curves(HISTORY, tmp_path / "curves.png")
    assert written == only_file_in(tmp_path)
    assert png_size(written) == (1200, 500)


def test_learning_curves_overwrites_in_place(tmp_path):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    plot_learning_curves(HISTORY, path)
    assert png_size(only_file_in(tmp_path)) == (1200, 500)


@pytest.mark.parametrize("history, words", [([], "no epochs"), ([{"epoch": 1.0}], "train_loss")])
def test_learning_curves_reject_bad_history(tmp_path, history, words):
    with pytest.raises(ValueError, match=words):
        plot_learning_curves(history, tmp_path / "curves.png")


def test_augment_preview_is_a_png_of_the_documented_size(tmp_path):
    grid = np.zeros((3 * 28, 5 * 28), np.float32)
    path = plot_augment_preview(grid, tmp_path / "preview.png", copies=4)
    assert path == only_file_in(tmp_path)
    assert png_size(path) == (800, 900)
