"""What the status endpoints say about the served model, read from its run or ensemble directory."""

from __future__ import annotations

from pathlib import Path

from digitnet.ensemble_runs import EnsembleError, is_ensemble_dir, read_manifest
from digitnet.runs import MODEL_FILE, RunError, read_metrics, read_run_config


def describe_model(path: Path, rule: str = "mean") -> dict:
    """arch, ensemble members and rule, and the last recorded validation accuracy where known.

    Only validation accuracy is saved in a run (metrics.csv); test accuracy is printed by
    `digitnet train` / `evaluate` but not stored, so it is not claimed here.
    """
    path = Path(path)
    if is_ensemble_dir(path):
        try:
            members = read_manifest(path).members
        except EnsembleError:
            members = ()
        archs = sorted({member.arch for member in members})
        return {"arch": ",".join(archs) or None, "ensemble_members": len(members),
                "ensemble_rule": rule, "validation_accuracy": None}
    run_dir = path if path.is_dir() else path.parent if path.name == MODEL_FILE else None
    arch, accuracy = None, None
    if run_dir is not None:
        try:
            arch = read_run_config(run_dir).arch
        except RunError:
            pass
        try:
            history = read_metrics(run_dir)
        except (OSError, ValueError):  # a damaged metrics.csv costs the accuracy, not the service
            history = []
        if history:
            accuracy = history[-1].get("validation_accuracy")
    return {"arch": arch, "ensemble_members": 1, "validation_accuracy": accuracy}
