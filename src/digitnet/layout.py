"""The on-disk formats, named once: what training writes and reading reads.

    run_dir/                     made by `digitnet train` (training/runs.py writes it)
      config.json                every hyperparameter
      metrics.csv                one row an epoch (validation accuracy among them)
      model.keras                the final network
      calibration.json           temperature and doubt threshold (optional)
      detector/                  its own not-a-digit detector (optional)
    ensemble_dir/
      manifest.json              the members; each member-XX/ is a run_dir

A basic module (no TensorFlow, nothing of training or reading): both sides import the names and the
small readers here, so the format is parsed in one place.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.keras"
CALIBRATION_FILE = "calibration.json"
DETECTOR_DIR = "detector"
MANIFEST_FILE = "manifest.json"


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
