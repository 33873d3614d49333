"""PNG figures of a run: confusion matrix, misclassified digits, learning curves.

Each function renders at a fixed size and dpi (so the PNG's pixel size is known in advance),
writes the file atomically and returns its path. matplotlib is imported only when a plot is
drawn, so importing this module costs nothing and needs no display.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np

from digitnet.shapes import IMAGE_SIDE, NUM_CLASSES
from digitnet.util.fileio import atomic_write_bytes

DPI = 100
CONFUSION_SIZE = (7.0, 6.0)  # inches: 700 x 600 pixels
MISCLASSIFIED_SIZE = (10.0, 11.0)  # inches: 1000 x 1100 pixels
LEARNING_CURVES_SIZE = (12.0, 5.0)  # inches: 1200 x 500 pixels


def _new_figure(size: tuple[float, float], layout: str | None = "constrained"):
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "plots need matplotlib; install it with `.venv/bin/pip install matplotlib`"
        ) from error
    if "matplotlib.pyplot" not in sys.modules:  # never switch an interactive session's backend
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # A bare Figure, not pyplot: no global figure registry to leak or close.
    return Figure(figsize=size, dpi=DPI, layout=layout)


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # no bbox_inches="tight": that would change the size
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_confusion_matrix(confusion, path: Path, title: str = "Confusion matrix (test set)") -> Path:
    """Heatmap of counts[true][predicted] with each count written in its cell.

    Writes a 700 x 600 pixel PNG (7 x 6 inches at 100 dpi).
    """
    counts = np.asarray(confusion)
    if counts.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(
            f"confusion matrix must be {NUM_CLASSES}x{NUM_CLASSES} [true][predicted]; "
            f"got shape {counts.shape}"
        )
    figure = _new_figure(CONFUSION_SIZE)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, label="images")
    threshold = counts.max() / 2 if counts.max() > 0 else 1
    for true in range(NUM_CLASSES):
        for predicted in range(NUM_CLASSES):
            value = int(counts[true, predicted])
            colour = "white" if value > threshold else ("black" if value else "0.6")
            axes.text(predicted, true, str(value), ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(NUM_CLASSES))
    axes.set_yticks(range(NUM_CLASSES))
    axes.set_xlabel("predicted digit")
    axes.set_ylabel("true digit")
    total = int(counts.sum())
    correct = int(np.trace(counts))
    subtitle = f"{correct} of {total} correct ({correct / total:.2%})" if total else "no images"
    axes.set_title(f"{title}\n{subtitle}")
    return _save(figure, path)


def plot_misclassified(
    images,
    labels,
    predicted,
    confidence,
    path: Path,
    max_images: int = 100,
    title: str = "Misclassified digits",
) -> Path:
    """Grid of the images whose prediction differs from the label, in their original order.

    images: (N, 28, 28, 1) or (N, 28, 28) floats in [0, 1]; confidence: (N,) the probability given
    to the predicted class, in [0, 1]. Each digit is captioned "true → predicted (confidence%)".
    The title adds how many were misclassified of how many. At most `max_images` are shown.
    Writes a 1000 x 1100 pixel PNG (10 x 11 inches at 100 dpi) whatever the count, also when
    nothing was misclassified (then the figure says so).
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    labels, predicted, confidence = (
        np.asarray(values).reshape(-1) for values in (labels, predicted, confidence)
    )
    if images.ndim != 3 or not len(images) == len(labels) == len(predicted) == len(confidence):
        raise ValueError(
            "expected images (N, 28, 28[, 1]) and labels, predicted, confidence of length N; "
            f"got {images.shape}, {labels.shape}, {predicted.shape}, {confidence.shape}"
        )
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1; got {max_images}")
    wrong = np.flatnonzero(predicted != labels)
    shown = wrong[:max_images]
    # Fixed margins, not constrained layout; and one mosaic image, not an axes a digit:
    # drawing 100 small axes takes seconds, one image and 100 captions a fraction of that.
    figure = _new_figure(MISCLASSIFIED_SIZE, layout=None)
    heading = f"{title}: {len(wrong)} of {len(labels)} misclassified"
    if len(shown) < len(wrong):
        heading += f" (first {len(shown)} shown)"
    figure.suptitle(heading + "\ncaption: true → predicted (confidence)", fontsize=14)
    axes = figure.add_axes((0.02, 0.01, 0.96, 0.89))
    axes.axis("off")
    if len(shown) == 0:
        axes.text(
            0.5,
            0.5,
            f"No misclassified images: all {len(labels)} predicted correctly",
            ha="center",
            va="center",
            fontsize=16,
            transform=axes.transAxes,
        )
        return _save(figure, path)
    _draw_captioned_mosaic(
        axes,
        images[shown],
        [f"{labels[index]} → {predicted[index]} ({confidence[index]:.0%})" for index in shown],
    )
    return _save(figure, path)


_DIGIT = IMAGE_SIDE  # pixels a side
_GAP = 10  # mosaic pixels between digits: room for a caption wider than its digit
_CAPTION_BAND = 11  # mosaic pixels above each digit for its caption
_CELL_WIDTH = _DIGIT + _GAP
_CELL_HEIGHT = _DIGIT + _CAPTION_BAND


