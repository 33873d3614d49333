"""Ways to combine several networks' softmax outputs into one prediction: pure numpy.

Every rule takes member probabilities `probs` of shape (M, N, 10) (M members, N images)
and returns `(predicted, combined)`: the predicted classes (N,) and a combined (N, 10) score.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.shapes import NUM_CLASSES

Combination = tuple[np.ndarray, np.ndarray]


class UnknownRuleError(DigitnetError, KeyError):
    def __str__(self) -> str:
        return f"unknown combination rule {self.args[0]!r}; choose one of: {', '.join(sorted(RULES))}"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis; subtracting the row maximum keeps exp() from overflowing."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def _validated(probs) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[-1] != NUM_CLASSES:
        raise ValueError(
            f"member probabilities must have shape (members, images, {NUM_CLASSES}); got {probs.shape}"
        )
    if probs.shape[0] < 1:
        raise ValueError("cannot combine zero members; pass at least one member's probabilities")
    if not np.all(np.isfinite(probs)):
        raise ValueError("member probabilities contain NaN or infinity; check the members' outputs")
    return probs


def combine_mean_probability(probs) -> Combination:
    """Average the members' probabilities, then take the most probable class."""
    combined = _validated(probs).mean(axis=0)
    return combined.argmax(axis=1), combined


def combine_most_confident(probs) -> Combination:
    """For each image the member with the highest top probability decides (ties: lowest member index)."""
    probs = _validated(probs)
    decider = probs.max(axis=2).argmax(axis=0)  # argmax returns the first maximum: lowest index
    combined = probs[decider, np.arange(probs.shape[1])]
    return combined.argmax(axis=1), combined


def combine_majority_vote(probs) -> Combination:
    """Each member votes its top class; a tie between classes goes to the larger mean probability.

    `combined` holds the vote fractions (votes / members).
    """
    probs = _validated(probs)
    members, images = probs.shape[:2]
    votes = np.zeros((images, NUM_CLASSES), dtype=np.int64)
    for member_votes in probs.argmax(axis=2):
        votes[np.arange(images), member_votes] += 1
    tied = votes == votes.max(axis=1, keepdims=True)
    tie_break = np.where(tied, probs.mean(axis=0), -np.inf)
    return tie_break.argmax(axis=1), votes / members


RULES: dict[str, Callable[[np.ndarray], Combination]] = {
    "mean": combine_mean_probability,
    "most_confident": combine_most_confident,
    "vote": combine_majority_vote,
}


def combine(rule: str, probs) -> Combination:
    """Combine with the rule named `rule` (a key of RULES)."""
    if rule not in RULES:
        raise UnknownRuleError(rule)
    return RULES[rule](probs)
