"""When to say "not a digit": flags inputs the model should not answer with confidence."""

from __future__ import annotations

import numpy as np

# Below this combined probability the answer is flagged. Placeholder until measured by
# benchmarks/uncertainty.py.
CONFIDENCE_THRESHOLD = 0.9


def flag_uncertain(member_probabilities: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(N,) bool: True where the prediction should not be trusted.

    member_probabilities: (M, N, 10) softmax outputs of each member; images: (N, 28, 28, 1).
    """
    mean = member_probabilities.mean(axis=0)
    return mean.max(axis=1) < CONFIDENCE_THRESHOLD
