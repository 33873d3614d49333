"""Accuracy, per-class accuracy, the confusion matrix and cross-entropy: numbers, not prints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.shapes import NUM_CLASSES
from digitnet.util.batches import LogitsFn, predict_logits


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose predicted class equals the label."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(np.asarray(predicted) == np.asarray(labels)))


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    return counts


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    per_class_accuracy: list[float]
    confusion: list[list[int]]  # [true][predicted]
    count: int

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class_accuracy": self.per_class_accuracy,
            "confusion_matrix": self.confusion,
            "count": self.count,
        }


def evaluate_split(
    logits_fn: LogitsFn, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000
) -> Evaluation:
    return evaluation_from_logits(predict_logits(logits_fn, images, batch_size), labels)


def evaluation_from_logits(logits: np.ndarray, labels: np.ndarray) -> Evaluation:
    return evaluation_from_predictions(np.asarray(logits).argmax(axis=1), labels)


def evaluation_from_predictions(predicted: np.ndarray, labels: np.ndarray) -> Evaluation:
    confusion = confusion_matrix(predicted, labels)
    return Evaluation(
        accuracy(predicted, labels),
        [float(value) for value in per_class_accuracy(confusion)],
        confusion.tolist(),
        int(len(labels)),
    )


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy, computed stably from logits."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_normalizer - shifted[np.arange(len(labels)), labels]))
