"""Would flagging on the detector and the network's confidence together flag more non-digits?

    python benchmarks/joint_doubt.py [--out FILE]

Prints JSON. The shipped reading model flags an image when its calibrated confidence is under its
threshold, when the detector's logit is under its threshold, or when it is blank. A joint rule
adds a third test: the sum of the two margins, the detector's logit minus its threshold and
`weight` times the confidence's log-odds minus its threshold's, under `margin`. For each weight,
the largest margin that flags at most EXTRA_COST more of each kind of validation digit; against
it, the detector's threshold alone raised as far at the same cost. Both on benchmarks/
detector_choice.py's validation draws (digits of training writers and fonts from unused seeds,
MNIST validation; the three validation families), never on held-out sets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import detector_choice  # noqa: E402
from machine import describe_machine  # noqa: E402

WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0)
EXTRA_COST = 0.005  # of each kind of validation digit, flagged beyond the shipped rule
MARGIN_STEPS = 401


def log_odds(probability: np.ndarray) -> np.ndarray:
    p = np.clip(probability, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def signals(predictor, images: np.ndarray) -> dict[str, np.ndarray]:
    """The detector's logit, the calibrated confidence and the blank test of each image."""
    from digitnet.reading.uncertainty import too_faint_to_read

    images = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
    scores = predictor.model.read(images, predictor.calibration)[1]
    return {
        "detector": predictor.detector.scores(images),
        "confidence": scores.max(axis=1) if scores.ndim == 2 else scores,
        "blank": too_faint_to_read(images),
    }


def flagged(
    sets: dict, thresholds: tuple[float, float], weight: float = 0.0, margin: float = -np.inf
) -> dict:
    detector_threshold, confidence_threshold = thresholds
    shares = {}
    for name, s in sets.items():
        joint = (s["detector"] - detector_threshold) + weight * (
            log_odds(s["confidence"]) - log_odds(np.float64(confidence_threshold))
        )
        flags = (
            s["blank"]
            | (s["detector"] < detector_threshold)
            | (s["confidence"] < confidence_threshold)
            | (joint < margin)
        )
        shares[name] = float(np.mean(flags))
    return shares


def furthest_within_cost(sets: dict, make_shares, grid: np.ndarray, base: dict) -> dict:
    """The shares at the last grid value whose extra digit flags stay within EXTRA_COST."""
    digits = [name for name in sets if name.startswith("digits")]
    best = base
    for value in grid:
        shares = make_shares(value)
        if all(shares[name] - base[name] <= EXTRA_COST + 1e-12 for name in digits):
            best = {**shares, "at": round(float(value), 3)}
    return best


def summary(shares: dict) -> dict:
    families = [v for k, v in shares.items() if k.startswith("validation families")]
    return {
        **{k: round(v, 4) for k, v in shares.items()},
        "families_mean": round(float(np.mean(families)), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.reading.predict import Predictor
    from digitnet.util.fileio import atomic_write_text

    data = load_mnist()
    predictor = Predictor()
    drawn = detector_choice.validation_sets(data)
    sets = {
        name: signals(predictor, images)
        for name, images in drawn.items()
        if name.startswith(("digits", "validation families"))
    }
    thresholds = (predictor.detector.threshold, predictor.calibration.confidence_threshold)
    base = flagged(sets, thresholds)
    detector_alone = furthest_within_cost(
        sets,
        lambda t: flagged(sets, (t, thresholds[1])),
        np.linspace(thresholds[0], thresholds[0] + 6, 601),
        base,
    )
    joint = {
        str(weight): summary(
            furthest_within_cost(
                sets,
                lambda m, w=weight: flagged(sets, thresholds, w, m),
                np.linspace(0, 8, MARGIN_STEPS),
                base,
            )
        )
        for weight in WEIGHTS
    }
    report = {
        "benchmark": "joint_doubt",
        "machine": describe_machine(),
        "extra_cost": EXTRA_COST,
        "thresholds": {"detector": thresholds[0], "confidence": thresholds[1]},
        "shipped_rule": summary(base),
        "detector_threshold_raised": summary(detector_alone),
        "joint_rule_by_weight": joint,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
