"""The reading model shipped inside the package: present, small, verified by its card, and it reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from digitnet.cli import main
from digitnet.jobs.model_build import CARD_FILE, SHIPPED_FILES, file_sha256
from digitnet.reading.model_source import ModelSource, default_model_dir

MAX_SHIPPED_BYTES = 2_000_000  # "well under 2 MB": everything predicting needs, detector included
# The card's MNIST test accuracy is measured on the .keras network; reading runs its LiteRT file,
# whose logits agree to 1e-4: a few of the 10,000 answers may differ, not more.
STATED_ACCURACY_TOLERANCE = 0.0005


def test_the_default_model_is_shipped_small_and_matches_its_card():
    directory = default_model_dir()
    source = ModelSource.default()
    assert source.is_default and source.calibration_file and source.detector_dir
    total = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    assert total < MAX_SHIPPED_BYTES
    card = json.loads((directory / CARD_FILE).read_text())
    for name in SHIPPED_FILES:
        assert card["sha256"][name] == file_sha256(directory / name), name
    assert card["recipe"] == "read" and card["seed"] == 0


def test_predict_with_no_model_uses_the_shipped_one(tmp_path, capsys, real_mnist):
    image = tmp_path / "scan_7.png"
    index = int(np.flatnonzero(real_mnist.test.labels == 7)[0])
    pixels = np.round(255 - real_mnist.test.images[index, ..., 0] * 255).astype(np.uint8)  # dark on white
    Image.fromarray(pixels).resize((112, 112)).save(image)
    assert main(["predict", str(image), "--json"]) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out)
    assert row["digit"] == 7 and row["uncertain"] is False
    assert "detector" not in captured.err  # the shipped model brings its own: no notice


def test_a_lone_model_name_is_one_clear_error(capsys):
    assert main(["predict", str(default_model_dir())]) == 2
    assert "is a model; name the images" in capsys.readouterr().err


@pytest.mark.slow
def test_the_default_model_reads_mnist_test_at_its_stated_accuracy(real_mnist):
    from digitnet.reading.predict import Predictor

    predictor = Predictor()  # the shipped model, through the LiteRT engine as predict runs it
    answers = predictor.model.read(real_mnist.test.images, predictor.calibration)[0]  # as predict reads
    stated = json.loads((default_model_dir() / CARD_FILE).read_text())["mnist_test_accuracy"]
    assert np.mean(answers == real_mnist.test.labels) == pytest.approx(stated, abs=STATED_ACCURACY_TOLERANCE)
    flagged = np.mean([p.uncertain for p in predictor.predict(real_mnist.test.images[:2000])])
    assert flagged <= 0.05  # the doubt signals flag at most 5% of real digits


def test_a_swapped_shipped_keras_file_is_refused_by_the_keras_side(tmp_path, monkeypatch):
    from digitnet.jobs.keras_models import load_model
    from digitnet.reading.model_source import ShippedModelError
    from test_reader import copy_of_the_shipped_model

    copy = copy_of_the_shipped_model(tmp_path, monkeypatch)
    content = (copy / "model.keras").read_bytes()
    (copy / "model.keras").write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # one bit off
    with pytest.raises(ShippedModelError, match="model.keras does not match"):
        load_model("default")


@pytest.mark.slow
def test_the_shipped_litert_network_answers_as_its_keras_file_does(real_mnist):
    """Logits within 1e-4 on 300 MNIST test images (the detector ships without its .keras file:
    tests/test_detector.py holds a detector's float16 LiteRT file to its network)."""
    from digitnet.jobs.keras_models import load_keras_file
    from digitnet.reading.predict import Predictor
    from digitnet.training.inference import make_logits_fn

    images = real_mnist.test.images[:300]
    predictor = Predictor()
    directory = default_model_dir()
    keras_logits = make_logits_fn(load_keras_file(directory / "model.keras"))(images)
    np.testing.assert_allclose(predictor.model.member_logits(images)[0], keras_logits, atol=1e-4)


def test_evaluate_and_export_take_the_shipped_model_as_default(tmp_path, monkeypatch, capsys):
    from conftest import synthetic_mnist

    monkeypatch.setattr("digitnet.commands.training.load_data", lambda args: synthetic_mnist())
    assert main(["evaluate", "default", "--json"]) == 0
    assert "test" in json.loads(capsys.readouterr().out)
    out = tmp_path / "default.tflite"
    assert main(["export", "default", "--format", "litert", "--out", str(out)]) == 0
    from digitnet.reading.engine import LiteRTLogits
    from digitnet.reading.predict import probe_images

    images = probe_images((28, 28, 1), count=8)
    shipped = LiteRTLogits((default_model_dir() / "model.tflite").read_bytes())(images)
    np.testing.assert_allclose(LiteRTLogits(out.read_bytes())(images), shipped, atol=1e-5)
