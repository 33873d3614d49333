"""Making the reading model that ships inside digitnet: train, detector, calibration, package.

`make model` runs these steps (scripts/make_model.py) with fixed seeds:

1. train the `read` recipe (digitnet.training.config.RECIPES) into a run directory (resumable);
2. train a not-a-digit detector whose positives are style-varied digits (MNIST as given and
   re-rendered like users' images, plus digits from the TRAINING handwriting fonts) and whose
   negatives are the TRAINING negative families only (digitnet.data.negatives.TRAIN_KINDS);
3. fit the calibration (temperature, then the doubt threshold) on validation digits only:
   MNIST's validation split and training-font digits rendered with a seed training never used;
4. copy what predicting needs into the package (model.keras, config.json, metrics.csv,
   calibration.json, detector/) with a card.json saying how it was made.

Held-out fonts, held-out negative families and MNIST's test split are never used here: they are
for benchmarks/handwriting.py alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.data.mnist import Mnist
from digitnet.layout import CALIBRATION_FILE, CONFIG_FILE, DETECTOR_DIR, METRICS_FILE, MODEL_FILE
from digitnet.reading.calibration import Calibration, fit_calibration, save_calibration
from digitnet.util.fileio import atomic_write_text, file_sha256, publish_directory

RECIPE = "read"
SEED = 0
# Seeds for the validation renderings: distinct from every training seed (run seeds are small).
VALIDATION_FONT_SEED = 9_001
DETECTOR_FONT_SEED = 7_001
VALIDATION_FONT_DIGITS = 2_000  # training-font digits rendered for validation
DETECTOR_FONT_DIGITS = 10_000  # training-font digits among the detector's positives
# Share of validation digits the confidence threshold flags. The budget for real digits is 5%
# in all (detector included); this leaves room for the detector and for writers less familiar
# than the validation digits.
CONFIDENCE_FLAG_RATE = 0.02
DETECTOR_FLAG_RATE = 0.01  # of validation digits, for the detector's threshold
CARD_FILE = "card.json"
SHIPPED_FILES = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, CALIBRATION_FILE)


@dataclass(frozen=True)
class ValidationDigits:
    images: np.ndarray  # float32 (N, 28, 28, 1)
    labels: np.ndarray  # int32 (N,)
    description: str


def validation_digits(data: Mnist, font_digits: int = VALIDATION_FONT_DIGITS) -> ValidationDigits:
    """MNIST's validation split plus training-font digits from a seed no training run uses."""
    from digitnet.data.synthetic import render_digits

    images, labels = render_digits(font_digits, split="train", seed=VALIDATION_FONT_SEED)
    return ValidationDigits(
        np.concatenate([data.validation.images, images[..., np.newaxis].astype(np.float32)]),
        np.concatenate([data.validation.labels, labels.astype(np.int32)]),
        f"MNIST validation ({len(data.validation)}) + training-font digits ({font_digits}, "
        f"seed {VALIDATION_FONT_SEED})",
    )


def calibrate(
    model_path: Path, validation: ValidationDigits, flag_rate: float = CONFIDENCE_FLAG_RATE
) -> Calibration:
    """Temperature and confidence threshold of one network, from validation digits."""
    from digitnet.reading.calibration import scaled_probabilities
    from digitnet.reading.predict import ProbabilityModel
    from digitnet.reading.uncertainty import shifted_confidence

    model = ProbabilityModel(model_path, engine="keras")
    logits = model.member_logits(validation.images)[0]

    def shifted_scores(temperature: float) -> np.ndarray:
        probabilities = scaled_probabilities(logits, temperature)
        return shifted_confidence(
            lambda images: scaled_probabilities(model.member_logits(images)[0], temperature),
            validation.images,
            probabilities.argmax(axis=1),
            probabilities,
        )

    return fit_calibration(
        logits, validation.labels, flag_rate, validation.description, shifted_confidence=shifted_scores
    )


def detector_positives(data: Mnist, seed: int) -> np.ndarray:
    """Style-varied digits, float32 (N, 28, 28): training-font digits (the detector must not reject
    a digit for its style); MNIST's own come in through make_training_set."""
    from digitnet.data.synthetic import render_digits

    images, _ = render_digits(DETECTOR_FONT_DIGITS, split="train", seed=DETECTOR_FONT_SEED + seed)
    return images.astype(np.float32)


def train_reading_detector(
    data: Mnist, out_dir: Path, *, negatives: int = 30_000, epochs: int = 3, seed: int = 0, on_epoch=None
) -> float:
    """The detector for the reading model; its threshold flags DETECTOR_FLAG_RATE of validation digits."""
    from digitnet.data.negatives import load_fashion
    from digitnet.jobs import detector_train

    font_digits = validation_digits(data, font_digits=2000).images[len(data.validation) :, ..., 0]
    return detector_train.train_on_mnist(
        data,
        load_fashion("train"),
        out_dir,
        negatives=negatives,
        epochs=epochs,
        seed=seed,
        extra_positives=detector_positives(data, seed),
        extra_holdout=font_digits,
        flag_rate=DETECTOR_FLAG_RATE,
        on_epoch=on_epoch,
    )


def package_model(run_dir: Path, destination: Path, card: dict) -> dict:
    """Copy the files predicting needs from `run_dir` into `destination`, replacing it whole."""
    run_dir, destination = Path(run_dir), Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}-"))
    try:
        for name in SHIPPED_FILES:
            shutil.copy2(run_dir / name, staging / name)
        shutil.copytree(run_dir / DETECTOR_DIR, staging / DETECTOR_DIR)
        (staging / "__init__.py").write_text("")  # keeps it a package-data folder setuptools ships
        card = {
            **card,
            "sha256": {name: file_sha256(staging / name) for name in SHIPPED_FILES},
            "detector_sha256": {
                path.name: file_sha256(path) for path in sorted((staging / DETECTOR_DIR).iterdir())
            },
        }
        atomic_write_text(staging / CARD_FILE, json.dumps(card, indent=2, sort_keys=True) + "\n")
        _make_readable(staging)
        if destination.exists():
            backup = destination.with_name(f".{destination.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            destination.rename(backup)
            publish_directory(staging, destination)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            publish_directory(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card


def _make_readable(root: Path) -> None:
    # Temp files and folders are created private (0600/0700); package data is read by everyone.
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def save_model_calibration(run_dir: Path, calibration: Calibration) -> Path:
    path = Path(run_dir) / CALIBRATION_FILE
    save_calibration(calibration, path)
    return path
