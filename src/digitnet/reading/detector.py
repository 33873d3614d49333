"""The not-a-digit detector's reading half: load one (a small network and its threshold) and score
images with it. Training one is digitnet.jobs.detector_train (`digitnet detector train`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.shapes import INPUT_SHAPE
from digitnet.util.batches import predict_logits
from digitnet.util.fileio import cache_dir

TRAINING_TIME = "a few minutes"  # of `digitnet detector train` on two cores, rendering included

MODEL_FILE = "detector.keras"

THRESHOLD_FILE = "detector.json"

LITERT_FILE = "detector.tflite"

DETECTOR_FILES = (LITERT_FILE, THRESHOLD_FILE)  # what reading uses: checked against the shipped card


class DetectorError(DigitnetError):
    """No usable detector; the message says how to make one."""


def default_detector_dir() -> Path:
    return cache_dir("detector")


def logit_scores(logits_fn, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    images = np.asarray(images, np.float32).reshape(-1, *INPUT_SHAPE)
    return predict_logits(logits_fn, images, batch_size).reshape(-1)


@dataclass
class Detector:
    logits_fn: object  # images -> "is a digit" logits (`.engine` on it says which engine runs it)
    threshold: float
    source: Path | None = None  # its detector.keras

    def scores(self, images: np.ndarray) -> np.ndarray:
        return logit_scores(self.logits_fn, images)

    def not_a_digit(self, images: np.ndarray) -> np.ndarray:
        return self.scores(images) < self.threshold


def load_detector(directory: Path | None = None, engine: str = "auto") -> Detector:
    """The detector in `directory` (default: the one `digitnet detector train` cached), run by LiteRT."""
    from digitnet.reading.engine import EngineError, check_engine, logits_functions

    check_engine(engine)
    directory = Path(directory) if directory else default_detector_dir()
    if not (directory / MODEL_FILE).is_file() or not (directory / THRESHOLD_FILE).is_file():
        raise DetectorError(
            f"no not-a-digit detector in {directory}; "
            f"make one with `digitnet detector train` ({TRAINING_TIME})"
        )
    try:
        threshold = float(json.loads((directory / THRESHOLD_FILE).read_text())["threshold"])
        (logits_fn,) = logits_functions([directory / MODEL_FILE])
    except (OSError, ValueError, KeyError, TypeError, EngineError) as error:  # a damaged file: one line
        raise DetectorError(
            f"the detector in {directory} cannot be used ({error}); "
            "make a new one with `digitnet detector train`"
        ) from error
    return Detector(logits_fn, threshold, directory / MODEL_FILE)
