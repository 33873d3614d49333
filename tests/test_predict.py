"""Predicting on users' files: the Predictor, uncertainty, and the `digitnet predict` command."""

import io
import json
import sys

import numpy as np
import pytest
from PIL import Image

from digitnet.cli import main
from digitnet.reading.model_source import ModelLoadError, check_keras_archive
from digitnet.reading.predict import Predictor
from digitnet.reading.uncertainty import flag_uncertain, too_faint_to_read


def _digit_png(path, label=3):
    """A synthetic digit as the tiny model knows them (a bar at rows 2d..2d+5), on white paper."""
    pixels = np.full((112, 112), 255, np.uint8)
    pixels[8 * label : 8 * label + 24, 16:96] = 0
    Image.fromarray(pixels).save(path)
    return path


def test_predictions_are_consistent(tiny_model_dir, tiny_mnist):
    predictor = Predictor(tiny_model_dir, use_detector=False)
    predictions = predictor.predict(tiny_mnist.test.images[:20])
    assert len(predictions) == 20
    for prediction in predictions:
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
        assert prediction.digit == int(np.argmax(prediction.probabilities))
        assert prediction.top3[0] == (prediction.digit, prediction.probability)
        assert [p for _, p in prediction.top3] == sorted((p for _, p in prediction.top3), reverse=True)
    accuracy = np.mean([p.digit == label for p, label in zip(predictions, tiny_mnist.test.labels)])
    assert accuracy > 0.8
    assert predictor.predict(np.zeros((0, 28, 28, 1), np.float32)) == []


def test_blank_input_is_flagged_and_confident_answers_are_not():
    images = np.zeros((3, 28, 28, 1), np.float32)
    images[1, 10:20, 10:14] = 1.0
    images[2, 10:20, 10:14] = 1.0
    confident = np.eye(10)[[0, 1, 2]]
    lukewarm = np.full(10, 0.1)
    assert too_faint_to_read(images).tolist() == [True, False, False]
    flags = flag_uncertain(np.stack([confident[0], confident[1], lukewarm]), images)
    assert flags.tolist() == [True, False, True]


class _NotADigit:
    def not_a_digit(self, images):
        return np.arange(len(images)) == 0


def test_detector_verdict_flags_what_it_rejects():
    images = np.ones((2, 28, 28, 1), np.float32)
    flags = flag_uncertain(np.eye(10)[[4, 5]], images, detector=_NotADigit())
    assert flags.tolist() == [True, False]


def test_each_doubt_has_its_reason_the_strongest_first():
    from digitnet.reading.uncertainty import doubt_reasons

    images = np.ones((4, 28, 28, 1), np.float32)
    images[0] = 0.0  # blank, though the detector rejects it too
    scores = np.stack([np.full(10, 0.1), np.eye(10)[1], np.full(10, 0.1), np.eye(10)[3]])
    reasons = doubt_reasons(scores, images, detector=_NotADigit())
    assert reasons.tolist() == ["blank", "none", "unsure", "none"]
    images[1] = 0.5
    detector = type("Rejects", (), {"not_a_digit": lambda self, x: np.arange(len(x)) == 1})()
    assert doubt_reasons(scores, images, detector=detector).tolist() == [
        "blank",
        "not-a-digit",
        "unsure",
        "none",
    ]


def test_predict_command_reads_files_folders_and_stdin(tiny_model_dir, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "digits"
    folder.mkdir()
    _digit_png(folder / "a.png", 3)
    _digit_png(folder / "b.png", 7)
    single = _digit_png(tmp_path / "c.png", 5)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(single.read_bytes())))
    shown = tmp_path / "shown"
    code = main(
        [
            "predict",
            str(tiny_model_dir),
            str(folder),
            str(single),
            "-",
            "--json",
            "--show-input",
            str(shown),
            "--detector",
            str(tmp_path / "no-detector"),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [row["file"] for row in rows] == [str(folder / "a.png"), str(folder / "b.png"), str(single), "-"]
    from digitnet.data.preprocess import image_to_mnist

    seen = np.stack(
        [
            image_to_mnist(folder / "a.png"),
            image_to_mnist(folder / "b.png"),
            image_to_mnist(single),
            image_to_mnist(single),
        ]
    )[..., np.newaxis]
    expected = Predictor(tiny_model_dir, use_detector=False).predict(seen)
    assert [row["digit"] for row in rows] == [p.digit for p in expected]
    assert rows[2]["probabilities"] == pytest.approx(expected[2].probabilities, abs=1e-6)
    assert all(len(row["probabilities"]) == 10 and "uncertain" in row for row in rows)
    assert "no not-a-digit detector" in captured.err
    assert sorted(p.name for p in shown.iterdir()) == ["a.png", "b.png", "c.png", "stdin.png"]
    assert Image.open(shown / "a.png").size == (28, 28)


def test_bad_files_get_one_line_each_and_the_rest_are_still_read(tiny_model_dir, tmp_path, capsys):
    good = _digit_png(tmp_path / "good.png", 2)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image")
    code = main(
        [
            "predict",
            str(tiny_model_dir),
            str(tmp_path / "missing.png"),
            str(junk),
            str(good),
            "--detector",
            str(tmp_path / "none"),
        ]
    )
    assert code == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("digitnet: error")]
    assert len(errors) == 2
    assert "missing.png" in errors[0] and "junk.png" in errors[1]
    assert "Traceback" not in captured.err
    assert captured.out.startswith(f"{good}: ")


def test_a_blank_page_does_not_crash_and_is_flagged(tiny_model_dir, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 150), "white").save(blank)
    assert (
        main(["predict", str(tiny_model_dir), str(blank), "--json", "--detector", str(tmp_path / "none")])
        == 0
    )
    row = json.loads(capsys.readouterr().out)
    assert row["uncertain"] is True and row["reason"] == "blank"
    assert main(["predict", str(tiny_model_dir), str(blank), "--detector", str(tmp_path / "none")]) == 0
    assert capsys.readouterr().out == f"{blank}: blank\n"  # never a digit for a blank page


