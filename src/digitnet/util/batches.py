"""Running a logits function over a set of images in batches: shared by reading and training."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitnet.shapes import NUM_CLASSES

LogitsFn = Callable[[np.ndarray], np.ndarray]


def predict_logits(logits_fn: LogitsFn, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logits for every image, computed in batches so no set is ever one huge tensor."""
    if 0 < len(images) <= batch_size:  # one chunk: skip the list and the copy (batch-1 latency)
        return np.asarray(logits_fn(images))
    chunks = [logits_fn(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), np.float32)
