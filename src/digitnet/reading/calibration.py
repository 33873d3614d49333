"""Doubt that means something: a temperature fitted on validation digits, and a confidence threshold.

A network trained with cross-entropy (and more so with label smoothing) is not calibrated: its top
probability is not the chance that it is right. Temperature scaling (Guo et al. 2017) divides the
logits by one number T, fitted by minimising the negative log-likelihood on held-out validation
digits; it changes no answer, only how sure each answer claims to be. The confidence threshold below
which an answer is flagged is then chosen on validation data too, for a stated share of flagged
digits, never on test data.

Pure numpy; the numbers are saved beside the model as calibration.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.util.fileio import atomic_write_text

TEMPERATURE_RANGE = (0.05, 20.0)  # searched on a log scale; outside it something else is wrong
DEFAULT_THRESHOLD = 0.5  # models without calibration.json keep the long-standing rule


class CalibrationError(DigitnetError, ValueError):
    """A calibration file or request that cannot be used; the message says why."""


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def scaled_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    return np.exp(log_softmax(np.asarray(logits, np.float64) / temperature)).astype(np.float32)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean -log p(true label) after dividing the logits by `temperature`."""
    log_p = log_softmax(np.asarray(logits, np.float64) / temperature)
    return float(-log_p[np.arange(len(labels)), np.asarray(labels)].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises validation NLL: a coarse log-spaced scan, then golden-section refinement.

    The NLL is convex in 1/T, so the scan's best neighbourhood holds the minimum.
    """
    if len(labels) == 0:
        raise CalibrationError("cannot fit a temperature on no images")
    low, high = (math.log(bound) for bound in TEMPERATURE_RANGE)
    grid = np.linspace(low, high, 41)
    losses = [negative_log_likelihood(logits, labels, math.exp(t)) for t in grid]
    best = int(np.argmin(losses))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if negative_log_likelihood(logits, labels, math.exp(c)) < negative_log_likelihood(
            logits, labels, math.exp(d)
        ):
            b = d
        else:
            a = c
    return float(math.exp((a + b) / 2))


def threshold_for_flag_rate(confidence: np.ndarray, flag_rate: float) -> float:
    """The confidence below which `flag_rate` of these (validation) answers fall."""
    if not 0.0 <= flag_rate < 1.0:
        raise CalibrationError(f"flag rate must be in [0, 1), got {flag_rate}")
    return float(np.quantile(np.asarray(confidence, np.float64), flag_rate))


def selective_accuracy(
    confidence: np.ndarray, correct: np.ndarray, flag_rates=(0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
) -> list[dict]:
    """For each share of inputs flagged (the least confident first), the accuracy on the rest."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    order = np.argsort(confidence, kind="stable")  # least confident first
    rows = []
    for rate in flag_rates:
        flagged = int(round(rate * len(order)))
        kept = order[flagged:]
        rows.append(
            {
                "flag_rate": float(rate),
                "flagged": flagged,
                "threshold": float(confidence[order[flagged - 1]]) if flagged else 0.0,
                "accuracy_unflagged": float(correct[kept].mean()) if len(kept) else float("nan"),
            }
        )
    return rows


def flagged_accuracy(confidence: np.ndarray, correct: np.ndarray, flags: np.ndarray) -> dict:
    """Share flagged and accuracy on the unflagged, for a given set of flags (any signals); and
    what doubt costs and buys: the share of right answers flagged and of wrong answers caught
    (flagged), NaN where there are none of them."""
    flags = np.asarray(flags, bool)
    correct = np.asarray(correct, bool)
    kept = ~flags
    return {
        "count": int(len(flags)),
        "flagged_share": float(flags.mean()) if len(flags) else 0.0,
        "accuracy": float(correct.mean()) if len(correct) else float("nan"),
        "accuracy_unflagged": float(correct[kept].mean()) if kept.any() else float("nan"),
        "right_flagged": float(flags[correct].mean()) if correct.any() else float("nan"),
        "wrong_caught": float(flags[~correct].mean()) if (~correct).any() else float("nan"),
    }


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0  # logits are divided by this before the softmax
    confidence_threshold: float = DEFAULT_THRESHOLD  # calibrated top probability below this: uncertain
    flag_rate: float | None = None  # the validation share flagged that chose the threshold
    fitted_on: str = ""  # what validation data, in words
    validation_nll_before: float | None = None
    validation_nll_after: float | None = None
    # Doubt scored by the answer's mean probability over one-pixel shifts (uncertainty.
    # shift_averaged) rather than its probability alone; chosen on validation data.
    test_time_shifts: bool = False
    # The answer itself is the digit most probable on average over the image and those shifts
    # (uncertainty.shift_averaged: test-time augmentation), not over the image alone; chosen on
    # validation data (it is more accurate there).
    shift_answers: bool = False

    def validate(self) -> None:
        low, high = TEMPERATURE_RANGE
        if not (isinstance(self.temperature, (int, float)) and low <= self.temperature <= high):
            raise CalibrationError(f"temperature must be in [{low}, {high}], got {self.temperature!r}")
        if not (
            isinstance(self.confidence_threshold, (int, float)) and 0.0 <= self.confidence_threshold <= 1.0
        ):
            raise CalibrationError(
                f"confidence_threshold must be in [0, 1], got {self.confidence_threshold!r}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def fit_calibration(
    logits: np.ndarray,
    labels: np.ndarray,
    flag_rate: float,
    fitted_on: str = "",
    shift_averaged=None,
    shift_answers: bool | None = None,
) -> Calibration:
    """Temperature by validation NLL, then the threshold that flags `flag_rate` of validation answers.

    shift_averaged: optional function (temperature) -> (N, 10) probabilities averaged over each
    image and its test-time shifts (uncertainty.shift_averaged). With it the answers are the
    averaged ones when `shift_answers` says so (None: when they are more accurate on these
    digits), and doubt is scored by the answer's averaged probability when that leaves a higher
    accuracy on the unflagged validation answers than its probability alone.
    """
    labels = np.asarray(labels)
    temperature = fit_temperature(logits, labels)
    probabilities = scaled_probabilities(logits, temperature)
    answers, use_shifts = probabilities.argmax(axis=1), False
    rows = np.arange(len(answers))
    if shift_averaged is not None:
        averaged = np.asarray(shift_averaged(temperature))
        if shift_answers is None:
            shift_answers = bool((averaged.argmax(axis=1) == labels).mean() > (answers == labels).mean())
        answers = averaged.argmax(axis=1) if shift_answers else answers
    confidence = probabilities[rows, answers]
    if shift_averaged is not None:
        correct, shifted = answers == labels, averaged[rows, answers]
        plain_rows = selective_accuracy(confidence, correct, (flag_rate,))
        shifted_rows = selective_accuracy(shifted, correct, (flag_rate,))
        if shifted_rows[0]["accuracy_unflagged"] > plain_rows[0]["accuracy_unflagged"]:
            confidence, use_shifts = shifted, True
    return Calibration(
        temperature,
        threshold_for_flag_rate(confidence, flag_rate),
        flag_rate,
        fitted_on,
        negative_log_likelihood(logits, labels),
        negative_log_likelihood(logits, labels, temperature),
        use_shifts,
        bool(shift_answers) and shift_averaged is not None,
    )


def read_answers(answers, probabilities, averaged, calibration: Calibration):
    """(answers, doubt scores, probabilities shown) as reading computes them with `calibration`.

    answers (N,) and probabilities (N, 10): the model's own for the images; averaged: a function
    () -> (N, 10), their probabilities over each image and its test-time shifts
    (uncertainty.shift_averaged), called only when the calibration uses them.
    """
    uses_shifts = calibration.test_time_shifts or calibration.shift_answers
    over_shifts = averaged() if uses_shifts else probabilities
    if calibration.shift_answers:
        answers = over_shifts.argmax(axis=1)
    scored = over_shifts if calibration.test_time_shifts else probabilities
    shown = over_shifts if calibration.shift_answers else probabilities
    return answers, scored[np.arange(len(answers)), answers], shown


def save_calibration(calibration: Calibration, path: Path) -> None:
    calibration.validate()
    atomic_write_text(Path(path), calibration.to_json())


def load_calibration(path: Path | None) -> Calibration:
    """The saved calibration, or the identity (T = 1, threshold 0.5) when there is none."""
    if path is None:
        return Calibration()
    try:
        payload = json.loads(Path(path).read_text())
        calibration = Calibration(**payload)
    except (OSError, ValueError, TypeError) as error:
        raise CalibrationError(
            f"{path} is not a readable calibration file ({error}); delete it or rebuild it with `make model`"
        ) from error
    calibration.validate()
    return calibration
