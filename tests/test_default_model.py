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
SHIPPED_MNIST_TEST_FLOOR = 0.993  # the card's measured figure is higher; this is the floor a test holds


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
    predicted, probabilities = predictor.model.predict(real_mnist.test.images)
    assert np.mean(predicted == real_mnist.test.labels) >= SHIPPED_MNIST_TEST_FLOOR
    flagged = np.mean([p.uncertain for p in predictor.predict(real_mnist.test.images[:2000])])
    assert flagged <= 0.05  # the doubt signals flag at most 5% of real digits
