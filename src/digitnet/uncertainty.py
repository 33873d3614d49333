"""When to say "not a digit": flags inputs the model should not answer with confidence.

Three signals, any one of which flags an image:
- no ink at all after preprocessing (a blank page);
- the not-a-digit detector (digitnet.detector) scores it below its threshold;
- the classifier's combined probability for its answer is below the confidence threshold: the
  model's own (calibration.json, chosen on validation data after temperature scaling), else
  CONFIDENCE_THRESHOLD.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE_THRESHOLD = 0.5  # below this the classifier itself is guessing
INK_THRESHOLD = 0.05  # brightest pixel below this: nothing was drawn


def is_blank(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    return images.reshape(len(images), -1).max(axis=1, initial=0.0) < INK_THRESHOLD


def flag_uncertain(combined_probabilities: np.ndarray, images: np.ndarray,
                   detector=None, confidence_threshold: float = CONFIDENCE_THRESHOLD) -> np.ndarray:
    """(N,) bool: True where the answer should not be trusted.

    combined_probabilities: (N, 10); images: (N, 28, 28, 1) as the model saw them;
    detector: a digitnet.detector.Detector, or None to rely on the other two signals.
    """
    flags = is_blank(images) | (np.asarray(combined_probabilities).max(axis=1) < confidence_threshold)
    if detector is not None and len(images):
        flags |= detector.not_a_digit(images)
    return flags
