"""When to say "not a digit": flags inputs the model should not answer with confidence, and why.

Three signals, any one of which flags an image (its reason, in REASONS, names the strongest):
- nothing drawn: no pixel reaches INK_THRESHOLD after preprocessing (a blank page);
- the not-a-digit detector (digitnet.reading.detector) scores it below its threshold;
- the classifier's combined probability for its answer is below the confidence threshold: the
  model's own (calibration.json, chosen on validation data after temperature scaling), else
  CONFIDENCE_THRESHOLD.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE_THRESHOLD = 0.5  # below this the classifier itself is guessing
# Test-time shifts by one pixel: an answer that holds only at one exact placement is a guess.
# Measured on validation digits (MNIST validation + training-font digits), the answer's mean
# probability over these copies separates right from wrong better than its probability alone.
TEST_TIME_SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1))
INK_THRESHOLD = 0.05  # brightest pixel below this: nothing was drawn


def too_faint_to_read(images: np.ndarray) -> np.ndarray:
    """Per image of a batch: its brightest pixel is below INK_THRESHOLD, so nothing was drawn
    (stricter than digitnet.data.preprocess.has_no_ink, which looks for any ink at all)."""
    images = np.asarray(images)
    return images.reshape(len(images), -1).max(axis=1, initial=0.0) < INK_THRESHOLD


def shifted(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(N, H, W, ...) images moved by (rows, cols) pixels, zeros shifted in."""
    images = np.asarray(images)
    out = np.zeros_like(images)
    height, width = images.shape[1:3]
    out[:, max(rows, 0) : height + min(rows, 0), max(cols, 0) : width + min(cols, 0)] = images[
        :, max(-rows, 0) : height + min(-rows, 0), max(-cols, 0) : width + min(-cols, 0)
    ]
    return out


def shift_averaged(
    probabilities_fn, images: np.ndarray, probabilities: np.ndarray, shifts=TEST_TIME_SHIFTS
) -> np.ndarray:
    """(N, 10) each image's probabilities averaged over it and its copies moved by `shifts`
    ((rows, cols) pairs; reading uses TEST_TIME_SHIFTS).

    probabilities_fn: images -> (N, 10) probabilities (the model's combined ones);
    probabilities: what it gave for the unshifted images (not computed again).
    """
    count = len(probabilities)
    copies = np.concatenate([shifted(images, dy, dx) for dy, dx in shifts])
    moved = np.asarray(probabilities_fn(copies)).reshape(len(shifts), count, -1)
    return (np.asarray(probabilities) + moved.sum(axis=0)) / (1 + len(moved))


# Why an answer is doubted, strongest first: nothing drawn; drawn, but the detector says it is no
# digit; a digit the classifier cannot tell (its confidence below the threshold); or no doubt.
REASONS = ("blank", "not-a-digit", "unsure", "none")


def doubt_reasons(
    combined_probabilities: np.ndarray,
    images: np.ndarray,
    detector=None,
    confidence_threshold: float = CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """(N,) one of REASONS an image: the strongest signal that flags it, or "none".

    combined_probabilities: (N, 10), or (N,) confidence scores already computed (e.g.
    shifted_confidence); images: (N, 28, 28, 1) as the model saw them;
    detector: a digitnet.reading.detector.Detector, or None to rely on the other two signals.
    """
    scores = np.asarray(combined_probabilities)
    confidence = scores.max(axis=1) if scores.ndim == 2 else scores
    reasons = np.full(len(confidence), "none", dtype=object)
    reasons[confidence < confidence_threshold] = "unsure"
    if detector is not None and len(images):
        reasons[detector.not_a_digit(images)] = "not-a-digit"
    reasons[too_faint_to_read(images)] = "blank"
    return reasons


def flag_uncertain(
    combined_probabilities: np.ndarray,
    images: np.ndarray,
    detector=None,
    confidence_threshold: float = CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """(N,) bool: True where the answer should not be trusted (any reason but "none")."""
    return doubt_reasons(combined_probabilities, images, detector, confidence_threshold) != "none"
