"""Load a trained model (run directory, .keras file, ensemble or the shipped default) and predict digits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import first_line
from digitnet.reading.ensemble_rules import combine, softmax
from digitnet.reading.model_source import ModelLoadError, ModelSource, check_keras_archive  # noqa: F401
from digitnet.shapes import INPUT_SHAPE
from digitnet.training.inference import predict_logits

__all__ = [
    "ModelLoadError",
    "ModelSource",
    "NonFiniteModelError",
    "Prediction",
    "Predictor",
    "ProbabilityModel",
    "load_model",
    "predict_images",
    "resolve_model_path",
]


def resolve_model_path(path: Path) -> Path:
    """A run directory means its model.keras; a file must be a Keras 3 .keras archive."""
    return ModelSource.from_path(path).model_file


PROBE_SEED = 0  # the random images of the load-time probe, the same every load


class NonFiniteModelError(ModelLoadError, ValueError):
    """A network whose outputs are NaN or infinite (damaged or diverged weights); it is refused."""


def probe_images(input_shape: tuple, count: int = 4) -> np.ndarray:
    """A small batch a sound network must answer with finite logits: blank, full ink and noise."""
    shape = tuple(int(side) for side in input_shape)
    noise = np.random.default_rng(PROBE_SEED).random((max(count - 2, 0), *shape), dtype=np.float32)
    return np.concatenate([np.zeros((1, *shape), np.float32), np.ones((1, *shape), np.float32), noise])


def check_finite_outputs(model, model_path: Path) -> None:
    """One forward pass of probe_images; NonFiniteModelError when any output is NaN or infinite.

    Run once at load time so that predict, evaluate, serve and export refuse such a model in one
    line instead of failing (or writing it out) later.
    """
    outputs = np.asarray(model(probe_images(model.input_shape[1:]), training=False))
    if not np.all(np.isfinite(outputs)):
        raise NonFiniteModelError(
            f"{model_path} gives NaN or infinite outputs (its weights are damaged or training diverged); "
            "use another model or retrain it (e.g. with a lower --lr)"
        )


def _load_keras_file(model_path: Path):
    import keras

    check_keras_archive(model_path)
    try:
        # safe_mode stays on: a model file must never run code on load.
        model = keras.models.load_model(model_path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a damaged archive
        raise ModelLoadError(
            f"{model_path} could not be loaded as a Keras model ({type(error).__name__}: {first_line(error)})"
        ) from error
    check_finite_outputs(model, model_path)
    return model


def load_model(path: Path | ModelSource):
    """The one network at `path` (a run directory or .keras file), loaded safely."""
    return _load_keras_file(ModelSource.resolve(path).model_file)


def load_source_models(source: ModelSource) -> list:
    """Every network of a model source, checked to take the same input."""
    from digitnet.reading.ensemble_dir import EnsembleError

    models = [_load_keras_file(path) for path in source.model_files]
    shapes = {tuple(model.input_shape[1:]) for model in models}
    if len(shapes) > 1:
        raise EnsembleError(
            f"the members of {source.path} take different input shapes "
            f"({', '.join(map(str, sorted(shapes)))}); they cannot vote together"
        )
    return models


class ProbabilityModel:
    """A single model or an ensemble behind one call: images -> (N, 10) probabilities.

    `temperature` divides every member's logits before the softmax (see digitnet.reading.calibration).
    """

    def __init__(
        self,
        path: Path | ModelSource | None,
        rule: str = "mean",
        engine: str = "auto",
        temperature: float = 1.0,
    ):
        from digitnet.reading.engine import logits_function
        from digitnet.reading.ensemble_rules import RULES, UnknownRuleError

        if rule not in RULES:
            raise UnknownRuleError(rule)
        self.rule = rule
        self.source = ModelSource.resolve(path)
        self.is_ensemble = self.source.kind == "ensemble"
        self.temperature = float(temperature)
        models = load_source_models(self.source)
        # LiteRT where it can run the network (see digitnet.reading.engine), Keras otherwise.
        self.logits_fns = [
            logits_function(model, source, engine) for model, source in zip(models, self.source.model_files)
        ]
        self.engine = self.logits_fns[0].engine

    def member_logits(self, images, batch_size: int = 1000):
        """(members, N, 10) raw logits, before any temperature."""
        return np.stack([predict_logits(fn, images, batch_size) for fn in self.logits_fns])

    def member_probabilities(self, images, batch_size: int = 1000):
        """(members, N, 10) softmax probabilities (after the temperature)."""
        logits = self.member_logits(images, batch_size)
        if self.temperature != 1.0:
            logits = logits / np.float32(self.temperature)
        return np.stack([softmax(member) for member in logits])

    def predict(self, images, batch_size: int = 1000):
        """(predicted digits (N,), combined probabilities (N, 10)) under the ensemble's rule."""
        probabilities = self.member_probabilities(images, batch_size)
        if len(probabilities) == 1 and self.rule != "vote":
            # One member: mean and most-confident both return its own probabilities, so the
            # general combination (validation, stacking, per-rule work) is skipped per request.
            (single,) = probabilities
            if not np.all(np.isfinite(single)):
                raise NonFiniteModelError(
                    f"{self.source.path} gave NaN or infinite probabilities for these images; "
                    "use another model or retrain it"
                )
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
        return {
            "digit": self.digit,
            "probability": self.probability,
            "probabilities": self.probabilities,
            "top3": [{"digit": d, "probability": p} for d, p in self.top3],
            "uncertain": self.uncertain,
        }


