"""Training the not-a-digit detector: a small network that tells digits from everything else.

It is trained once on MNIST training digits (as given and re-rendered like users' images)
against negatives (Fashion-MNIST training photos, noise, scribbles, two digits side by
side), and works beside any classifier. Its threshold is chosen on held-out digits of each kind
(MNIST's as given and re-rendered, and whatever else the caller adds) so that at most
`DETECTOR.digit_flag_rate` of EVERY kind is flagged, not just of them pooled: a kind of writing
the detector finds less digit-like (e.g. the synthetic writers' flagged 1s) would otherwise pay
for the rest. It never sees a test image.
Loading and scoring with one is digitnet.reading.detector.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet.reading.detector import MODEL_FILE, THRESHOLD_FILE, logit_scores
from digitnet.shapes import IMAGE_SIDE, INPUT_SHAPE
from digitnet.training.config import DETECTOR
from digitnet.util.fileio import atomic_save_keras, atomic_write_text

NEGATIVE_MIX = {"fashion": 0.3, "noise": 0.1, "scribble": 0.25, "two_digits": 0.2, "shapes": 0.15}
# The mix shipped before (with digits by training writers among its positives): the families above
# scaled to 70%, and 30% writing-like families. Chosen on validation over NEGATIVE_MIX
# (benchmarks/detector_choice.py: it flags more of every writing-like family and fewer training
# writers' digits; docs/measurements/detector-choice.json).
WRITING_SHARE = 0.3
WRITING_KINDS_BEFORE_MARKS = ("train_letters", "stroke_fragments", "touching_digits", "crossed_out")
WRITING_NEGATIVE_MIX = {
    **{kind: share * (1 - WRITING_SHARE) for kind, share in NEGATIVE_MIX.items()},
    **{kind: WRITING_SHARE / len(WRITING_KINDS_BEFORE_MARKS) for kind in WRITING_KINDS_BEFORE_MARKS},
}
# A candidate not taken (benchmarks/detector_choice.py "marks"): the same writing share split over
# every writing kind, marks (bars, crossings, chevrons, rings with dots) among them; it flagged more
# training writers' digits, and fewer letters as their share fell.
MARKS_NEGATIVE_MIX = {
    **{kind: share * (1 - WRITING_SHARE) for kind, share in NEGATIVE_MIX.items()},
    **{kind: WRITING_SHARE / 5 for kind in (*WRITING_KINDS_BEFORE_MARKS, "marks")},
}
# The mix shipped before raw noise ("marks_own_share" in benchmarks/detector_choice.py, chosen on
# validation families: docs/measurements/detector-choice-marks.json): the writing kinds above at
# their shares, marks with a share of their own as large, taken from the non-writing ones.
MARKS_SHARE = WRITING_SHARE / len(WRITING_KINDS_BEFORE_MARKS)
MARKS_OWN_SHARE_MIX = {
    **{kind: share * (1 - WRITING_SHARE - MARKS_SHARE) for kind, share in NEGATIVE_MIX.items()},
    **{kind: WRITING_SHARE / len(WRITING_KINDS_BEFORE_MARKS) for kind in WRITING_KINDS_BEFORE_MARKS},
    "marks": MARKS_SHARE,
}
# A candidate not taken (benchmarks/detector_choice.py "written_letters"): MARKS_OWN_SHARE_MIX, and
# letters and symbols in the synthetic writer's hand (digitnet.data.written_letters) with a share of
# their own as large as the marks', taken from the non-writing families as the marks' was. Its
# threshold came out far lower and it flagged fewer of every family.
WRITTEN_LETTERS_NEGATIVE_MIX = {
    **{kind: share * (1 - WRITING_SHARE - 2 * MARKS_SHARE) for kind, share in NEGATIVE_MIX.items()},
    **{kind: WRITING_SHARE / len(WRITING_KINDS_BEFORE_MARKS) for kind in WRITING_KINDS_BEFORE_MARKS},
    "marks": MARKS_SHARE,
    "written_letters": MARKS_SHARE,
}
# The shipped detector's mix (jobs.model_build; "raw_noise" in benchmarks/detector_choice.py, chosen
# by its rule: docs/measurements/detector-choice-raw-noise.json): the one before with its "noise"
# share, which preprocesses to blank and so is in effect empty, given to noise sent as a tensor.
RAW_NOISE_NEGATIVE_MIX = {
    ("raw_noise" if kind == "noise" else kind): share for kind, share in MARKS_OWN_SHARE_MIX.items()
}
READING_NEGATIVE_MIX = RAW_NOISE_NEGATIVE_MIX

# Negatives that preprocess to a blank page teach nothing (a blank input is flagged without the
# detector): they are drawn again, up to this many rounds.
NEGATIVE_ROUNDS = 4


def build_detector(seed: int = 0, widths: tuple[int, int, int] = DETECTOR.widths):
    """Two small conv blocks, a hidden layer and one logit: "this is a digit"."""
    import keras
    from keras import layers

    init = keras.initializers.GlorotUniform
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="images"),
            layers.Conv2D(widths[0], 3, activation="relu", kernel_initializer=init(seed), name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(widths[1], 3, activation="relu", kernel_initializer=init(seed + 1), name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(widths[2], activation="relu", kernel_initializer=init(seed + 2), name="hidden"),
            layers.Dense(1, kernel_initializer=init(seed + 3), name="is_digit"),
        ],
        name="detector",
    )


def rerendered_digits(digits_u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digits as users supply them: dark on light, larger canvas, off-centre, then preprocessed."""
    from PIL import Image

    from digitnet.data.preprocess import to_mnist

    out = []
    for digit in digits_u8:
        scale = int(rng.integers(2, 6))
        side = IMAGE_SIDE * scale + int(rng.integers(0, 60))
        canvas = Image.new("L", (side, side), int(rng.integers(200, 256)))
        ink = Image.fromarray(255 - digit).resize((IMAGE_SIDE * scale, IMAGE_SIDE * scale), Image.BILINEAR)
        x, y = (int(v) for v in rng.integers(0, side - IMAGE_SIDE * scale + 1, 2))
        canvas.paste(ink, (x, y))
        out.append(to_mnist(canvas))
    return np.stack(out)


