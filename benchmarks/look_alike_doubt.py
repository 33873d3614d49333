"""Would a flag for a close look-alike pair (1 and 7) catch confident errors more cheaply? JSON.

    python benchmarks/look_alike_doubt.py --runs DIR,DIR,DIR [--per-form 60] [--out JSON]

The reading model flags an answer whose calibrated confidence is under its threshold. The pair
rule adds a flag where the two most probable digits are 1 and 7 (either way round) and the second
is at least RATIO times as probable as the first: the flat-flag 1 read as 7 is the commonest
confident error, and a threshold on the top probability alone cannot single it out. Against it,
the confidence threshold alone raised to flag as many right answers. Each network (a run of the
read recipe, one per seed) is calibrated as `make model` calibrates it and read as `predict`
reads (answers and probabilities over the shifts); the detector, the same for every rule, is left
out. Validation sets only (benchmarks/synthetic_draws.py's: MNIST validation, training-font
digits, training-split writers, validation fonts, and PER_FORM digits of each allograph by
training-split writers, all from seeds no training run draws); MNIST test is not read. For each
rule: the right answers flagged and the confident errors (wrong and not flagged, of all digits),
each the mean over the five sets, and the flat-flag 1s caught. The pair rule would be worth
shipping only where, at the same share of right answers flagged, it leaves fewer confident errors
than the threshold alone, for every seed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import shift_answers  # noqa: E402
import synthetic_draws  # noqa: E402
from machine import describe_machine  # noqa: E402
from report import emit_json  # noqa: E402

PAIR = (1, 7)
RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
THRESHOLDS = tuple(np.round(np.arange(0.70, 0.991, 0.01), 2))
FORM = "1 flat flag"
CAUGHT = f"{FORM} misread, caught"


def read_sets(run_dir: Path, data, evaluation: dict) -> tuple[dict, float]:
    """{set: (answers, confidence scored, probabilities shown, labels, forms or None)}, threshold."""
    model, calibration = shift_answers.calibrated_network(run_dir / "model.keras", data)
    sets = {name: (x, y, None) for name, (x, y) in evaluation["sets"].items() if "MNIST test" not in name}
    forms = evaluation["forms"]
    sets["forms"] = (forms.images, forms.labels, forms.forms)
    read = {}
    for name, (images, labels, form_names) in sets.items():
        answers, scores, shown = model.read(
            np.asarray(images, np.float32).reshape(-1, 28, 28, 1), calibration
        )
        read[name] = (answers, scores, np.asarray(shown), np.asarray(labels), form_names)
    return read, calibration.confidence_threshold


def pair_flags(answers: np.ndarray, shown: np.ndarray, ratio: float) -> np.ndarray:
    """Where the top two digits are the pair and the second is at least `ratio` times the first."""
    rows = np.arange(len(answers))
    second = np.argsort(shown, axis=1)[:, -2]
    both = np.isin(answers, PAIR) & np.isin(second, PAIR) & (answers != second)
    return both & (shown[rows, second] >= ratio * shown[rows, answers])


def shares(read: dict, threshold: float, ratio: float | None) -> dict:
    """Right answers flagged and confident errors, means over the sets; the flat-flag 1s caught."""
    right_flagged, confident_errors, caught = [], [], None
    for answers, scores, shown, labels, form_names in read.values():
        right, flagged = answers == labels, scores < threshold
        if ratio is not None:
            flagged |= pair_flags(answers, shown, ratio)
        right_flagged.append(flagged[right].mean())
        confident_errors.append((~right & ~flagged).mean())
        if form_names is not None:
            wrong = (form_names == FORM) & ~right
            caught = float(flagged[wrong].mean()) if wrong.any() else None
    return {
        "right flagged": round(float(np.mean(right_flagged)), 5),
        "confident errors": round(float(np.mean(confident_errors)), 5),
        CAUGHT: None if caught is None else round(caught, 4),
    }


def at_equal_cost(curve: list[dict], right_flagged: float, key: str) -> float:
    """The threshold-alone curve's `key` where it flags `right_flagged` of right answers."""
    costs = np.asarray([row["right flagged"] for row in curve])
    values = np.asarray([row[key] for row in curve], np.float64)
    order = np.argsort(costs)
    return round(float(np.interp(right_flagged, costs[order], values[order])), 5)


def compare(read: dict, threshold: float) -> dict:
    curve = [{"threshold": float(t), **shares(read, float(t), None)} for t in THRESHOLDS]
    pairs = []
    for ratio in RATIOS:
        row = {"ratio": ratio, **shares(read, threshold, ratio)}
        for key in ("confident errors", CAUGHT):
            alone = at_equal_cost(curve, row["right flagged"], key)
            row[f"threshold alone, same right flagged: {key}"] = alone
        pairs.append(row)
    return {
        "shipped rule": {"threshold": round(threshold, 4), **shares(read, threshold, None)},
        "pair rule (shipped threshold)": pairs,
        "threshold alone": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="comma-separated run directories, one per seed")
    parser.add_argument("--per-form", type=int, default=60, help="digits of each allograph")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist

    data = load_mnist()
    evaluation = synthetic_draws.evaluation_sets(data, args.per_form)
    networks = {}
    for run in args.runs.split(","):
        read, threshold = read_sets(Path(run), data, evaluation)
        networks[run] = compare(read, threshold)
    better = [
        row["confident errors"] < row["threshold alone, same right flagged: confident errors"]
        for result in networks.values()
        for row in result["pair rule (shipped threshold)"]
    ]
    report = {
        "benchmark": "look_alike_doubt",
        "machine": describe_machine(),
        "pair": list(PAIR),
        "sets": "validation: " + ", ".join([*synthetic_draws.DOUBT_SETS, "forms"]),
        "networks": networks,
        "pair rule ahead at equal cost (ratio x seed)": f"{sum(better)} of {len(better)}",
    }
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
