"""Load a trained model (run directory, .keras file or ensemble) and predict digits with it."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.ensemble import combine, softmax
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


def load_ensemble_members(directory: Path) -> list:
    """Every member model of an ensemble directory, checked to take the same input."""
    from digitnet.ensemble_runs import EnsembleError, member_model_paths

    models = [load_model(path) for path in member_model_paths(directory)]
    shapes = {tuple(model.input_shape[1:]) for model in models}
    if len(shapes) > 1:
        raise EnsembleError(f"the members of {directory} take different input shapes "
                            f"({', '.join(map(str, sorted(shapes)))}); they cannot vote together")
    return models


class ProbabilityModel:
    """A single model or an ensemble behind one call: images -> (N, 10) probabilities."""

    def __init__(self, path: Path, rule: str = "mean", engine: str = "auto"):
        from digitnet.engine import logits_function
        from digitnet.ensemble import RULES, UnknownRuleError
        from digitnet.ensemble_runs import is_ensemble_dir, member_model_paths

        if rule not in RULES:
            raise UnknownRuleError(rule)
        self.rule = rule
        self.is_ensemble = is_ensemble_dir(path)
        if self.is_ensemble:
            models, sources = load_ensemble_members(path), member_model_paths(path)
        else:
            models, sources = [load_model(path)], [resolve_model_path(path)]
        # LiteRT where it can run the network (see digitnet.engine), Keras otherwise.
        self.logits_fns = [logits_function(model, source, engine)
                           for model, source in zip(models, sources)]
        self.engine = self.logits_fns[0].engine
        from digitnet.evaluate import predict_logits  # imports Keras: not at module level

        self._predict_logits = predict_logits

    def member_probabilities(self, images, batch_size: int = 1000):
        """(members, N, 10) softmax probabilities."""
        return np.stack([softmax(self._predict_logits(fn, images, batch_size))
                         for fn in self.logits_fns])

    def predict(self, images, batch_size: int = 1000):
        """(predicted digits (N,), combined probabilities (N, 10)) under the ensemble's rule."""
        probabilities = self.member_probabilities(images, batch_size)
        if len(probabilities) == 1 and self.rule != "vote":
            # One member: mean and most-confident both return its own probabilities, so the
            # general combination (validation, stacking, per-rule work) is skipped per request.
            (single,) = probabilities
            if not np.all(np.isfinite(single)):
                raise ValueError("the model's probabilities contain NaN or infinity")
            return single.argmax(axis=1), single
        return combine(self.rule, probabilities)


@dataclass(frozen=True)
class Prediction:
    digit: int
    probability: float  # of `digit`
    probabilities: list[float]  # all ten, combined over an ensemble's members
    top3: list[tuple[int, float]]
    uncertain: bool  # "not a digit", or a digit the model cannot tell

    def to_dict(self) -> dict:
        return {"digit": self.digit, "probability": self.probability,
                "probabilities": self.probabilities,
                "top3": [{"digit": d, "probability": p} for d, p in self.top3],
                "uncertain": self.uncertain}


class Predictor:
    """What `predict` and the service use: MNIST-form images in, digits and uncertainty out."""

    def __init__(self, path: Path, rule: str = "mean", detector_dir: Path | None = None,
                 use_detector: bool = True, engine: str = "auto"):
        from digitnet.detector import DetectorError, load_detector

        self.model = ProbabilityModel(path, rule=rule, engine=engine)
        self.path = Path(path)
        self.detector = None
        self.detector_problem = None  # why there is no detector, for a one-time notice
        if use_detector:
            try:
                self.detector = load_detector(detector_dir, engine)
            except DetectorError as error:
                self.detector_problem = str(error)

    def predict(self, images) -> list[Prediction]:
        """images: float32 (N, 28, 28, 1) in [0, 1], ink bright on black (see preprocess)."""
        from digitnet.uncertainty import flag_uncertain

        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        if len(images) == 0:
            return []
        predicted, combined = self.model.predict(images)
        uncertain = flag_uncertain(combined, images, self.detector)
        results = []
        for index, digit in enumerate(predicted):
            row = [float(p) for p in combined[index]]
            order = sorted(range(10), key=lambda d: -row[d])[:3]
            results.append(Prediction(int(digit), row[int(digit)], row,
                                      [(d, row[d]) for d in order], bool(uncertain[index])))
        return results
