import math

import numpy as np
import pytest

from digitnet.training.metrics import (
    accuracy,
    confusion_matrix,
    cross_entropy,
    evaluate_split,
    per_class_accuracy,
)
from digitnet.util.batches import predict_logits


def test_accuracy_and_confusion_on_a_hand_example():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    assert accuracy(predicted, labels) == pytest.approx(4 / 6)
    confusion = confusion_matrix(predicted, labels, num_classes=3)
    assert confusion.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert per_class_accuracy(confusion).tolist() == pytest.approx([0.5, 1.0, 2 / 3])


def test_class_with_no_examples_has_undefined_accuracy():
    confusion = confusion_matrix(np.array([0]), np.array([0]), num_classes=2)
    assert math.isnan(per_class_accuracy(confusion)[1])


def test_accuracy_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        accuracy(np.array([]), np.array([]))


def test_cross_entropy_matches_the_formula_and_survives_large_logits():
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    labels = np.array([0, 1])
    expected = (-math.log(math.e**2 / (math.e**2 + 1)) + math.log(2)) / 2
    assert cross_entropy(logits, labels) == pytest.approx(expected)
    assert math.isfinite(cross_entropy(logits * 1e4, labels))


def test_predictions_are_computed_in_batches():
    seen = []

    def logits_fn(images):
        seen.append(len(images))
        return np.eye(10, dtype=np.float32)[images[:, 0, 0, 0].astype(int)]

    images = np.zeros((25, 28, 28, 1), np.float32)
    images[:, 0, 0, 0] = np.arange(25) % 10
    result = evaluate_split(logits_fn, images, np.arange(25) % 10, batch_size=10)
    assert seen == [10, 10, 5]
    assert result.accuracy == 1.0 and result.count == 25
    assert predict_logits(logits_fn, images[:0]).shape == (0, 10)