@dataclass(frozen=True)
class TrainingSet:
    images: np.ndarray  # float32 (N, 28, 28, 1)
    is_digit: np.ndarray  # float32 (N,)


def make_training_set(
    digits_u8: np.ndarray,
    fashion_u8: np.ndarray,
    negatives: int,
    rerendered: int,
    seed: int = 0,
    extra_positives: np.ndarray | None = None,
    mix: dict[str, float] | None = None,
) -> TrainingSet:
    """MNIST digits (as given and re-rendered) and `extra_positives` (float32 (N, 28, 28), e.g.
    digits in other handwriting styles) against `negatives` images of the training families, in
    the shares of `mix` (default NEGATIVE_MIX)."""

    rng = np.random.default_rng(seed)
    positives = [
        digits_u8.astype(np.float32) / 255.0,
        rerendered_digits(digits_u8[rng.choice(len(digits_u8), rerendered)], rng),
    ]
    if extra_positives is not None and len(extra_positives):
        positives.append(np.asarray(extra_positives, np.float32).reshape(-1, IMAGE_SIDE, IMAGE_SIDE))
    negative_sets = [
        inked_negatives(kind, int(negatives * share), rng, digits_u8, fashion_u8)
        for kind, share in (mix or NEGATIVE_MIX).items()
    ]
    images = np.concatenate(positives + negative_sets)[..., np.newaxis]
    labels = np.concatenate(
        [
            np.ones(sum(len(p) for p in positives), np.float32),
            np.zeros(sum(len(n) for n in negative_sets), np.float32),
        ]
    )
    return TrainingSet(images.astype(np.float32), labels)


def inked_negatives(kind: str, count: int, rng: np.random.Generator, digits_u8, fashion_u8) -> np.ndarray:
    """`count` negatives of one kind that are not blank after preprocessing (fewer if a kind is
    mostly blank even after NEGATIVE_ROUNDS tries, as uniform noise is)."""
    from digitnet.data.negatives import negative_images
    from digitnet.reading.uncertainty import too_faint_to_read

    kept = []
    for _ in range(NEGATIVE_ROUNDS):
        missing = count - sum(len(batch) for batch in kept)
        if missing <= 0:
            break
        batch = negative_images(kind, missing, rng, digits_u8, fashion_u8)
        kept.append(batch[~too_faint_to_read(batch)])
    return np.concatenate(kept)[:count] if kept else np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.float32)


