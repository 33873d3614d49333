"""Load a trained model from a run directory or a .keras file."""

from __future__ import annotations

import zipfile
from pathlib import Path

from digitnet.runs import MODEL_FILE


class ModelLoadError(Exception):
    """PATH does not hold a usable model; the message says what to pass instead."""


def resolve_model_path(path: Path) -> Path:
    """A run directory means its model.keras; a file must be a Keras 3 .keras archive."""
    path = Path(path)
    if path.is_dir():
        candidate = path / MODEL_FILE
        if not candidate.is_file():
            raise ModelLoadError(
                f"{path} holds no {MODEL_FILE}: the run has not finished "
                f"(continue it with `digitnet train --resume {path}`) or is not a digitnet run")
        return candidate
    if not path.exists():
        raise ModelLoadError(f"{path} does not exist; pass a run directory or a model.keras file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path} is not a Keras model (.keras archive); "
                             "pass a run directory or a model.keras file")
    return path


def load_model(path: Path):
    import keras

    model_path = resolve_model_path(path)
    try:
        # safe_mode stays on: a model file must never run code on load.
        return keras.models.load_model(model_path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a damaged archive
        raise ModelLoadError(f"{model_path} could not be loaded as a Keras model "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:200]})") from error
