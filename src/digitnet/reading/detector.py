"""The not-a-digit detector's reading half: choose one, load it (a small network and its threshold)
and score images with it. Training one is digitnet.jobs.detector_train (`digitnet detector train`).

Which detector reads a model's inputs, first found wins (choose_detector):

1. `--detector DIR` (detector_dir): the one the user named;
2. the model's own detector/ folder (the shipped model's, checked against its card; a fine-tuned
   model's, copied from the model it was tuned from);
3. the one `digitnet detector train` cached (default_detector_dir), when there is one;
4. the detector shipped with digitnet, its LiteRT file checked against the shipped card: a model
   without a detector of its own (a `digitnet train` run, a .keras file, an ensemble) still says
   "not a digit" out of the box.

The choice is made by which files exist, never by whether loading works: a named, own or cached
detector that cannot be used is reported (DetectorError), not silently replaced by another.
"""

from __future__ import annotations

import dataclasses
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

# Where the detector in use came from (Detector.origin), in the order choose_detector tries them.
ORIGINS = ("named", "own", "cached", "shipped")


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
    source: Path | None = None  # its detector.keras, or its detector.tflite when it has no .keras file
    origin: str = "named"  # one of ORIGINS

    def scores(self, images: np.ndarray) -> np.ndarray:
        return logit_scores(self.logits_fn, images)

    def not_a_digit(self, images: np.ndarray) -> np.ndarray:
        return self.scores(images) < self.threshold


def load_detector(directory: Path | None = None, engine: str = "auto") -> Detector:
    """The detector in `directory` (default: the one `digitnet detector train` cached), run by LiteRT:
    the LiteRT file bound to its detector.keras, or, in a folder without one (a packaged model's,
    a model's tuned from it), its detector.tflite alone."""
    from digitnet.reading.engine import EngineError, check_engine

    check_engine(engine)
    directory = Path(directory) if directory else default_detector_dir()
    if not has_detector(directory):
        raise DetectorError(
            f"no not-a-digit detector in {directory}; "
            f"make one with `digitnet detector train` ({TRAINING_TIME})"
        )
    try:
        threshold = float(json.loads((directory / THRESHOLD_FILE).read_text())["threshold"])
        logits_fn, network = _network_logits(directory)
    except (OSError, ValueError, KeyError, TypeError, EngineError) as error:  # a damaged file: one line
        raise DetectorError(
            f"the detector in {directory} cannot be used ({error}); "
            "make a new one with `digitnet detector train`"
        ) from error
    return Detector(logits_fn, threshold, network)


def _network_logits(directory: Path):
    """(logits function, the file it came from) of the detector's network in `directory`."""
    from digitnet.reading.engine import litert_logits, logits_functions

    if (directory / MODEL_FILE).is_file():
        (logits_fn,) = logits_functions([directory / MODEL_FILE])
        return logits_fn, directory / MODEL_FILE
    path = directory / LITERT_FILE
    return litert_logits(path.read_bytes(), path), path


def has_detector(directory: Path | None) -> bool:
    """True when `directory` holds a detector's files, its threshold and its network (.keras or
    LiteRT), usable or not: loading says which."""
    if directory is None or not (Path(directory) / THRESHOLD_FILE).is_file():
        return False
    return any((Path(directory) / name).is_file() for name in (MODEL_FILE, LITERT_FILE))


def choose_detector(source, detector_dir: Path | None = None) -> tuple[str, Path | None]:
    """(origin, folder) of the detector that reads `source` (a ModelSource): the order in this
    module's docstring. The shipped detector's folder is None: it is read through its card."""
    if detector_dir is not None:
        return "named", Path(detector_dir)
    if source.detector_dir is not None:
        return "own", source.detector_dir
    if has_detector(default_detector_dir()):
        return "cached", default_detector_dir()
    return "shipped", None


def load_shipped_detector(engine: str = "auto") -> Detector:
    """The detector shipped with digitnet: its LiteRT file and threshold, each checked against the
    shipped card (ShippedModelError on a mismatch); no TensorFlow, no conversion."""
    from digitnet.layout import DETECTOR_DIR
    from digitnet.reading.engine import check_engine, litert_logits
    from digitnet.reading.model_source import default_model_dir, read_shipped_file

    check_engine(engine)
    directory = default_model_dir()
    flatbuffer = read_shipped_file(directory, f"{DETECTOR_DIR}/{LITERT_FILE}")
    threshold_json = read_shipped_file(directory, f"{DETECTOR_DIR}/{THRESHOLD_FILE}")
    threshold = float(json.loads(threshold_json)["threshold"])
    path = directory / DETECTOR_DIR / LITERT_FILE
    return Detector(litert_logits(flatbuffer, path), threshold, path, origin="shipped")


def find_detector(source, detector_dir: Path | None = None, engine: str = "auto") -> Detector:
    """The detector choose_detector picks for `source`, loaded; DetectorError when it cannot be used.

    The shipped model's own detector and the shipped fallback are read through the card; a damaged
    shipped file refuses the shipped model (ShippedModelError), but for another model it only
    costs the detector (DetectorError): that model's own answers are still sound.
    """
    from digitnet.reading.model_source import ShippedModelError

    origin, directory = choose_detector(source, detector_dir)
    if origin == "own" and source.is_default:
        return dataclasses.replace(load_shipped_detector(engine), origin="own")
    if origin == "shipped":
        try:
            return load_shipped_detector(engine)
        except ShippedModelError as error:
            raise DetectorError(f"the shipped detector cannot be used: {error}") from error
    return dataclasses.replace(load_detector(directory, engine), origin=origin)
