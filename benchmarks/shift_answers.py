"""Answers over one-pixel shifts (test-time augmentation) or from the image alone: prints JSON.

    python benchmarks/shift_answers.py --model NAME=PATH [--model ...] [--out JSON]

The reading model already reads each image six more times, moved by one pixel, to score its doubt
(digitnet.reading.uncertainty.TEST_TIME_SHIFTS). Taking the answer itself from the probabilities
averaged over those seven copies costs nothing more. For each network given (a run directory or a
.keras file; "shipped" for the package's own), calibrated as `make model` calibrates
(jobs.model_build.calibrate: temperature on validation digits, at which the copies are averaged),
the accuracy of both kinds of answer on the validation sets benchmarks/writers.py chooses on
(writers.validation_sets): MNIST's validation split, 2,000 training-font digits and 2,000 digits
by training-split writers, from a seed no training run draws. The rule, fixed before seeds 1 and 2
were read: answers over the shifts are taken if, over the networks given (seeds 0-2 of the read
recipe), the mean MNIST validation accuracy rises and so does the mean over the three sets. MNIST
test accuracy of both is reported afterwards, never chosen on.

    python benchmarks/shift_answers.py --compare-shift-sets --model NAME=PATH [...] [--out JSON]

compares instead which copies the answers and the doubt are averaged over: reading's six
(TEST_TIME_SHIFTS: down, up, right, left and the two diagonals down-right and up-left) against
all eight neighbours (the other two diagonals added, so that no direction is favoured), each
network calibrated as above, answers and doubt both from the averaged probabilities (as reading
uses them when its calibration chose both). For each set: the answers' accuracy, and the
accuracy among the unflagged when the set's least sure 2% (the share `make model` calibrates
to) are flagged. The rule, fixed before any network was read this way: the eight are taken if,
over the networks given (seeds 0-2 of the read recipe), the mean MNIST validation accuracy rises,
the mean over the three sets rises, and the mean over the three sets of the accuracy among the
unflagged does not fall. MNIST test is reported afterwards, never chosen on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import writers  # noqa: E402
from machine import describe_machine  # noqa: E402
from report import emit_json  # noqa: E402

SETS = ("MNIST validation", "training fonts", "training writers")
EIGHT_NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def validation_sets(data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    chosen_on = writers.validation_sets(data, 2000)
    return {
        "MNIST validation": chosen_on["mnist_validation"],
        "training fonts": chosen_on["train_fonts_validation"],
        "training writers": chosen_on["train_writers_validation"],
        "MNIST test (reported, not chosen on)": (data.test.images, data.test.labels),
    }


def keras_file(path: str) -> Path:
    from digitnet.reading.model_source import ModelSource

    if path == "shipped":
        return Path(ModelSource.default().path) / "model.keras"
    path = Path(path)
    return path / "model.keras" if path.is_dir() else path


def calibrated_network(model_file: Path, data):
    """(probability model, calibration) of a network calibrated as `make model` calibrates it."""
    from digitnet.jobs import model_build
    from digitnet.jobs.keras_models import keras_probability_model

    calibration = model_build.calibrate(model_file, model_build.validation_digits(data))
    return keras_probability_model(model_file, temperature=calibration.temperature), calibration


def score_network(model_file: Path, data, sets: dict) -> dict:
    import dataclasses

    model, calibration = calibrated_network(model_file, data)
    plain = dataclasses.replace(calibration, shift_answers=False)
    shifted = dataclasses.replace(calibration, shift_answers=True)
    scores = {
        "temperature": round(calibration.temperature, 4),
        "calibration_chose": calibration.shift_answers,
    }
    for name, (images, labels) in sets.items():
        images = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        scores[name] = {
            "image alone": round(float((model.read(images, plain)[0] == labels).mean()), 4),
            "over shifts": round(float((model.read(images, shifted)[0] == labels).mean()), 4),
        }
    return scores


def rule(results: dict) -> dict:
    def mean_of(answers: str, sets) -> float:
        return statistics.mean(statistics.mean(r[s][answers] for s in sets) for r in results.values())

    mnist = {a: round(mean_of(a, ["MNIST validation"]), 4) for a in ("image alone", "over shifts")}
    three = {a: round(mean_of(a, SETS), 4) for a in ("image alone", "over shifts")}
    taken = mnist["over shifts"] > mnist["image alone"] and three["over shifts"] > three["image alone"]
    return {
        "mean MNIST validation": mnist,
        "mean of the three validation sets": three,
        "over shifts taken": taken,
    }


def shift_sets() -> dict[str, tuple]:
    from digitnet.reading.uncertainty import TEST_TIME_SHIFTS

    return {"six": TEST_TIME_SHIFTS, "eight": EIGHT_NEIGHBOURS}


def averaged_scores(model, images, labels, shifts) -> dict:
    """Accuracy of the answers over `shifts`, and among the unflagged when the share `make model`
    calibrates to is flagged by their doubt."""
    from digitnet.jobs.model_build import CONFIDENCE_FLAG_RATE
    from digitnet.reading.calibration import selective_accuracy
    from digitnet.reading.uncertainty import shift_averaged

    probabilities = model.predict(images)[1]
    averaged = shift_averaged(lambda copies: model.predict(copies)[1], images, probabilities, shifts)
    answers = averaged.argmax(axis=1)
    correct = answers == labels
    confidence = averaged[np.arange(len(answers)), answers]
    kept = selective_accuracy(confidence, correct, (CONFIDENCE_FLAG_RATE,))[0]["accuracy_unflagged"]
    return {"accuracy": round(float(correct.mean()), 4), "accuracy_unflagged": round(kept, 4)}


def score_shift_sets(model_file: Path, data, sets: dict) -> dict:
    model, calibration = calibrated_network(model_file, data)
    scores = {
        "temperature": round(calibration.temperature, 4),
        "calibration_chose": {
            "answers over shifts": calibration.shift_answers,
            "doubt over shifts": calibration.test_time_shifts,
        },
    }
    for name, (images, labels) in sets.items():
        images = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        scores[name] = {
            kind: averaged_scores(model, images, labels, shifts) for kind, shifts in shift_sets().items()
        }
    return scores


def shift_sets_rule(results: dict) -> dict:
    def mean_of(kind: str, measure: str, sets) -> float:
        return round(
            statistics.mean(statistics.mean(r[s][kind][measure] for s in sets) for r in results.values()),
            5,
        )

    summary = {
        "mean MNIST validation accuracy": {k: mean_of(k, "accuracy", SETS[:1]) for k in shift_sets()},
        "mean accuracy over the three sets": {k: mean_of(k, "accuracy", SETS) for k in shift_sets()},
        "mean accuracy among the unflagged over the three sets": {
            k: mean_of(k, "accuracy_unflagged", SETS) for k in shift_sets()
        },
    }
    mnist, three, unflagged = summary.values()
    rises = mnist["eight"] > mnist["six"] and three["eight"] > three["six"]
    summary["eight taken"] = rises and unflagged["eight"] >= unflagged["six"]
    return summary


def compare_shift_sets(models: list[str], data, sets: dict) -> dict:
    results = {}
    for entry in models:
        name, _, path = entry.partition("=")
        results[name] = score_shift_sets(keras_file(path), data, sets)
    test = "MNIST test (reported, not chosen on)"
    return {
        "benchmark": "shift_answers --compare-shift-sets",
        "machine": describe_machine(),
        "shift_sets": {kind: [list(shift) for shift in shifts] for kind, shifts in shift_sets().items()},
        "networks": results,
        "rule": shift_sets_rule(results),
        "mnist_test_mean": {
            kind: round(statistics.mean(r[test][kind]["accuracy"] for r in results.values()), 5)
            for kind in shift_sets()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH, or NAME=shipped")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--compare-shift-sets", action="store_true", help="reading's six shifts against all eight neighbours"
    )
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist

    data = load_mnist()
    sets = validation_sets(data)
    if args.compare_shift_sets:
        emit_json(compare_shift_sets(args.model, data, sets), args.out)
        return
    results = {}
    for entry in args.model:
        name, _, path = entry.partition("=")
        results[name] = score_network(keras_file(path), data, sets)
    test = "MNIST test (reported, not chosen on)"
    report = {
        "benchmark": "shift_answers",
        "machine": describe_machine(),
        "networks": results,
        "rule": rule(results),
        "mnist_test_mean": {
            a: round(statistics.mean(r[test][a] for r in results.values()), 4)
            for a in ("image alone", "over shifts")
        },
    }
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
