"""`make model`: build the reading model shipped in src/digitnet/default_model
(see digitnet.jobs.model_build).

    python scripts/make_model.py [--run-dir runs/default-model] [--out src/digitnet/default_model]

Resumable: an interrupted training continues from its checkpoint, finished steps are kept.
Prints what it does on stderr and the card (JSON) on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_model(run_dir: Path, data) -> None:
    from digitnet import layout
    from digitnet.jobs.model_build import RECIPE, SEED
    from digitnet.training import loop
    from digitnet.training.config import recipe_config

    def on_epoch(row: dict) -> None:
        say(
            f"  epoch {int(row['epoch'])}: validation accuracy "
            f"{row['validation_accuracy']:.4f}, {row['elapsed_seconds']:.0f} s"
        )

    if (run_dir / layout.MODEL_FILE).is_file():
        say(f"training: {run_dir} is finished, kept")
    elif (run_dir / layout.CONFIG_FILE).is_file():
        say(f"training: resuming {run_dir}")
        loop.resume(run_dir, data, on_epoch=on_epoch, on_note=say)
    else:
        config = recipe_config(RECIPE, seed=SEED)
        say(f"training the {RECIPE!r} recipe (seed {SEED}) into {run_dir}")
        loop.train(config, run_dir, data, on_epoch=on_epoch, on_note=say)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "default-model")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "digitnet" / "default_model")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.jobs import model_build
    from digitnet.jobs.keras_models import keras_probability_model
    from digitnet.layout import DETECTOR_DIR, MODEL_FILE
    from digitnet.training.metrics import accuracy
    from digitnet.training.runs import read_metrics, read_run_config

    data = load_mnist()
    train_model(args.run_dir, data)
    # The run's own record: training steps and per-epoch evaluation, across any resumes.
    train_seconds = read_metrics(args.run_dir)[-1]["elapsed_seconds"]

    detector_dir = args.run_dir / DETECTOR_DIR
    started = time.perf_counter()
    detector_seconds = None  # a detector kept from an earlier build: its time is that build's
    if (detector_dir / "detector.json").is_file():
        say(f"detector: {detector_dir} exists, kept")
    else:
        say("detector: rendering positives and negatives, then training (a few minutes)")
        model_build.train_reading_detector(
            data,
            detector_dir,
            seed=model_build.SEED,
            on_epoch=lambda epoch, epochs, loss: say(f"  detector epoch {epoch}/{epochs}: loss {loss:.4f}"),
        )
        detector_seconds = round(time.perf_counter() - started, 1)

    say("calibration: temperature and threshold on validation digits")
    validation = model_build.validation_digits(data)
    calibration = model_build.calibrate(args.run_dir / MODEL_FILE, validation)
    model_build.save_model_calibration(args.run_dir, calibration)
    say(
        f"  temperature {calibration.temperature:.3f}, threshold {calibration.confidence_threshold:.3f}, "
        f"validation NLL {calibration.validation_nll_before:.4f} -> {calibration.validation_nll_after:.4f}"
    )

    model = keras_probability_model(args.run_dir / MODEL_FILE, temperature=calibration.temperature)

    def read_accuracy(split) -> float:  # the answers as reading gives them, shifts and all
        return accuracy(model.read(split.images, calibration)[0], split.labels)

    config = read_run_config(args.run_dir)
    card = {
        "recipe": model_build.RECIPE,
        "seed": model_build.SEED,
        "arch": config.arch,
        "config": config.to_dict(),
        "data": "MNIST training split (55,000) + digits rendered from the training handwriting "
        "fonts (digitnet.data.synthetic) + digits by the training synthetic writers "
        "(digitnet.data.writer); calibration and thresholds on validation digits only",
        "mnist_validation_accuracy": read_accuracy(data.validation),
        # Reported on the card, after training, detector and calibration are fixed: nothing is chosen on it.
        "mnist_test_accuracy": read_accuracy(data.test),
        "mnist_test_accuracy_network_alone": accuracy(model.predict(data.test.images)[0], data.test.labels),
        "calibration": json.loads(calibration.to_json()),
        "seconds": {"training": round(train_seconds, 1), "detector": detector_seconds},
        "made_by": "make model (scripts/make_model.py)",
    }
    card = model_build.package_model(args.run_dir, args.out, card)
    say(f"packaged into {args.out}")
    print(json.dumps(card, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
