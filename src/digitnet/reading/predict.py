"""Load a trained model (run directory, .keras file, ensemble or the shipped default) and predict digits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.layout import CALIBRATION_FILE
from digitnet.reading.ensemble_rules import combine, softmax
from digitnet.reading.model_source import ModelLoadError, ModelSource
from digitnet.shapes import INPUT_SHAPE
from digitnet.util.batches import predict_logits

__all__ = [
    "ModelLoadError",
    "ModelSource",
    "NonFiniteModelError",
    "Prediction",
    "Predictor",
    "ProbabilityModel",
    "predict_logits",
    "resolve_model_path",
]


def resolve_model_path(path: Path) -> Path:
    """A run directory means its model.keras; a file must be a Keras 3 .keras archive."""
    return ModelSource.from_path(path).model_file


class NonFiniteModelError(ModelLoadError, ValueError):
    """A network whose outputs are NaN or infinite (damaged or diverged weights); it is refused."""


PROBE_SEED = 0  # the random images of the load-time probe, the same every load


def probe_images(input_shape: tuple, count: int = 4) -> np.ndarray:
    """A small batch a sound network must answer with finite logits: blank, full ink and noise."""
    shape = tuple(int(side) for side in input_shape)
    noise = np.random.default_rng(PROBE_SEED).random((max(count - 2, 0), *shape), dtype=np.float32)
    return np.concatenate([np.zeros((1, *shape), np.float32), np.ones((1, *shape), np.float32), noise])


def check_finite_logits(logits_fn, name) -> None:
    """NonFiniteModelError when the network answers probe_images with NaN or infinite logits:
    checked once at load, so a damaged network is refused in one line, never read from."""
    if not np.all(np.isfinite(np.asarray(logits_fn(probe_images(INPUT_SHAPE))))):
        raise NonFiniteModelError(
            f"{name} gives NaN or infinite outputs (its weights are damaged or training diverged); "
            "use another model or retrain it (e.g. with a lower --lr)"
        )


def reading_logits_fns(source: ModelSource, engine: str = "auto") -> list:
    """The LiteRT logits function of every network of `source` (see digitnet.reading.engine)."""
    from digitnet.reading.engine import check_engine, litert_logits, logits_functions

    check_engine(engine)
    if source.is_default:  # the shipped model runs the LiteRT file its card vouches for
        functions = [litert_logits(source.shipped_litert(), source.path)]
    else:
        functions = logits_functions(list(source.model_files))
    for function, name in zip(functions, source.model_files):
        check_finite_logits(function, name)
    return functions


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
        logits_fns: list | None = None,
    ):
        """logits_fns: one images -> logits function a network, for callers that run the networks
        themselves (digitnet.jobs.keras_models runs them with Keras); else LiteRT runs them."""
        from digitnet.reading.ensemble_rules import RULES, UnknownRuleError

        if rule not in RULES:
            raise UnknownRuleError(rule)
        self.rule = rule
        self.source = ModelSource.resolve(path)
        self.is_ensemble = self.source.kind == "ensemble"
        self.temperature = float(temperature)
        self.logits_fns = reading_logits_fns(self.source, engine) if logits_fns is None else logits_fns
        self.engine = getattr(self.logits_fns[0], "engine", "custom")

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

    def read(self, images, calibration):
        """(answers (N,), doubt scores (N,), probabilities shown (N, 10)) as reading gives them
        under `calibration` (digitnet.reading.calibration.read_answers)."""
        from digitnet.reading.calibration import read_answers
        from digitnet.reading.uncertainty import shift_averaged

        answers, probabilities = self.predict(images)
        return read_answers(
            answers,
            probabilities,
            lambda: shift_averaged(lambda copies: self.predict(copies)[1], images, probabilities),
            calibration,
        )


@dataclass(frozen=True)
class Prediction:
    digit: int
    probability: float  # of `digit`
    probabilities: list[float]  # all ten, combined over an ensemble's members
    top3: list[tuple[int, float]]
    uncertain: bool  # "not a digit", or a digit the model cannot tell
    reason: str = "none"  # why it is uncertain: blank, not-a-digit, unsure; none (uncertainty.REASONS)

    def to_dict(self) -> dict:
        return {
            "digit": self.digit,
            "probability": self.probability,
            "probabilities": self.probabilities,
            "top3": [{"digit": d, "probability": p} for d, p in self.top3],
            "uncertain": self.uncertain,
            "reason": self.reason,
        }


class Predictor:
    """What `predict` and the service use: MNIST-form images in, digits and uncertainty out.

    `path` None means the reading model shipped with digitnet. A model's own calibration.json
    (temperature and confidence threshold) and detector/ travel with it. The detector, first found:
    `detector_dir`, the model's own, the one `digitnet detector train` cached, the one shipped with
    digitnet (digitnet.reading.detector.choose_detector); `self.detector.origin` says which.
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
        from digitnet.reading.detector import DetectorError

        self.source = ModelSource.resolve(path)
        self.source.check_shipped(CALIBRATION_FILE)
        self.calibration = load_calibration(self.source.calibration_file)
        self.model = ProbabilityModel(
            self.source, rule=rule, engine=engine, temperature=self.calibration.temperature
        )
        self.path = Path(self.source.path)
        self.detector = None
        self.detector_problem = None  # why there is no detector, for a one-time notice
        if use_detector:
            try:
                self.detector = self._load_detector(detector_dir, engine)
            except DetectorError as error:
                self.detector_problem = str(error)

    def _load_detector(self, detector_dir: Path | None, engine: str):
        from digitnet.reading.detector import find_detector

        return find_detector(self.source, detector_dir, engine)

    def predict(self, images) -> list[Prediction]:
        """images: float32 (N, 28, 28, 1) in [0, 1], ink bright on black (see preprocess)."""
        from digitnet.reading.uncertainty import doubt_reasons

        images = np.asarray(images, dtype=np.float32).reshape(-1, *INPUT_SHAPE)
        if len(images) == 0:
            return []
        predicted, scores, combined = self.model.read(images, self.calibration)
        reasons = doubt_reasons(scores, images, self.detector, self.calibration.confidence_threshold)
        results = []
        for index, digit in enumerate(predicted):
            row = [float(p) for p in combined[index]]
            order = sorted(range(10), key=lambda d: -row[d])[:3]
            reason = str(reasons[index])
            top3 = [(d, row[d]) for d in order]
            results.append(Prediction(int(digit), row[int(digit)], row, top3, reason != "none", reason))
        return results
