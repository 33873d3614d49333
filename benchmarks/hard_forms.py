"""Where the reading model misses the hardest digit forms: accuracy by medium and by width: JSON.

    python benchmarks/hard_forms.py [--per-form 2000] [--out JSON]

For each allograph in FORMS (the forms below 98% on held-out writers in benchmarks/writers.py),
PER_FORM digits by TRAINING-split writers drawn with benchmarks/writers.py's VALIDATION_SEED (no
training run draws it; held-out writers are left to writers.py), read by the shipped network
without doubt or detector. Reports accuracy, what it is misread as, and accuracy per medium and
per writer width (digitnet.data.writer's width factor: above 1.6 are the "wide" writers who write
a 1 as wide as a 0). Validation digits only, so what it shows may guide what to try next.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402
from report import emit_json  # noqa: E402
from writers import VALIDATION_SEED, WIDTH_FACTOR_BINS, binned  # noqa: E402

FORMS = ("1 short flag", "1 long flag", "9 g tail", "4 long stem", "1 flag and foot")


def accuracy_by_medium(correct: np.ndarray, media: np.ndarray) -> dict[str, dict]:
    return {
        str(medium): {
            "count": int((media == medium).sum()),
            "accuracy": round(float(correct[media == medium].mean()), 3),
        }
        for medium in sorted(set(media.tolist()))
    }


def breakdown(correct: np.ndarray, written) -> dict:
    """Accuracy over digitnet.data.writer.WrittenDigits, in all, per medium and per writer width."""
    return {
        "accuracy": round(float(correct.mean()), 3),
        "by_medium": accuracy_by_medium(correct, written.media),
        "by_width_factor": binned(written.width_factors, correct, WIDTH_FACTOR_BINS),
    }


def score_form(model, form: str, count: int) -> dict:
    from digitnet.data.writer import write_digits

    written = write_digits(count, "train", VALIDATION_SEED, forms=[form])
    predicted, _ = model.predict(written.images)
    correct = predicted == written.labels
    misread = collections.Counter(map(str, predicted[~correct].tolist())).most_common(3)
    return {**breakdown(correct, written), "misread_as": dict(misread)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-form", type=int, default=2000, help="digits a form (ten a writer)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import Predictor

    model = Predictor(ModelSource.default(), use_detector=False).model
    report = {
        "benchmark": "hard_forms",
        "machine": describe_machine(),
        "model": "shipped",
        "digits": f"{args.per_form} per form by training-split writers, seed {VALIDATION_SEED}",
        "forms": {form: score_form(model, form, args.per_form) for form in FORMS},
    }
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
