"""Calibration: temperature fitted on validation logits, thresholds chosen by flag rate, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.reading.calibration import (
    Calibration,
    CalibrationError,
    fit_calibration,
    fit_temperature,
    flagged_accuracy,
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


def test_flagged_accuracy_splits_flags_into_right_answers_flagged_and_wrong_answers_caught():
    correct = np.array([True, True, True, True, False, False])
    flags = np.array([True, False, False, False, True, False])
    row = flagged_accuracy(np.zeros(6), correct, flags)
    assert row["flagged_share"] == pytest.approx(2 / 6)
    assert row["right_flagged"] == pytest.approx(1 / 4)
    assert row["wrong_caught"] == pytest.approx(1 / 2)
    assert row["accuracy_unflagged"] == pytest.approx(3 / 4)
    all_right = flagged_accuracy(np.zeros(2), np.array([True, True]), np.array([False, True]))
    assert np.isnan(all_right["wrong_caught"])  # no wrong answer to catch: not a 0% caught


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


def test_shift_averaged_averages_each_image_over_its_copies():
    from digitnet.reading.uncertainty import TEST_TIME_SHIFTS, shift_averaged

    images = np.zeros((2, 28, 28, 1), np.float32)
    probabilities = np.full((2, 10), 0.05, np.float32)
    probabilities[:, 3] = 0.55

    def sure_of_seven_when_moved(copies):
        return np.tile(np.eye(10, dtype=np.float32)[[7]], (len(copies), 1))

    averaged = shift_averaged(sure_of_seven_when_moved, images, probabilities)
    copies = 1 + len(TEST_TIME_SHIFTS)
    assert averaged[:, 3] == pytest.approx([0.55 / copies] * 2)
    assert averaged[:, 7] == pytest.approx([(0.05 + len(TEST_TIME_SHIFTS)) / copies] * 2)
    assert averaged.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_shift_averaged_moves_each_image_by_the_shifts_given():
    from digitnet.reading.uncertainty import shift_averaged

    images = np.zeros((1, 5, 5, 1), np.float32)
    images[0, 2, 2, 0] = 1.0
    seen = []

    def record(copies):
        seen.append(copies)
        return np.full((len(copies), 10), 0.1, np.float32)

    shift_averaged(record, images, np.full((1, 10), 0.1, np.float32), shifts=((1, -1), (0, 2)))
    (copies,) = seen
    assert len(copies) == 2
    assert copies[0, 3, 1, 0] == 1.0 and copies[1, 2, 4, 0] == 1.0


def _averaged_with_answer_score(logits, answer_score):
    """(N, 10): the plain answers kept, each with probability `answer_score` (N,), the rest spread."""
    answers = logits.argmax(1)
    averaged = np.repeat(((1.0 - answer_score) / 10)[:, None], 10, axis=1)
    averaged[np.arange(len(answers)), answers] += answer_score
    return averaged


def test_calibration_uses_shifts_only_when_they_separate_better_on_validation():
    logits, labels = overconfident_logits()
    correct = logits.argmax(1) == labels
    helpful = _averaged_with_answer_score(logits, np.where(correct, 0.9, 0.2))  # knows the wrong ones
    useless = _averaged_with_answer_score(logits, np.random.default_rng(0).uniform(0.2, 0.9, len(labels)))

    def fit(averaged):
        return fit_calibration(logits, labels, 0.05, shift_averaged=lambda t: averaged, shift_answers=False)

    assert fit(helpful).test_time_shifts
    assert not fit(useless).test_time_shifts
    assert not fit(helpful).shift_answers  # the answers stay the image's own when told so


def test_answers_come_from_the_shifts_only_when_more_accurate_on_validation():
    logits, labels = overconfident_logits()
    knows_the_labels = np.eye(10)[labels] * 0.6 + 0.04
    wrong_everywhere = np.eye(10)[(labels + 1) % 10] * 0.6 + 0.04
    chosen = fit_calibration(logits, labels, 0.05, shift_averaged=lambda t: knows_the_labels)
    assert chosen.shift_answers
    assert not fit_calibration(logits, labels, 0.05, shift_averaged=lambda t: wrong_everywhere).shift_answers
    assert not fit_calibration(logits, labels, 0.05).shift_answers  # nothing to choose from


def test_read_answers_follows_the_calibration():
    from digitnet.reading.calibration import read_answers

    probabilities = np.array([[0.6, 0.4] + [0.0] * 8, [0.1, 0.9] + [0.0] * 8])
    over_shifts = np.array([[0.3, 0.7] + [0.0] * 8, [0.2, 0.8] + [0.0] * 8])
    answers = probabilities.argmax(1)
    calls = []

    def averaged():
        calls.append(1)
        return over_shifts

    plain = read_answers(answers, probabilities, averaged, Calibration())
    assert plain[0].tolist() == [0, 1] and plain[1] == pytest.approx([0.6, 0.9]) and not calls
    scored = read_answers(answers, probabilities, averaged, Calibration(test_time_shifts=True))
    assert scored[0].tolist() == [0, 1] and scored[1] == pytest.approx([0.3, 0.8])
    shifted = read_answers(answers, probabilities, averaged, Calibration(shift_answers=True))
    assert shifted[0].tolist() == [1, 1] and shifted[1] == pytest.approx([0.4, 0.9])
    assert shifted[2] is over_shifts  # the probabilities shown are those the answer came from
