"""The not-a-digit detector's reading half: load one (a small network and its threshold) and score
images with it. Training one is digitnet.jobs.detector_train (`digitnet detector train`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.shapes import INPUT_SHAPE
from digitnet.util.fileio import cache_dir

TRAINING_TIME = "a few minutes"  # of `digitnet detector train` on two cores, rendering included

MODEL_FILE = "detector.keras"

THRESHOLD_FILE = "detector.json"


class DetectorError(DigitnetError):
    """No usable detector; the message says how to make one."""


def default_detector_dir() -> Path:
    return cache_dir("detector")


def logit_scores(logits_fn, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    from digitnet.training.inference import predict_logits

    images = np.asarray(images, np.float32).reshape(-1, *INPUT_SHAPE)
    return predict_logits(logits_fn, images, batch_size).reshape(-1)


@dataclass
class Detector:
    model: object
    threshold: float
    source: Path | None = None  # its model.keras, which keys the compiled engine's cache
    engine: str = "auto"
    _logits: object = field(default=None, repr=False)  # built on first use: see logits_fn

    @property
    def logits_fn(self):
        """images -> "is a digit" logits through the inference engine, built once on first use
        (`.engine` on it says which engine runs it)."""
        from digitnet.reading.engine import logits_function

        if self._logits is None:
            self._logits = logits_function(self.model, self.source, self.engine)
        return self._logits

    def scores(self, images: np.ndarray) -> np.ndarray:
        """detector_scores, through the inference engine built once on first use."""
        return logit_scores(self.logits_fn, images)

    def not_a_digit(self, images: np.ndarray) -> np.ndarray:
        return self.scores(images) < self.threshold


def load_detector(directory: Path | None = None, engine: str = "auto") -> Detector:
    import keras

    from digitnet.reading.model_source import check_keras_archive

    directory = Path(directory) if directory else default_detector_dir()
    if not (directory / MODEL_FILE).is_file() or not (directory / THRESHOLD_FILE).is_file():
        raise DetectorError(
            f"no not-a-digit detector in {directory}; "
            f"make one with `digitnet detector train` ({TRAINING_TIME})"
        )
    try:
        check_keras_archive(directory / MODEL_FILE)  # a zip bomb is refused before Keras unpacks it
        model = keras.models.load_model(directory / MODEL_FILE, compile=False, safe_mode=True)
        threshold = float(json.loads((directory / THRESHOLD_FILE).read_text())["threshold"])
    except Exception as error:  # a damaged file: say so in one line
        raise DetectorError(
            f"the detector in {directory} is damaged ({error}); make a new one with `digitnet detector train`"
        ) from error
    return Detector(model, threshold, directory / MODEL_FILE, engine)
