"""What the status endpoints say about the served model, read through its ModelSource."""

from __future__ import annotations

from pathlib import Path

from digitnet.layout import last_validation_accuracy
from digitnet.reading.model_source import ModelSource


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
        "validation_accuracy": last_validation_accuracy(source.directory),
        **({"default_model": True} if source.is_default else {}),
    }