def test_a_not_a_digit_line_names_no_digit(capsys):
    from digitnet.commands.reading import _print_prediction
    from digitnet.reading.predict import Prediction

    row = [0.05] * 9 + [0.55]
    _print_prediction(
        "x.png", Prediction(9, 0.55, row, [(9, 0.55), (0, 0.05), (1, 0.05)], True, "not-a-digit"), False
    )
    assert capsys.readouterr().out == "x.png: not a digit\n"
    _print_prediction(
        "y.png", Prediction(9, 0.55, row, [(9, 0.55), (0, 0.05), (1, 0.05)], True, "unsure"), False
    )
    assert capsys.readouterr().out.startswith("y.png: 9 (55.0%")


def test_a_models_calibration_sets_temperature_threshold_and_shift_test(tiny_model_dir, tiny_mnist, tmp_path):
    import shutil

    from digitnet.reading.calibration import Calibration, save_calibration

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    images = tiny_mnist.test.images[:20]
    plain = Predictor(run, use_detector=False).predict(images)
    save_calibration(Calibration(temperature=3.0, confidence_threshold=0.0), run / "calibration.json")
    softer = Predictor(run, use_detector=False).predict(images)
    assert [p.digit for p in softer] == [p.digit for p in plain]  # a temperature changes no answer
    assert all(s.probability < p.probability for s, p in zip(softer, plain) if p.probability > 0.2)
    assert not any(p.uncertain for p in softer)  # threshold 0: nothing flagged for confidence
    save_calibration(
        Calibration(temperature=1.0, confidence_threshold=0.999, test_time_shifts=True),
        run / "calibration.json",
    )
    strict = Predictor(run, use_detector=False).predict(images)
    assert [p.digit for p in strict] == [p.digit for p in plain]
    assert all(p.uncertain for p in strict)  # no shifted copy is that sure


def test_a_calibration_can_take_the_answers_over_the_shifted_copies(tiny_model_dir, tiny_mnist, tmp_path):
    import shutil

    from digitnet.reading.calibration import Calibration, save_calibration
    from digitnet.reading.uncertainty import shift_averaged

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    images = tiny_mnist.test.images[:40]
    calibration = Calibration(temperature=1.0, confidence_threshold=0.0, shift_answers=True)
    save_calibration(calibration, run / "calibration.json")
    reader = Predictor(run, use_detector=False)
    read = reader.predict(images)
    _, probabilities = reader.model.predict(images)
    averaged = shift_averaged(lambda copies: reader.model.predict(copies)[1], images, probabilities)
    assert [p.digit for p in read] == averaged.argmax(axis=1).tolist()
    assert [p.probability for p in read] == pytest.approx(averaged.max(axis=1).tolist(), abs=1e-6)
    assert [sum(p.probabilities) for p in read] == pytest.approx([1.0] * len(read), abs=1e-5)


def _zip_with_config_of_spaces(path, megabytes):
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", " " * (megabytes * 2**20))
    return path


def test_a_zip_bomb_keras_file_is_refused_before_keras_reads_it(tmp_path, monkeypatch, capsys):
    from digitnet import cli
    from digitnet.jobs.keras_models import load_model

    bomb = _zip_with_config_of_spaces(tmp_path / "bomb.keras", 20)
    assert bomb.stat().st_size < 100_000  # 20 MB of spaces compresses to about 20 kB
    with pytest.raises(ModelLoadError, match="zip bomb"):
        load_model(bomb)
    from conftest import use_synthetic_data

    use_synthetic_data(monkeypatch)
    assert cli.main(["evaluate", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digitnet: error:") and len(err.strip().splitlines()) == 1 and "bomb" in err


@pytest.mark.parametrize(
    "caps, refused",
    [
        (dict(max_config_bytes=2**20), True),  # config.json over its cap
        (dict(max_total_bytes=2**20), True),  # the whole over its cap
        (dict(max_ratio=100), True),  # a member compressed absurdly well
        (dict(max_config_bytes=4 * 2**20, max_ratio=10_000), False),
    ],
)
def test_keras_archive_caps_are_each_enforced(tmp_path, caps, refused):

    archive = _zip_with_config_of_spaces(tmp_path / "model.keras", 2)
    if refused:
        with pytest.raises(ModelLoadError):
            check_keras_archive(archive, **caps)
    else:
        check_keras_archive(archive, **caps)


def test_the_trained_model_passes_the_archive_check(tiny_model_dir):

    check_keras_archive(tiny_model_dir / "model.keras")


def test_predict_stdin_when_standard_input_is_closed_is_one_line(tiny_model_dir, capsys, monkeypatch):
    from digitnet.cli import main

    monkeypatch.setattr(sys, "stdin", None)  # what Python gives a process started with stdin closed
    assert main(["predict", "--model", str(tiny_model_dir), "-"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("digitnet: error")]
    assert errors == ["digitnet: error: -: standard input is closed; pipe an image into it or name a file"]
