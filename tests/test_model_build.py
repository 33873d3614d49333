"""Packaging the shipped model: the files predicting needs, a card whose SHA-256s match, readable."""

from __future__ import annotations

import json
import shutil

from digitnet.jobs.model_build import (
    CARD_FILE,
    INTENDED_USE,
    LIMITS,
    SHIPPED_FILES,
    package_model,
    save_model_calibration,
)
from digitnet.reading.calibration import Calibration
from digitnet.reading.model_source import ModelSource
from digitnet.util.fileio import file_sha256


def _complete_run(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    save_model_calibration(run, Calibration(2.0, 0.8, 0.02, "validation"))
    (run / "detector").mkdir()
    # Any network stands in for the detector's (packaging converts it); no LiteRT file beside it.
    shutil.copy2(tiny_model_dir / "model.keras", run / "detector" / "detector.keras")
    (run / "detector" / "detector.json").write_text('{"threshold": 0.5}\n')
    return run


def test_package_copies_what_predicting_needs_and_a_matching_card(tiny_model_dir, tmp_path):
    run = _complete_run(tiny_model_dir, tmp_path)
    destination = tmp_path / "package" / "default_model"
    card = package_model(run, destination, {"recipe": "read", "seed": 0})
    assert sorted(p.name for p in destination.iterdir()) == sorted(
        [*SHIPPED_FILES, "detector", CARD_FILE, "__init__.py"]
    )
    saved = json.loads((destination / CARD_FILE).read_text())
    assert saved == card and saved["recipe"] == "read"
    assert saved["intended_use"] == INTENDED_USE and saved["limits"] == list(LIMITS)  # `digitnet card`
    assert all(saved["sha256"][name] == file_sha256(destination / name) for name in SHIPPED_FILES)
    assert (destination / "model.keras").stat().st_mode & 0o444 == 0o444  # readable by everyone
    assert "checkpoints" not in {p.name for p in destination.iterdir()}  # no training leftovers
    source = ModelSource.from_path(destination)
    assert source.calibration_file and source.detector_dir
    # The LiteRT files reading runs, made where missing and vouched for by the card; the detector's
    # .keras file stays in the run (the 2 MB budget) and its LiteRT file stores float16 weights:
    # the same network as the model's, in about half the bytes.
    assert sorted(p.name for p in (destination / "detector").iterdir()) == [
        "detector.json",
        "detector.tflite",
    ]
    assert {"detector.tflite", "detector.json"} == set(saved["detector_sha256"])
    for name, sha in saved["detector_sha256"].items():
        assert file_sha256(destination / "detector" / name) == sha
    assert "model.tflite" in saved["sha256"]
    half, full = (
        (destination / "detector" / "detector.tflite").stat().st_size,
        (destination / "model.tflite").stat().st_size,
    )
    assert half < 0.6 * full


def test_package_replaces_an_old_one_whole(tiny_model_dir, tmp_path):
    run = _complete_run(tiny_model_dir, tmp_path)
    destination = tmp_path / "default_model"
    destination.mkdir()
    (destination / "stale.keras").write_bytes(b"old")
    package_model(run, destination, {})
    assert not (destination / "stale.keras").exists()
    assert not list(tmp_path.glob(".default_model*"))  # no staging or backup left behind