def train_detector(
    train_set: TrainingSet,
    holdout_digits: Sequence[np.ndarray],
    out_dir: Path,
    epochs: int = DETECTOR.epochs,
    seed: int = 0,
    flag_rate: float = DETECTOR.digit_flag_rate,
    on_epoch=None,
    widths: tuple[int, int, int] = DETECTOR.widths,
) -> float:
    """Fit, choose the threshold on held-out digits, save model and threshold atomically.

    holdout_digits: validation digits by kind (each float32 (N, 28, 28)); the threshold flags at
    most `flag_rate` of each kind. on_epoch(epoch, epochs, loss) reports progress.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = build_detector(seed, widths)
    model.compile(
        optimizer=keras.optimizers.Adam(DETECTOR.learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        steps_per_execution=DETECTOR.steps_per_execution,
    )
    callbacks = (
        []
        if on_epoch is None
        else [
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, epochs, float(logs["loss"]))
            )
        ]
    )
    model.fit(
        train_set.images,
        train_set.is_digit,
        batch_size=DETECTOR.batch_size,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    threshold = each_kind_threshold([detector_scores(model, digits) for digits in holdout_digits], flag_rate)
    save_detector(model, threshold, out_dir)
    return threshold


def each_kind_threshold(scores_by_kind: Sequence[np.ndarray], flag_rate: float) -> float:
    """The highest threshold that flags (scores below it) at most `flag_rate` of every kind's digits:
    the lowest of the kinds' `flag_rate` quantiles."""
    if not scores_by_kind or any(len(scores) == 0 for scores in scores_by_kind):
        raise ValueError("the detector's threshold needs validation digits of every kind")
    return min(float(np.quantile(scores, flag_rate)) for scores in scores_by_kind)


def train_on_mnist(
    data,
    fashion_u8: np.ndarray,
    out_dir: Path,
    *,
    negatives: int = DETECTOR.negatives,
    epochs: int = DETECTOR.epochs,
    seed: int = 0,
    extra_positives: np.ndarray | None = None,
    extra_holdout: Sequence[np.ndarray] = (),
    flag_rate: float = DETECTOR.digit_flag_rate,
    on_epoch=None,
    mix: dict[str, float] | None = None,
    widths: tuple[int, int, int] = DETECTOR.widths,
) -> float:
    """Train a detector on a digitnet.data.mnist.Mnist and save it in `out_dir`; returns its threshold.

    Positives: the training digits as given, `negatives // 3` of them re-rendered, and
    extra_positives; negatives: `negatives` images of the training families (fashion_u8 from
    negatives.load_fashion("train")). The threshold is set on the validation digits as given,
    2,000 of them re-rendered, and each of extra_holdout (kinds of digits, float32 (N, 28, 28)),
    at most `flag_rate` of each kind flagged.
    """
    digits_u8 = _as_uint8(data.train.images)
    train_set = make_training_set(
        digits_u8,
        fashion_u8,
        negatives=negatives,
        rerendered=negatives // 3,
        seed=seed,
        extra_positives=extra_positives,
        mix=mix,
    )
    return train_detector(
        train_set,
        [*mnist_threshold_digits(data, seed), *extra_holdout],
        out_dir,
        epochs=epochs,
        seed=seed,
        flag_rate=flag_rate,
        on_epoch=on_epoch,
        widths=widths,
    )


def mnist_threshold_digits(data, seed: int = 0) -> list[np.ndarray]:
    """The MNIST kinds of digit a detector's threshold is set on (float32 (N, 28, 28) each): the
    validation digits as given, and 2,000 of them re-rendered as users supply them."""
    rng = np.random.default_rng(seed + 1)
    return [
        data.validation.images[..., 0],
        rerendered_digits(_as_uint8(data.validation.images)[:2000], rng),
    ]


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """float32 (N, 28, 28, 1) in [0, 1] -> uint8 (N, 28, 28), as the negative families draw them."""
    return np.round(images[..., 0] * 255).astype(np.uint8)


def detector_scores(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logit of "is a digit" for each image (higher: more digit-like)."""
    from digitnet.training.inference import make_logits_fn

    return logit_scores(make_logits_fn(model), images, batch_size)


def write_detector_litert(model, keras_file: Path) -> Path | None:
    """The detector's LiteRT file beside keras_file, its weights stored as float16: half the file
    (the shipped model, detector included, must stay well under 2 MB) for scores that move by
    about 0.006 of a logit, arithmetic still float32 (training.inference.keras_export)."""
    from digitnet.training.inference import write_litert_beside

    return write_litert_beside(model, keras_file, float16_weights=True)


def save_detector(model, threshold: float, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    # A fresh, never-compiled copy: the trained one would save its Adam slots too, tripling the
    # file for nothing (keras.models.clone_model keeps the compile state, so it will not do); built
    # from the model's own config, so it has the trained network's widths.
    plain = type(model).from_config(model.get_config())
    plain.set_weights(model.get_weights())
    atomic_save_keras(plain, out_dir / MODEL_FILE)
    write_detector_litert(plain, out_dir / MODEL_FILE)  # detector.tflite: what reading runs
    atomic_write_text(out_dir / THRESHOLD_FILE, json.dumps({"threshold": threshold}) + "\n")