class Predictor:
    """What `predict` and the service use: MNIST-form images in, digits and uncertainty out.

    `path` None means the reading model shipped with digitnet. A model's own calibration.json
    (temperature and confidence threshold) and detector/ travel with it; `detector_dir` overrides
    the detector, and without either the one `digitnet detector train` cached is used.
    """

    def __init__(
        self,
        path: Path | ModelSource | None = None,
        rule: str = "mean",
        detector_dir: Path | None = None,
        use_detector: bool = True,
        engine: str = "auto",
    ):
        from digitnet.reading.calibration import load_calibration
        from digitnet.reading.detector import DetectorError, load_detector

        self.source = ModelSource.resolve(path)
        self.calibration = load_calibration(self.source.calibration_file)
        self.model = ProbabilityModel(
            self.source, rule=rule, engine=engine, temperature=self.calibration.temperature
        )
        self.path = Path(self.source.path)
        self.detector = None
        self.detector_problem = None  # why there is no detector, for a one-time notice
        if use_detector:
            try:
                self.detector = load_detector(detector_dir or self.source.detector_dir, engine)
            except DetectorError as error:
                self.detector_problem = str(error)

    def predict(self, images) -> list[Prediction]:
        """images: float32 (N, 28, 28, 1) in [0, 1], ink bright on black (see preprocess)."""
        from digitnet.reading.uncertainty import flag_uncertain, shifted_confidence

        images = np.asarray(images, dtype=np.float32).reshape(-1, *INPUT_SHAPE)
        if len(images) == 0:
            return []
        predicted, combined = self.model.predict(images)
        scores = combined
        if self.calibration.test_time_shifts:
            scores = shifted_confidence(
                lambda copies: self.model.predict(copies)[1], images, predicted, combined
            )
        uncertain = flag_uncertain(scores, images, self.detector, self.calibration.confidence_threshold)
        results = []
        for index, digit in enumerate(predicted):
            row = [float(p) for p in combined[index]]
            order = sorted(range(10), key=lambda d: -row[d])[:3]
            results.append(
                Prediction(
                    int(digit), row[int(digit)], row, [(d, row[d]) for d in order], bool(uncertain[index])
                )
            )
        return results


def predict_images(
    paths: list, model: Path | ModelSource | None = None, *, rule: str = "mean", engine: str = "auto"
) -> list[Prediction]:
    """The digit in each image file, read as `digitnet predict` reads it (preprocess.image_to_mnist).

    model: a run directory, .keras file, ensemble or ModelSource; None, the reading model shipped
    with digitnet. An unreadable file raises preprocess.ImageError naming it.
    """
    from digitnet.data.preprocess import image_to_mnist

    images = [image_to_mnist(Path(path), name=str(path)) for path in paths]
    predictor = Predictor(model, rule=rule, engine=engine)
    return predictor.predict(np.stack(images) if images else np.zeros((0, *INPUT_SHAPE), np.float32))
