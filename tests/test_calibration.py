"""Calibration: temperature fitted on validation logits, thresholds chosen by flag rate, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.reading.calibration import (
    Calibration,
    CalibrationError,
    fit_calibration,
    fit_temperature,
    load_calibration,
    negative_log_likelihood,
    save_calibration,
    scaled_probabilities,
    selective_accuracy,
    threshold_for_flag_rate,
)


def overconfident_logits(count: int = 4000, seed: int = 0):
    """Logits of a model that is right 90% of the time but claims far more: scaled up by 4."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    logits = rng.normal(0, 1, (count, 10))
    right = rng.random(count) < 0.9
    answer = np.where(right, labels, (labels + rng.integers(1, 10, count)) % 10)
    logits[np.arange(count), answer] += 2.5
    return logits * 4.0, labels


def test_fitted_temperature_lowers_validation_nll_of_an_overconfident_model():
    logits, labels = overconfident_logits()
    temperature = fit_temperature(logits, labels)
    assert temperature > 2.0  # it undoes most of the 4x overconfidence
    assert (
        negative_log_likelihood(logits, labels, temperature) < negative_log_likelihood(logits, labels) - 0.1
    )
    # It is the minimum: a little either side is worse.
    best = negative_log_likelihood(logits, labels, temperature)
    assert best <= negative_log_likelihood(logits, labels, temperature * 1.1)
    assert best <= negative_log_likelihood(logits, labels, temperature / 1.1)


def test_temperature_changes_no_answer():
    logits, _ = overconfident_logits(500)
    assert np.array_equal(scaled_probabilities(logits, 3.0).argmax(1), logits.argmax(1))


def test_threshold_flags_the_asked_share_and_selective_accuracy_rises():
    logits, labels = overconfident_logits()
    calibration = fit_calibration(logits, labels, flag_rate=0.05, fitted_on="synthetic")
    confidence = scaled_probabilities(logits, calibration.temperature).max(1)
    assert np.mean(confidence < calibration.confidence_threshold) == pytest.approx(0.05, abs=0.01)
    rows = selective_accuracy(confidence, logits.argmax(1) == labels, flag_rates=(0.0, 0.05, 0.2))
    accuracies = [row["accuracy_unflagged"] for row in rows]
    assert accuracies[0] < accuracies[1] < accuracies[2]
    assert calibration.validation_nll_after < calibration.validation_nll_before


def test_threshold_rejects_a_bad_rate():
    with pytest.raises(CalibrationError, match="flag rate"):
        threshold_for_flag_rate(np.ones(10), 1.5)


def test_calibration_round_trips_and_damaged_file_is_one_clear_error(tmp_path):
    path = tmp_path / "calibration.json"
    saved = Calibration(2.5, 0.7, 0.02, "validation")
    save_calibration(saved, path)
    assert load_calibration(path) == saved
    assert load_calibration(None) == Calibration()  # no file: the long-standing rule
    path.write_text('{"temperature": -1}')
    with pytest.raises(CalibrationError, match="temperature"):
        load_calibration(path)
    path.write_text("not json")
    with pytest.raises(CalibrationError, match="not a readable calibration file"):
        load_calibration(path)


def test_shifted_copies_move_ink_by_one_pixel_and_fill_with_zeros():
    from digitnet.reading.uncertainty import shifted

    image = np.zeros((1, 5, 5, 1), np.float32)
    image[0, 2, 2, 0] = 1.0
    down_right = shifted(image, 1, 1)
    assert down_right[0, 3, 3, 0] == 1.0 and down_right.sum() == 1.0
    edge = np.zeros((1, 5, 5, 1), np.float32)
    edge[0, 4, 0, 0] = 1.0
    assert shifted(edge, 1, 0).sum() == 0.0  # pushed off the image, nothing wraps around


def test_shifted_confidence_averages_the_answers_probability_over_the_copies():
    from digitnet.reading.uncertainty import TEST_TIME_SHIFTS, shifted_confidence

    images = np.zeros((2, 28, 28, 1), np.float32)
    probabilities = np.full((2, 10), 0.05, np.float32)
    probabilities[:, 3] = 0.55

    def unsure_when_moved(copies):
        return np.tile(np.eye(10, dtype=np.float32)[[7]], (len(copies), 1))

    scores = shifted_confidence(unsure_when_moved, images, np.array([3, 3]), probabilities)
    assert scores == pytest.approx([0.55 / (1 + len(TEST_TIME_SHIFTS))] * 2)


def test_calibration_uses_shifts_only_when_they_separate_better_on_validation():
    logits, labels = overconfident_logits()
    correct = logits.argmax(1) == labels

    def helpful(temperature):  # a score that knows the wrong ones
        return np.where(correct, 0.9, 0.1)

    def useless(temperature):
        return np.random.default_rng(0).random(len(labels))

    assert fit_calibration(logits, labels, 0.05, shifted_confidence=helpful).test_time_shifts
    assert not fit_calibration(logits, labels, 0.05, shifted_confidence=useless).test_time_shifts
