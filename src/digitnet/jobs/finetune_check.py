"""What a fine-tuned model does on its writer's examples that it did NOT train on.

Scoring a model on the few images it was just tuned on says little (it has seen them hundreds of
times). So `finetune` holds out a share of the writer's examples, stratified by digit
(heldout_split), fine-tunes a second copy of the source on the rest with the same steps and seed,
and scores that copy on the held-out ones: an honest estimate of how the tuned model reads this
writer's next digits. The model it writes is then tuned on all the examples (more data, the same
recipe), so the estimate is of a slightly weaker model than the one delivered: slightly pessimistic.
A single split rather than k-fold cross-validation: each fold costs a whole fine-tuning, and k of
them would make a few-second command a minute-long one for a figure only somewhat less noisy.

The same held-out answers re-check the model's doubt (doubt_figures): the share of right answers
it flags and the share of wrong answers it catches, under the source's calibration and the detector
the tuned model reads with. The temperature is refitted on them only when they are enough to fit it
honestly (calibration_choice); otherwise the source's calibration is kept, and the reason is
recorded. A refit is fitted on the checking copy's answers and written with the model tuned on all
(the same recipe on a fifth more examples): the only answers it has not trained on.

Pure numpy here; the fine-tuning itself is digitnet.jobs.finetune.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HOLDOUT_FRACTION = 0.2  # of each digit's examples, rounded; at least one of each stays for training
MIN_FOR_HOLDOUT = 3  # a digit with fewer examples keeps them all for training: one held out of two
# would leave one to learn from and score a single image
# Refitting the temperature: one number, but fitted by the likelihood of the wrong answers mostly.
# With only right answers the likelihood keeps improving as the temperature falls, so the fit runs
# to overconfidence; with a few dozen examples it is noise. Below these the source's is kept.
MIN_CALIBRATION_EXAMPLES = 100
MIN_CALIBRATION_ERRORS = 5


def heldout_count(count: int, fraction: float) -> int:
    """How many of one digit's `count` examples are held out: `fraction` of them rounded half up,
    none below MIN_FOR_HOLDOUT, and never all but none."""
    if count < MIN_FOR_HOLDOUT or fraction <= 0:
        return 0
    return min(count - 1, int(np.floor(count * fraction + 0.5)))


def heldout_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices), sorted: heldout_count of each digit's examples held
    out, chosen by a generator seeded with `seed` (the same examples and seed, the same split)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        take = heldout_count(len(members), fraction)
        if take:
            held.extend(rng.choice(members, take, replace=False).tolist())
    held_out = np.asarray(sorted(held), np.int64)
    training = np.setdiff1d(np.arange(len(labels)), held_out)
    return training, held_out


def no_holdout_reason(per_digit: list[int], fraction: float) -> str:
    """Why nothing was held out, in words (for the printout and finetune.json)."""
    if fraction <= 0:
        return "not measured: --holdout 0"
    return (
        f"not measured: no digit has {MIN_FOR_HOLDOUT} or more examples to hold one out "
        f"(examples per digit: {per_digit})"
    )


def doubt_figures(reasons: np.ndarray, correct: np.ndarray) -> dict:
    """The doubt re-check: of the right answers, the share flagged (any reason); of the wrong ones,
    the share caught. A share is None when there is no answer of that kind."""
    flagged = np.asarray(reasons) != "none"
    correct = np.asarray(correct, bool)
    right, wrong = int(correct.sum()), int((~correct).sum())
    return {
        "right": right,
        "wrong": wrong,
        "right_flagged_count": int(flagged[correct].sum()),
        "wrong_caught_count": int(flagged[~correct].sum()),
        "right_flagged": float(flagged[correct].mean()) if right else None,
        "wrong_caught": float(flagged[~correct].mean()) if wrong else None,
    }


def calibration_choice(held_out: int, wrong: int) -> tuple[bool, str]:
    """(refit the temperature?, why) for `held_out` answers of which `wrong` were wrong."""
    if held_out >= MIN_CALIBRATION_EXAMPLES and wrong >= MIN_CALIBRATION_ERRORS:
        return True, (
            f"refitted on the {held_out} held-out examples ({wrong} read wrong before refitting; "
            f"at least {MIN_CALIBRATION_EXAMPLES} with {MIN_CALIBRATION_ERRORS} wrong are needed)"
        )
    return False, (
        f"the source's calibration is kept: {held_out} held-out examples with {wrong} read wrong are "
        f"too few to fit a temperature honestly (at least {MIN_CALIBRATION_EXAMPLES} with "
        f"{MIN_CALIBRATION_ERRORS} wrong are needed)"
    )


@dataclass(frozen=True)
class HeldOutCheck:
    examples: int  # held out
    examples_per_digit: list[int]
    trained_on: int  # examples the checking copy was tuned on (the rest)
    accuracy_before: float  # the source model on the held-out examples, answers as reading gives them
    accuracy_after: float  # the copy tuned on the rest, on the held-out examples
    doubt: dict  # doubt_figures under the source's calibration (and detector), before any refit
    calibration_refitted: bool
    calibration_reason: str
    temperature_before: float
    temperature_after: float
    seconds: float  # the checking copy's fine-tuning steps

    def to_dict(self) -> dict:
        return asdict(self)
