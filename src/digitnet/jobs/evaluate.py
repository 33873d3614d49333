"""Evaluating a saved model or ensemble on MNIST: loads the networks (through Keras, the reference the
faster engines are compared with) and scores them with digitnet.training.metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitnet.training.metrics import Evaluation, accuracy, evaluation_from_predictions


def ensemble_accuracies(member_probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Each member's accuracy and the ensemble's under every combination rule."""
    from digitnet.reading.ensemble_rules import RULES, combine

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
    from digitnet.reading.predict import ProbabilityModel

    network = ProbabilityModel(model, rule=rule, engine="keras")
    test_predicted, test_probabilities = network.predict(data.test.images, batch_size)
    test = evaluation_from_predictions(test_predicted, data.test.labels)
    train = evaluation_from_predictions(network.predict(data.train.images, batch_size)[0], data.train.labels)
    return ModelEvaluation(test, train, test_predicted, test_probabilities, len(network.logits_fns))


def evaluate_ensemble(ensemble, test) -> dict:
    """{"members": [{"name", "arch", "seed", "test_accuracy"}], "rules": {rule: test accuracy}} of an
    ensemble (a ModelSource or its directory) on a test split, run by Keras."""
    from digitnet.reading.ensemble_dir import read_manifest
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import ProbabilityModel

    source = ModelSource.resolve(ensemble)
    network = ProbabilityModel(source, engine="keras")
    report = ensemble_accuracies(network.member_probabilities(test.images), test.labels)
    members = [
        {"name": m.name, "arch": m.arch, "seed": m.seed, "test_accuracy": accuracy}
        for m, accuracy in zip(read_manifest(source.path).members, report["members"])
    ]
    return {"members": members, "rules": report["rules"]}
