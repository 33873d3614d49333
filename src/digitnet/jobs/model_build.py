"""Making the reading model that ships inside digitnet: train, detector, calibration, package.

`make model` runs these steps (scripts/make_model.py) with fixed seeds:

1. train the `read` recipe (digitnet.training.config.RECIPES) into a run directory (resumable);
2. train a not-a-digit detector whose positives are style-varied digits (MNIST as given and
   re-rendered like users' images, plus digits from the TRAINING handwriting fonts the detector
   learns from: FontPackage.detector) and whose negatives are the TRAINING negative families only
   (digitnet.data.negatives.TRAIN_KINDS);
3. fit the calibration (temperature, then the doubt threshold) on validation digits only:
   MNIST's validation split and training-font digits rendered with a seed training never used;
4. copy what predicting needs into the package (model.tflite and detector/detector.tflite, the
   LiteRT files the reader runs, the detector's with float16 weights; model.keras, what finetune
   and export start from; config.json, metrics.csv, calibration.json, detector.json) with a
   card.json saying how it was made, its intended use and limits, and every file's SHA-256, which
   reading checks on load. The detector's .keras file stays in the run folder: nothing that reads
   the shipped model needs it, and it would take the package past its 2 MB budget.

Held-out fonts and held-out negative families are never used here: they are for
benchmarks/handwriting.py alone. MNIST's test split is read once, after every choice is made, for
the card's test accuracy (scripts/make_model.py); nothing is chosen on it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.data.mnist import Mnist
from digitnet.layout import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    DETECTOR_DIR,
    METRICS_FILE,
    MODEL_FILE,
    litert_path,
    read_litert_beside,
)
from digitnet.reading.calibration import Calibration, fit_calibration, save_calibration
from digitnet.reading.detector import MODEL_FILE as DETECTOR_KERAS_FILE  # in the run's detector/
from digitnet.training.config import DETECTOR
from digitnet.util.fileio import atomic_write_text, file_sha256, publish_directory

RECIPE = "read"
SEED = 0
# Seeds for the validation renderings: distinct from every training seed (run seeds are small).
VALIDATION_FONT_SEED = 9_001
DETECTOR_FONT_SEED = 7_001
VALIDATION_FONT_DIGITS = 2_000  # training-font digits rendered for validation
DETECTOR_FONT_DIGITS = 10_000  # training-font digits among the detector's positives
# Digits by TRAINING synthetic writers among the detector's positives, and among the digits its
# threshold is set on: it must not reject the forms the reading model learns (a flagged 1, a g-9).
# Eight times as many of each as at first (5,000 and 1,000), chosen on the validation families
# twice (benchmarks/detector_choice.py "writer_weighted", four times as many, then
# "writer_weighted_x8": docs/measurements/detector-choice-writer-weighted*.json).
DETECTOR_WRITER_DIGITS, DETECTOR_WRITER_SEED = 40_000, 7_101
THRESHOLD_WRITER_DIGITS, THRESHOLD_WRITER_SEED = 8_000, 7_201
EXTRA_FORMS_SEED = 7_301  # a candidate's extra writer digits in chosen forms (detector_positives)
# Share of validation digits the confidence threshold flags. The budget for real digits is 5%
# in all (detector included); this leaves room for the detector and for writers less familiar
# than the validation digits.
CONFIDENCE_FLAG_RATE = 0.02
DETECTOR_FLAG_RATE = 0.01  # of each kind of validation digit, for the detector's threshold
# The shipped detector is twice as wide as `digitnet detector train`'s and trained twice as long:
# chosen on validation (benchmarks/detector_choice.py, "larger", against the first network trained
# as long: docs/measurements/detector-choice-larger.json). Its files once took the shipped model
# past 2 MB; its LiteRT file with float16 weights and no .keras file in the package fit.
READING_DETECTOR_WIDTHS, READING_DETECTOR_EPOCHS = (32, 64, 128), 6
CARD_FILE = "card.json"
# What the card says of the model's use (`digitnet card` prints it). Figures stay out of this text:
# they are the card's own fields, measured when the model is made.
INTENDED_USE = (
    "reading one handwritten digit (0-9) per image, from a photo, a scan or a drawing, e.g. the "
    "`digitnet serve` page; flagging blank, not-a-digit and unsure inputs rather than guessing; a "
    "starting point to fine-tune on one writer's digits (`digitnet finetune`); teaching and demos"
)
LIMITS = (
    "one digit per image: not numbers of several digits, letters or text; crop each digit first",
    "the digit must be the main ink in the image: other marks, ruled lines or a second digit change "
    "what is read",
    "trained on MNIST (US Census Bureau employees and high-school students), 30 handwriting fonts "
    "and the digit forms of synthetic writers (digitnet.data.writer): writers far from those styles "
    "are read less well (held-out fonts and writers: the README's 'How well it reads writers it "
    "never saw' and 'The digit forms people write')",
    "a 1 whose up-stroke is long and nearly flat (the continental 1 as many Europeans write it) is "
    "read as 7 about half the time, often without doubt, and a plain 7 now and then as 1: check "
    "the 1s and 7s such a writer writes, or fine-tune on their digits",
    "the not-a-digit detector was trained on a few families of non-digits: letters, symbols and "
    "partial digits are not always flagged, and then are read as digits",
    "a probability is calibrated on validation digits like MNIST's, not on every writer; an answer "
    "that matters (a cheque, a form of record) needs a person to check it",
)
CARD_TEXT = {"intended_use": INTENDED_USE, "limits": list(LIMITS)}
LITERT_FILE = litert_path(Path(MODEL_FILE)).name
SHIPPED_FILES = (MODEL_FILE, LITERT_FILE, CONFIG_FILE, METRICS_FILE, CALIBRATION_FILE)
DETECTOR_FILES = ("detector.tflite", "detector.json")  # inside the package's detector/


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
    """Temperature, confidence threshold and the use of test-time shifts (for the doubt score and
    for the answers) of one network, from validation digits."""
    from digitnet.jobs.keras_models import keras_probability_model
    from digitnet.reading.calibration import scaled_probabilities
    from digitnet.reading.uncertainty import shift_averaged

    model = keras_probability_model(model_path)
    logits = model.member_logits(validation.images)[0]

    def averaged(temperature: float) -> np.ndarray:
        return shift_averaged(
            lambda images: scaled_probabilities(model.member_logits(images)[0], temperature),
            validation.images,
            scaled_probabilities(logits, temperature),
        )

    return fit_calibration(
        logits, validation.labels, flag_rate, validation.description, shift_averaged=averaged
    )


def detector_positives(
    data: Mnist, seed: int, writer_count: int = DETECTOR_WRITER_DIGITS, extra_forms: tuple = ()
) -> np.ndarray:
    """Style-varied digits, float32 (N, 28, 28): training-font digits and `writer_count` digits by
    training writers (the detector must not reject a digit for its style); MNIST's own come in
    through make_training_set. extra_forms: (form names, count): `count` more digits by training
    writers in those forms, in turn (none by default)."""
    from digitnet.data.synthetic import render_digits
    from digitnet.data.writer import write_digits, writer_digits

    fonts, _ = render_digits(
        DETECTOR_FONT_DIGITS, split="train", seed=DETECTOR_FONT_SEED + seed, for_detector=True
    )
    written = writer_digits(writer_count, "train", DETECTOR_WRITER_SEED + seed, for_detector=True)[0]
    parts = [fonts.reshape(-1, 28, 28), written.reshape(-1, 28, 28)]
    if extra_forms:
        names, count = extra_forms
        extra = write_digits(count, "train", EXTRA_FORMS_SEED + seed, forms=list(names)).images
        parts.append(extra.reshape(-1, 28, 28))
    return np.concatenate(parts).astype(np.float32)


def style_threshold_digits(data: Mnist, writer_count: int = THRESHOLD_WRITER_DIGITS) -> list[np.ndarray]:
    """The kinds of digit beside MNIST's that the reading detector's threshold is set on (float32
    (N, 28, 28) each): training-font digits (of the detector's fonts) from the validation seed,
    `writer_count` digits by training writers."""
    from digitnet.data.synthetic import render_digits
    from digitnet.data.writer import writer_digits

    font_digits = render_digits(2000, split="train", seed=VALIDATION_FONT_SEED, for_detector=True)[0]
    written = writer_digits(writer_count, "train", THRESHOLD_WRITER_SEED, for_detector=True)[0][..., 0]
    return [font_digits, written]


def train_reading_detector(
    data: Mnist,
    out_dir: Path,
    *,
    negatives: int = DETECTOR.negatives,
    epochs: int = READING_DETECTOR_EPOCHS,
    seed: int = 0,
    on_epoch=None,
    mix: dict[str, float] | None = None,
    widths: tuple[int, int, int] = READING_DETECTOR_WIDTHS,
    writer_counts: tuple[int, int] = (DETECTOR_WRITER_DIGITS, THRESHOLD_WRITER_DIGITS),
    extra_forms: tuple = (),
) -> float:
    """The detector for the reading model; its threshold flags at most DETECTOR_FLAG_RATE of each kind
    of validation digit (MNIST's, re-rendered, training-font and training-writer digits). mix: the
    negatives' shares (default detector_train.READING_NEGATIVE_MIX); writer_counts: how many digits
    by training writers are among the positives, and among the digits the threshold is set on;
    extra_forms: more positives in chosen forms (detector_positives)."""
    from digitnet.data.negatives import load_fashion
    from digitnet.jobs import detector_train

    return detector_train.train_on_mnist(
        data,
        load_fashion("train"),
        out_dir,
        negatives=negatives,
        epochs=epochs,
        seed=seed,
        extra_positives=detector_positives(data, seed, writer_counts[0], extra_forms),
        extra_holdout=style_threshold_digits(data, writer_counts[1]),
        flag_rate=DETECTOR_FLAG_RATE,
        on_epoch=on_epoch,
        mix=mix or detector_train.READING_NEGATIVE_MIX,
        widths=widths,
    )


def write_litert_files(model_dir: Path) -> list[Path]:
    """model.tflite beside model.keras, converted with the training side's converter where missing
    or stale, and detector/detector.tflite beside detector.keras, always written afresh with
    float16 weights (detector_train.write_detector_litert: a run trained before that rule holds a
    float32 one); the LiteRT files."""
    from digitnet.jobs.detector_train import write_detector_litert
    from digitnet.jobs.keras_models import load_keras_file
    from digitnet.training.inference import write_litert_beside

    model_file = Path(model_dir) / MODEL_FILE
    if read_litert_beside(model_file) is None:
        write_litert_beside(load_keras_file(model_file), model_file)
    detector_file = Path(model_dir) / DETECTOR_DIR / DETECTOR_KERAS_FILE
    write_detector_litert(load_keras_file(detector_file), detector_file)
    return [litert_path(model_file), litert_path(detector_file)]


def card_checksums(model_dir: Path) -> dict:
    """The card's SHA-256 tables of a packaged model folder (what reading checks on load)."""
    model_dir = Path(model_dir)
    return {
        "sha256": {name: file_sha256(model_dir / name) for name in SHIPPED_FILES},
        "detector_sha256": {name: file_sha256(model_dir / DETECTOR_DIR / name) for name in DETECTOR_FILES},
    }


def package_model(run_dir: Path, destination: Path, card: dict) -> dict:
    """Copy the files predicting needs from `run_dir` into `destination`, replacing it whole."""
    run_dir, destination = Path(run_dir), Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    write_litert_files(run_dir)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}-"))
    try:
        for name in SHIPPED_FILES:
            shutil.copy2(run_dir / name, staging / name)
        (staging / DETECTOR_DIR).mkdir()
        for name in DETECTOR_FILES:
            shutil.copy2(run_dir / DETECTOR_DIR / name, staging / DETECTOR_DIR / name)
        (staging / "__init__.py").write_text("")  # keeps it a package-data folder setuptools ships
        card = {**CARD_TEXT, **card, **card_checksums(staging)}
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
