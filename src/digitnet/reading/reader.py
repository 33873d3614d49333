"""The Python API's reader: what Python users hold in, digits with their source and doubt out.

    reader = digitnet.Reader()                      # the shipped model, loaded once
    for reading in reader.read(["seven.png", pil_image, array]):
        print(reading.source, reading.digit, reading.reason)

    digitnet.predict_images(inputs, model=None)     # the same, for one call

Inputs are file paths, encoded bytes, PIL images and numpy arrays (see digitnet.data.held), each
read as `digitnet predict` reads a file. Reading runs LiteRT files only: it imports no TensorFlow
or Keras, and LiteRT's own start-up line is kept off the terminal (digitnet.reading.engine).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from digitnet.reading.model_source import ModelSource
from digitnet.reading.predict import Prediction, Predictor

READ_BATCH = 100  # images read and predicted at a time (as `digitnet predict` does)


@dataclass(frozen=True)
class Reading(Prediction):
    """A Prediction with the name of what was read: the path, the image's file name, "<array 0>"."""

    source: str = ""

    def to_dict(self) -> dict:
        return {"source": self.source, **super().to_dict()}


class Reader:
    """A loaded model that reads what Python users hold.

    model: a run directory, .keras file, ensemble or ModelSource; None (or "default"), the reading
    model shipped with digitnet, with its calibration and not-a-digit detector. `detector_problem`
    says why there is no detector, when there is none (then only blank and low-confidence inputs
    are flagged uncertain).
    """

    def __init__(
        self,
        model: Path | str | ModelSource | None = None,
        *,
        rule: str = "mean",
        engine: str = "auto",
        detector_dir: Path | None = None,
    ):
        self.predictor = Predictor(
            None if model is None else model if isinstance(model, ModelSource) else Path(model),
            rule=rule,
            detector_dir=detector_dir,
            engine=engine,
        )
        self.detector_problem = self.predictor.detector_problem

    def read(self, inputs) -> list[Reading]:
        """The digit in each input, in order; ImageError naming the first input that cannot be read."""
        return list(self.iter_read(inputs))

    def iter_read(self, inputs, batch_size: int = READ_BATCH) -> Iterator[Reading]:
        """As read, batch by batch: the first answers come before the last input is read."""
        from digitnet.data.held import held_inputs, held_to_mnist

        named = held_inputs(inputs)
        for start in range(0, len(named), batch_size):
            batch = named[start : start + batch_size]
            images = np.stack([held_to_mnist(item, name) for name, item in batch])[..., np.newaxis]
            for (name, _), prediction in zip(batch, self.predictor.predict(images)):
                yield Reading(**asdict(prediction), source=name)


def predict_images(
    inputs,
    model: Path | str | ModelSource | None = None,
    *,
    rule: str = "mean",
    engine: str = "auto",
) -> list[Reading]:
    """The digit in each input (paths, bytes, PIL images, numpy arrays: see Reader), read as
    `digitnet predict` reads a file. model None: the reading model shipped with digitnet."""
    return Reader(model, rule=rule, engine=engine).read(inputs)
