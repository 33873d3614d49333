"""The on-disk formats, named once: what training writes and reading reads.

    run_dir/                     made by `digitnet train` (training/runs.py writes it)
      config.json                every hyperparameter
      metrics.csv                one row an epoch (validation accuracy among them)
      model.keras                the final network
      model.tflite               the same network for LiteRT (what reading runs)
      model.tflite.json          its SHA-256 and that of the model.keras it was converted from
      calibration.json           temperature and doubt threshold (optional)
      detector/                  its own not-a-digit detector (optional)
    ensemble_dir/
      manifest.json              the members; each member-XX/ is a run_dir

A basic module (no TensorFlow, nothing of training or reading): both sides import the names and the
small readers here, so the format is parsed in one place.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from digitnet.util.fileio import atomic_write_bytes, atomic_write_text, file_sha256

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.keras"
CALIBRATION_FILE = "calibration.json"
DETECTOR_DIR = "detector"
MANIFEST_FILE = "manifest.json"
LITERT_SUFFIX = ".tflite"
LITERT_RECORD_SUFFIX = ".tflite.json"


def litert_path(keras_file: Path) -> Path:
    """The LiteRT file that goes with a .keras file: model.keras -> model.tflite."""
    return Path(keras_file).with_suffix(LITERT_SUFFIX)


def _litert_record_path(keras_file: Path) -> Path:
    return Path(keras_file).with_suffix(LITERT_RECORD_SUFFIX)


def write_litert_beside(keras_file: Path, flatbuffer: bytes) -> Path:
    """Write `flatbuffer` as keras_file's LiteRT file, with a record of both files' SHA-256.

    The flatbuffer first, the record last: a reader never sees a record for a file not yet written.
    """
    path = litert_path(keras_file)
    atomic_write_bytes(path, flatbuffer)
    record = {"sha256": hashlib.sha256(flatbuffer).hexdigest(), "keras_sha256": file_sha256(Path(keras_file))}
    atomic_write_text(_litert_record_path(keras_file), json.dumps(record, indent=2) + "\n")
    return path


def read_litert_beside(keras_file: Path) -> bytes | None:
    """keras_file's LiteRT flatbuffer when its record vouches for both files, else None.

    None also when the .keras file changed after the conversion (a stale LiteRT file is never
    run): the LiteRT interpreter trusts its input, so only a verified file is handed to it.
    """
    try:
        record = json.loads(_litert_record_path(keras_file).read_text())
        flatbuffer = litert_path(keras_file).read_bytes()
        if hashlib.sha256(flatbuffer).hexdigest() != record["sha256"]:
            return None
        if file_sha256(Path(keras_file)) != record["keras_sha256"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return flatbuffer


def read_config_dict(run_dir: Path) -> dict | None:
    """The hyperparameters in a run's config.json as a plain dict; None when absent or unreadable.

    Callers that must have a valid config (--resume) validate it with training's load_config instead."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_metrics_rows(run_dir: Path) -> list[dict]:
    """metrics.csv's rows as dicts of strings ([] when there is none)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def last_validation_accuracy(run_dir: Path | None) -> float | None:
    """The last epoch's validation accuracy recorded in a run; None where unknown or damaged."""
    if run_dir is None:
        return None
    try:
        rows = read_metrics_rows(run_dir)
        return float(rows[-1]["validation_accuracy"]) if rows else None
    except (OSError, ValueError, KeyError, TypeError):  # a damaged file costs the figure, not the caller
        return None
