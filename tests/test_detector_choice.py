"""Which not-a-digit detector reads a model's inputs: the one named, the model's own, the cached one,
else the one shipped with digitnet (digitnet.reading.detector.choose_detector).

A "user's model" here is a folder holding a copy of the shipped network (model.keras and its LiteRT
file, bound by their record) and nothing else: what `digitnet train` leaves, without TensorFlow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitnet.cli import main
from digitnet.layout import write_litert_beside
from digitnet.reading import detector
from digitnet.reading.model_source import ModelSource, default_model_dir
from digitnet.reading.predict import Predictor


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """A cache with no detector of `digitnet detector train` in it (nor anything else)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def users_model(folder: Path) -> Path:
    """A run-like folder with a network and its LiteRT file, no detector, no calibration."""
    folder.mkdir(parents=True)
    shutil.copy2(default_model_dir() / "model.keras", folder / "model.keras")
    write_litert_beside(folder / "model.keras", (default_model_dir() / "model.tflite").read_bytes())
    return folder


def detector_copy(folder: Path, threshold: float) -> Path:
    """A loadable detector folder (the shipped detector's LiteRT file, bound to a stand-in .keras
    file: the package keeps no detector.keras, and reading only hashes it) with its own
    threshold, so which one was loaded shows in Detector.threshold."""
    folder.mkdir(parents=True)
    shipped = default_model_dir() / "detector"
    shutil.copy2(default_model_dir() / "model.keras", folder / detector.MODEL_FILE)
    write_litert_beside(folder / detector.MODEL_FILE, (shipped / detector.LITERT_FILE).read_bytes())
    (folder / detector.THRESHOLD_FILE).write_text(json.dumps({"threshold": threshold}))
    return folder


