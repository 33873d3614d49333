"""How far the synthetic writer's flagged 1s can be told from its 7s at all: prints JSON.

    python benchmarks/one_or_seven.py [--train 30000] [--out JSON]

A 1 with a short flag, written wide (digitnet.data.writer's wide writers) or stretched into a square
box by a form reader, is drawn much as a 7 is. How much of the reading model's miss on that form is
the form's own ambiguity? A specialist answers: a small CNN trained only to tell the synthetic
writer's 1s from its 7s (every form of each equally often, TRAIN digits by TRAINING-split writers),
scored on other training-split writers' digits drawn from benchmarks/writers.py's VALIDATION_SEED
(never on held-out writers), form by form, per medium and per writer width. Where the specialist,
with nothing else to learn, still misses a form, the ten-digit model cannot be asked for more.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hard_forms import breakdown  # noqa: E402
from machine import describe_machine  # noqa: E402
from report import emit_json  # noqa: E402
from writers import VALIDATION_SEED  # noqa: E402

TRAIN_SEED = 4_242  # no training run of the reading model draws it
EPOCHS = 6
PER_FORM = 2_000  # 200 writers a form: each writer writes ten digits of it


def forms(digit: int) -> list[str]:
    from digitnet.data.writer import forms_of

    return [allograph.name for allograph in forms_of(digit)]


def specialist():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(1),
        ]
    )


def train_specialist(count: int):
    import keras

    from digitnet.data.writer import write_digits

    keras.utils.set_random_seed(0)
    written = write_digits(count, "train", TRAIN_SEED, forms=forms(1) + forms(7))
    model = specialist()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    model.fit(
        written.images, (written.labels == 1).astype(np.float32), batch_size=128, epochs=EPOCHS, verbose=0
    )
    return model


def score(model, form: str) -> dict:
    from digitnet.data.writer import write_digits

    written = write_digits(PER_FORM, "train", VALIDATION_SEED, forms=[form])
    says_one = model.predict(written.images, batch_size=1000, verbose=0)[:, 0] > 0
    return breakdown(says_one == (written.labels == 1), written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=30_000, help="training digits (1s and 7s)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    started = time.perf_counter()
    model = train_specialist(args.train)
    report = {
        "benchmark": "one_or_seven",
        "machine": describe_machine(),
        "training": f"{args.train} digits, every form of 1 and 7 equally often, training-split writers, "
        f"seed {TRAIN_SEED}; {EPOCHS} epochs",
        "validation": f"{PER_FORM} digits a form by training-split writers, seed {VALIDATION_SEED}",
        "forms": {form: score(model, form) for form in forms(1) + forms(7)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
