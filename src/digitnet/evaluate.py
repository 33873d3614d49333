"""Accuracy, per-class accuracy and the confusion matrix: numbers, not prints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The logits helpers live in digitnet.inference (below the engine); importable from here as before.
from digitnet.inference import LogitsFn, make_logits_fn, predict_logits  # noqa: F401
from digitnet.shapes import NUM_CLASSES


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


def ensemble_accuracies(member_probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Each member's accuracy and the ensemble's under every combination rule."""
    from digitnet.ensemble import RULES, combine

    members = [accuracy(probs.argmax(axis=1), labels) for probs in member_probabilities]
    rules = {rule: accuracy(combine(rule, member_probabilities)[0], labels) for rule in RULES}
    return {"members": members, "rules": rules}


@dataclass(frozen=True)
class ModelEvaluation:
    test: Evaluation
    train: Evaluation
    test_predicted: np.ndarray  # (N,) the digit given to each test image
    test_probabilities: np.ndarray  # (N, 10) combined over an ensemble's members
    members: int  # networks combined: 1 unless the model is an ensemble


def evaluate_model(model, data, rule: str = "mean", batch_size: int = 1000) -> ModelEvaluation:
    """A model (a ModelSource or its path: run, .keras file or ensemble) on MNIST's test and training
    splits, run by Keras: the reference the faster engines are compared with."""
    from digitnet.predict import ProbabilityModel

    network = ProbabilityModel(model, rule=rule, engine="keras")
    test_predicted, test_probabilities = network.predict(data.test.images, batch_size)
    test = evaluation_from_predictions(test_predicted, data.test.labels)
    train = evaluation_from_predictions(network.predict(data.train.images, batch_size)[0], data.train.labels)
    return ModelEvaluation(test, train, test_predicted, test_probabilities, len(network.logits_fns))


def evaluate_ensemble(ensemble, test) -> dict:
    """{"members": [{"name", "arch", "seed", "test_accuracy"}], "rules": {rule: test accuracy}} of an
    ensemble (a ModelSource or its directory) on a test split, run by Keras."""
    from digitnet.ensemble_runs import read_manifest
    from digitnet.model_source import ModelSource
    from digitnet.predict import ProbabilityModel

    source = ModelSource.resolve(ensemble)
    network = ProbabilityModel(source, engine="keras")
    report = ensemble_accuracies(network.member_probabilities(test.images), test.labels)
    members = [
        {"name": m.name, "arch": m.arch, "seed": m.seed, "test_accuracy": accuracy}
        for m, accuracy in zip(read_manifest(source.path).members, report["members"])
    ]
    return {"members": members, "rules": report["rules"]}