def scribbles_then_digits(count: int = 64, seed: int = 0) -> np.ndarray:
    """count // 2 scribbles (a family the shipped detector trains on, other draws; those too faint to
    read, which are blank before any detector, left out) then as many digits by training writers, as
    reading sees them: the first no digit, the others digits."""
    from digitnet.data.negatives import negative_images
    from digitnet.data.writer import writer_digits
    from digitnet.reading.uncertainty import too_faint_to_read

    scribbles = negative_images("scribble", 4 * count, np.random.default_rng(seed))[..., np.newaxis]
    scribbles = scribbles[~too_faint_to_read(scribbles)][: count // 2]
    digits = writer_digits(count - count // 2, "train", seed=seed)[0]
    return np.concatenate([scribbles, digits]).astype(np.float32)


def shipped_threshold() -> float:
    return json.loads((default_model_dir() / "detector" / detector.THRESHOLD_FILE).read_text())["threshold"]


def test_a_model_without_a_detector_reads_with_the_shipped_one(tmp_path, empty_cache):
    predictor = Predictor(users_model(tmp_path / "mine"))
    assert predictor.detector_problem is None
    assert predictor.detector.origin == "shipped"
    assert predictor.detector.threshold == pytest.approx(shipped_threshold())
    images = scribbles_then_digits()
    flagged = detector.load_shipped_detector().not_a_digit(images)
    assert flagged[:32].mean() >= 0.9 and flagged[32:].mean() <= 0.1  # measured 1.0 and 0.0
    reasons = [prediction.reason for prediction in predictor.predict(images)]
    assert [reason == "not-a-digit" for reason in reasons] == flagged.tolist()


def test_a_keras_file_and_an_ensemble_also_get_the_shipped_detector(tmp_path, empty_cache):
    from digitnet.reading.ensemble_dir import Manifest, Member, write_manifest

    lone = tmp_path / "lone"
    lone.mkdir()
    keras_file = lone / "net.keras"  # not model.keras: a .keras file standing alone, no side files
    shutil.copy2(default_model_dir() / "model.keras", keras_file)
    write_litert_beside(keras_file, (default_model_dir() / "model.tflite").read_bytes())
    assert Predictor(keras_file).detector.origin == "shipped"
    ensemble = tmp_path / "ensemble"
    for name in ("member-00", "member-01"):
        users_model(ensemble / name)
    write_manifest(ensemble, Manifest((Member("member-00", "wide", 0), Member("member-01", "wide", 1))))
    predictor = Predictor(ensemble)
    assert predictor.model.is_ensemble and predictor.detector.origin == "shipped"
    images = scribbles_then_digits(8)
    flagged = detector.load_shipped_detector().not_a_digit(images)
    assert flagged.any()
    assert [p.reason == "not-a-digit" for p in predictor.predict(images)] == flagged.tolist()


def test_the_order_named_then_own_then_cached_then_shipped(tmp_path, empty_cache):
    model = users_model(tmp_path / "mine")
    assert Predictor(model).detector.origin == "shipped"
    detector_copy(empty_cache / "digitnet" / "detector", threshold=0.25)  # `digitnet detector train`
    cached = Predictor(model).detector
    assert (cached.origin, cached.threshold) == ("cached", 0.25)
    detector_copy(model / "detector", threshold=0.5)  # the model's own (e.g. carried by finetune)
    own = Predictor(model).detector
    assert (own.origin, own.threshold) == ("own", 0.5)
    named = Predictor(model, detector_dir=detector_copy(tmp_path / "named", threshold=0.75)).detector
    assert (named.origin, named.threshold) == ("named", 0.75)


def test_the_shipped_model_keeps_its_own_detector_over_a_cached_one(empty_cache):
    detector_copy(empty_cache / "digitnet" / "detector", threshold=0.25)
    shipped = Predictor().detector
    assert shipped.origin == "own" and shipped.threshold == pytest.approx(shipped_threshold())


def test_a_named_or_cached_detector_that_cannot_be_used_is_reported_not_replaced(tmp_path, empty_cache):
    model = users_model(tmp_path / "mine")
    missing = Predictor(model, detector_dir=tmp_path / "nowhere")
    assert missing.detector is None and "no not-a-digit detector" in missing.detector_problem
    broken = empty_cache / "digitnet" / "detector"
    broken.mkdir(parents=True)
    (broken / detector.MODEL_FILE).write_bytes(b"junk")
    (broken / detector.THRESHOLD_FILE).write_text('{"threshold": 0.0}')
    cached = Predictor(model)
    assert cached.detector is None and "cannot be used" in cached.detector_problem


def test_a_damaged_shipped_detector_costs_another_model_only_its_detector(tmp_path, empty_cache, monkeypatch):
    from test_reader import copy_of_the_shipped_model

    model = users_model(tmp_path / "mine")
    copy = copy_of_the_shipped_model(tmp_path, monkeypatch)
    target = copy / "detector" / detector.LITERT_FILE
    content = target.read_bytes()
    target.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # one bit
    predictor = Predictor(model)
    assert predictor.detector is None and "does not match the SHA-256" in predictor.detector_problem
    assert len(predictor.predict(scribbles_then_digits(2))) == 2  # its own answers still come


def test_no_conversion_is_asked_for_the_shipped_detector(tmp_path, empty_cache):
    from digitnet.jobs.keras_models import networks_to_read

    model = users_model(tmp_path / "mine")
    assert networks_to_read(ModelSource.from_path(model)) == []
    unconverted = tmp_path / "unconverted"
    unconverted.mkdir()
    shutil.copy2(default_model_dir() / "model.keras", unconverted / detector.MODEL_FILE)  # a stand-in
    (unconverted / detector.THRESHOLD_FILE).write_text('{"threshold": 0.5}')
    assert networks_to_read(ModelSource.from_path(model), unconverted) == [unconverted / detector.MODEL_FILE]


def test_predict_says_not_a_digit_for_a_grid_with_a_users_model_and_no_tensorflow(
    tmp_path, empty_cache, capsys
):
    """The CLI end to end, in a process where TensorFlow and Keras cannot be imported."""
    model = users_model(tmp_path / "mine")
    drawn = tmp_path / "grid.png"  # a ruled grid, dark on white, as a scanned form's would be
    grid = Image.new("L", (200, 200), 255)
    pen = ImageDraw.Draw(grid)
    for step in range(5):
        pen.line([(20 + 40 * step, 20), (20 + 40 * step, 180)], fill=0, width=6)
        pen.line([(20, 20 + 40 * step), (180, 20 + 40 * step)], fill=0, width=6)
    grid.save(drawn)
    script = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "from digitnet.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "predict", str(model), str(drawn), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["reason"] == "not-a-digit" and row["uncertain"] is True
    assert "detector" not in done.stderr  # no "no detector" notice: the shipped one is used
    assert main(["predict", str(model), str(drawn)]) == 0  # and the plain line, in this process
    assert capsys.readouterr().out.strip() == f"{drawn}: not a digit"


def test_a_digitnet_train_run_gets_the_shipped_detector(tiny_model_dir, empty_cache):
    predictor = Predictor(tiny_model_dir)
    assert predictor.detector.origin == "shipped" and predictor.detector_problem is None
    images = scribbles_then_digits(8, seed=1)
    reasons = [p.reason for p in predictor.predict(images)]
    assert "not-a-digit" in reasons  # its flags reach the answers
    assert [reason == "not-a-digit" for reason in reasons] == predictor.detector.not_a_digit(images).tolist()
