"""What the status endpoints say about the served model, read through its ModelSource."""

from __future__ import annotations

import csv
from pathlib import Path

from digitnet.model_source import ModelSource

METRICS_FILE = "metrics.csv"  # a run's per-epoch metrics (see digitnet.runs); read here, never written


def _last_validation_accuracy(directory: Path | None) -> float | None:
    if directory is None or not (directory / METRICS_FILE).is_file():
        return None
    try:
        with open(directory / METRICS_FILE, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return float(rows[-1]["validation_accuracy"]) if rows else None
    except (OSError, ValueError, KeyError, TypeError):  # a damaged file costs the figure, not the service
        return None


def describe_model(source: ModelSource | Path, rule: str = "mean") -> dict:
    """arch, ensemble members and rule, and the last recorded validation accuracy where known.

    Only validation accuracy is saved in a run (metrics.csv); test accuracy is printed by
    `digitnet train` / `evaluate` but not stored, so it is not claimed here.
    """
    source = ModelSource.resolve(source)
    if source.kind == "ensemble":
        configs = [ModelSource.from_path(path.parent).run_config() for path in source.model_files]
        archs = sorted({config.get("arch") for config in configs if config and config.get("arch")})
        return {
            "arch": ",".join(archs) or None,
            "ensemble_members": len(source.model_files),
            "ensemble_rule": rule,
            "validation_accuracy": None,
        }
    config = source.run_config()
    return {
        "arch": config.get("arch") if config else None,
        "ensemble_members": 1,
        "validation_accuracy": _last_validation_accuracy(source.directory),
        **({"default_model": True} if source.is_default else {}),
    }