def _draw_captioned_mosaic(axes, digits: np.ndarray, captions: list[str]) -> None:
    """Digits (n, 28, 28) as one mosaic image on `axes`, each captioned above, at most 10 a row."""
    columns = min(10, math.ceil(math.sqrt(len(digits))))
    rows = math.ceil(len(digits) / columns)
    axes.imshow(
        _mosaic(digits, rows, columns),
        cmap=_grey_on_white(),
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    # Caption size from how many pixels one caption band gets on the page.
    pixels_per_unit = (
        min(
            0.96 * MISCLASSIFIED_SIZE[0] / (columns * _CELL_WIDTH),
            0.89 * MISCLASSIFIED_SIZE[1] / (rows * _CELL_HEIGHT),
        )
        * DPI
    )
    caption_points = min(24.0, 0.45 * _CAPTION_BAND * pixels_per_unit * 72 / DPI)
    for cell, caption in enumerate(captions):
        row, column = divmod(cell, columns)
        axes.text(
            column * _CELL_WIDTH + _CELL_WIDTH / 2,
            row * _CELL_HEIGHT + _CAPTION_BAND - 1,
            caption,
            ha="center",
            va="bottom",
            fontsize=caption_points,
        )


def _mosaic(digits: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """One image of all digits, each under a caption band; gaps masked so they draw white."""
    sheet = np.ma.masked_array(np.zeros((rows * _CELL_HEIGHT, columns * _CELL_WIDTH)), mask=True)
    for cell, digit in enumerate(digits):
        row, column = divmod(cell, columns)
        top, left = row * _CELL_HEIGHT + _CAPTION_BAND, column * _CELL_WIDTH + _GAP // 2
        sheet[top : top + _DIGIT, left : left + _DIGIT] = np.clip(digit, 0.0, 1.0)
    return sheet


def _grey_on_white():
    from matplotlib import colormaps

    return colormaps["gray"].with_extremes(bad="white")


def plot_learning_curves(history: list[dict], path: Path, title: str = "Learning curves") -> Path:
    """Loss and accuracy per epoch, side by side, from metrics.csv rows (runs.read_metrics).

    Rows need: epoch, batch_loss, train_loss, train_accuracy, validation_loss, validation_accuracy.
    Writes a 1200 x 500 pixel PNG (12 x 5 inches at 100 dpi).
    """
    if not history:
        raise ValueError("no epochs to plot; the run's metrics.csv is empty or missing")
    needed = ("epoch", "batch_loss", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy")
    missing = [key for key in needed if key not in history[0]]
    if missing:
        raise ValueError(f"history rows lack {', '.join(missing)}; expected the columns of metrics.csv")
    column = {key: np.array([float(row[key]) for row in history]) for key in needed}
    epochs = column["epoch"]
    figure = _new_figure(LEARNING_CURVES_SIZE)
    figure.suptitle(title, fontsize=14)
    loss, accuracy = figure.subplots(1, 2)
    loss.plot(epochs, column["train_loss"], "o-", label="train")
    loss.plot(epochs, column["validation_loss"], "s-", label="validation")
    loss.plot(epochs, column["batch_loss"], "--", color="0.4", label="batch (mean over epoch)")
    loss.set_ylabel("cross-entropy loss")
    loss.set_title("Loss")
    accuracy.plot(epochs, column["train_accuracy"], "o-", label="train")
    accuracy.plot(epochs, column["validation_accuracy"], "s-", label="validation")
    accuracy.set_ylabel("accuracy")
    accuracy.set_title("Accuracy")
    for axes in (loss, accuracy):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        if len(epochs) <= 20:
            axes.set_xticks(epochs)
    return _save(figure, path)


def plot_selective_accuracy(
    curves: dict[str, list[dict]], path: Path, title: str = "Accuracy on the answers not flagged"
) -> Path:
    """One line per named set: accuracy on unflagged inputs against the share flagged.

    curves: name -> rows of calibration.selective_accuracy (flag_rate, accuracy_unflagged).
    Writes a 800 x 500 pixel PNG.
    """
    if not curves:
        raise ValueError("no curves to plot")
    figure = _new_figure((8.0, 5.0))
    axes = figure.add_subplot()
    for name, rows in curves.items():
        axes.plot(
            [100 * row["flag_rate"] for row in rows],
            [100 * row["accuracy_unflagged"] for row in rows],
            "o-",
            label=name,
        )
    axes.set_xlabel("inputs flagged uncertain (%), least confident first")
    axes.set_ylabel("accuracy on the rest (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_augment_preview(
    grid: np.ndarray,
    path: Path,
    copies: int,
    title: str = "Training digits (left) and random affine versions",
) -> Path:
    """Rows of digits: the original, then `copies` augmented versions. 800 x 900 px."""
    figure = _new_figure((8, 9))
    axes = figure.add_subplot()
    axes.imshow(np.asarray(grid), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.axvline(_DIGIT - 0.5, color="tab:orange", linewidth=2)
    axes.set_xticks(
        [_DIGIT / 2 + _DIGIT * i for i in range(copies + 1)],
        ["original"] + [str(i + 1) for i in range(copies)],
    )
    axes.set_xlabel("augmented copies")
    axes.set_yticks([])
    axes.set_title(title)
    return _save(figure, path)
