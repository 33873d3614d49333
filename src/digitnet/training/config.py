"""Every hyperparameter, with its unit or reason, in one place: TrainConfig (a training run; each
field also carries its command-line flag, see digitnet.training.flags), the named recipes, and the
fixed configs of fine-tuning (FINETUNE) and of the not-a-digit detector's training (DETECTOR).

A run's config is saved as config.json beside its checkpoints; `--resume` trusts
that file, not the flags of the day.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from digitnet.errors import DigitnetError
from digitnet.training.augment import AffineRanges, StyleRanges

_AFFINE_DEFAULTS = AffineRanges()
_STYLE_DEFAULTS = StyleRanges()
# The tutorial turns a goal of 20,000 iterations into whole epochs:
# 55,000 training images // batch 50 = 1,100 iterations an epoch -> 18 epochs.
TUTORIAL_GOAL_ITERATIONS = 20_000
SCHEDULES = ("constant", "one-cycle")  # learning-rate schedules, built in digitnet.training.schedules
# How the training writers choose a digit's form: each writer's own preferences (the natural mix:
# a rare form stays rare), or every allograph equally often (a digit with five forms is written
# two and a half times as often as one with two: the forms MNIST lacks get as many examples as
# the plain ones), or every allograph but the hard forms below equally often, those HARD_FORM_WEIGHT
# times as often (the same share of writer digits, more of it where the network misses), or as
# that with the flagged 1s FLAGGED_ONE_WEIGHT times as often, or as that with the flat-flag 1 as
# often as the flagged 1s.
WRITER_FORMS = ("preferred", "even", "hard-weighted", "flags-weighted", "flat-flag-weighted")
# The forms the shipped network read worst on validation draws by training-split writers
# (benchmarks/hard_forms.py, docs/measurements/hard-forms.json: 75.5%, 86.3%, 91.0%, 96.2%, 96.5%).
HARD_FORMS = ("1 short flag", "1 long flag", "9 g tail", "4 long stem", "1 flag and foot")
HARD_FORM_WEIGHT = 3
# The two forms still below 98% on validation draws in every seed with the hard forms weighted
# (docs/measurements/more-fonts-choice.json), and below it on held-out writers too.
FLAGGED_ONES = ("1 short flag", "1 long flag")
FLAGGED_ONE_WEIGHT = 6
# The form read worst of all since it joined the inventory (21.6% on validation draws, mostly as 7:
# docs/measurements/flat-flag-choice.json), weighted as the flagged 1s by 'flat-flag-weighted'.
FLAT_FLAG_ONE = "1 flat flag"
MAX_SYNTHETIC_FRACTION = 0.5  # beyond this MNIST would no longer be what the model mostly learns
# Each draw of the synthetic digits is rendered at the start and held in memory with the others.
MAX_SYNTHETIC_DRAWS = 50
# Adam's step is about the learning rate in size; past 10 a network of [0, 1] pixels only diverges.
MAX_LEARNING_RATE = 10.0
MAX_SEED = 2**32 - 1  # seeds feed NumPy and TensorFlow's stateless RNGs (with small offsets added)


# Keys older config.json files hold that no longer mean anything; read and ignored.
# validation_size: saved in every run but never used; the split is digitnet.data.mnist.VALIDATION_SIZE.
RETIRED_KEYS = frozenset({"validation_size"})


class ConfigError(DigitnetError, ValueError):
    """A hyperparameter that cannot work; the message says which and why."""


def hyperparameter(
    default,
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    choices: tuple[str, ...] | None = None,
    group: str = "recipe",
):
    """A TrainConfig field with everything its command-line flag needs (digitnet.training.flags).

    help: what the value means and its unit or reason (the default is added to it); flag: the
    option, by default --field-name; group: "recipe" (the network and its optimisation), "length"
    (iterations or epochs, one of the two) or "augment" (used only when augmenting).
    """
    metadata = {"flag": flag, "help": help, "metavar": metavar, "choices": choices, "group": group}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run; each field's metadata is its flag in `digitnet train`,
    `digitnet ensemble train` and `digitnet sweep` (a new field is a new flag everywhere)."""

    arch: str = hyperparameter(
        "seed", "network (a name registered in digitnet.training.networks; see `digitnet models`)"
    )
    goal_iterations: int = hyperparameter(
        TUTORIAL_GOAL_ITERATIONS,
        "goal iterations, turned into whole epochs (the tutorial's 20000 are 18 epochs)",
        flag="--iterations",
        group="length",
    )
    epochs: int | None = hyperparameter(None, "whole epochs to train; wins over --iterations", group="length")
    batch_size: int = hyperparameter(50, "images per step")
    learning_rate: float = hyperparameter(1e-4, "Adam step size (the peak rate under one-cycle)", flag="--lr")
    schedule: str = hyperparameter(
        "constant", "learning-rate schedule (digitnet.training.schedules)", choices=SCHEDULES
    )
    label_smoothing: float = hyperparameter(
        0.0, "move EPS of the target from the true class to all 10", metavar="EPS"
    )
    adam_epsilon: float = hyperparameter(
        1e-8, "Adam's epsilon (TF1 AdamOptimizer's default; Keras's is 1e-7)"
    )
    adam_beta_1: float = hyperparameter(0.9, "decay of Adam's gradient average")
    adam_beta_2: float = hyperparameter(0.999, "decay of Adam's squared-gradient average")
    dropout: float = hyperparameter(0.5, "fraction of units dropped (the tutorial's keep_prob 0.5)")
    seed: int = hyperparameter(0, "random seed of the weights, dropout and the shuffling order")
    train_eval_size: int = hyperparameter(
        10_000, "fixed subset of training images scored each epoch (the train accuracy shown)", metavar="N"
    )
    eval_batch_size: int = hyperparameter(
        1_000, "images per evaluation step (never a whole set at once)", metavar="N"
    )
    steps_per_call: int = hyperparameter(
        100, "training steps inside one compiled call (the progress bar's granularity)", metavar="N"
    )
    augment: bool = hyperparameter(
        False,
        "random affine transforms of each training batch, and the style changes below "
        "(never of validation or test images)",
        group="augment",
    )
    rotate_degrees: float = hyperparameter(
        _AFFINE_DEFAULTS.rotate_degrees,
        "rotation range in degrees, uniform in [-DEG, DEG]",
        flag="--rotate",
        metavar="DEG",
        group="augment",
    )
    shift_fraction: float = hyperparameter(
        _AFFINE_DEFAULTS.shift_fraction,
        "translation range per axis, fraction of the image side",
        flag="--shift",
        metavar="FRACTION",
        group="augment",
    )
    zoom_fraction: float = hyperparameter(
        _AFFINE_DEFAULTS.zoom_fraction,
        "scale range, uniform in 1 +/- FRACTION",
        flag="--zoom",
        metavar="FRACTION",
        group="augment",
    )
    shear_degrees: float = hyperparameter(
        _AFFINE_DEFAULTS.shear_degrees,
        "shear range in degrees, uniform in [-DEG, DEG]",
        flag="--shear",
        metavar="DEG",
        group="augment",
    )
    # Handwriting style, also only when augmenting (digitnet.training.style_augment); 0 is off.
    elastic_alpha: float = hyperparameter(
        _STYLE_DEFAULTS.elastic_alpha,
        "elastic wobble: RMS displacement per axis in pixels (Simard et al.'s alpha 34 at "
        "sigma 4 is 1.4); 0 is off",
        flag="--elastic",
        metavar="ALPHA",
        group="augment",
    )
    elastic_sigma: float = hyperparameter(
        _STYLE_DEFAULTS.elastic_sigma,
        "smoothness of the wobble, Gaussian sigma in pixels",
        metavar="SIGMA",
        group="augment",
    )
    stroke_pixels: float = hyperparameter(
        _STYLE_DEFAULTS.stroke_pixels,
        "stroke edges moved in or out by up to PX pixels (at most 2); 0 is off",
        flag="--stroke",
        metavar="PX",
        group="augment",
    )
    blur_sigma: float = hyperparameter(
        _STYLE_DEFAULTS.blur_sigma,
        "Gaussian blur of sigma up to SIGMA pixels; 0 is off",
        flag="--blur",
        metavar="SIGMA",
        group="augment",
    )
    low_res_probability: float = hyperparameter(
        _STYLE_DEFAULTS.low_res_probability,
        "chance an image is shrunk to 10-20 pixels and grown back; 0 is off",
        flag="--low-res",
        metavar="P",
        group="augment",
    )
    ink_fraction: float = hyperparameter(
        _STYLE_DEFAULTS.ink_fraction,
        "ink faded by up to FRACTION, gamma in [1/(1+F), 1+F]; 0 is off",
        flag="--ink",
        metavar="FRACTION",
        group="augment",
    )
    occlusion_fraction: float = hyperparameter(
        _STYLE_DEFAULTS.occlusion_fraction,
        "half the images lose a rectangle with sides up to FRACTION of the image's; 0 is off",
        flag="--occlude",
        metavar="FRACTION",
        group="augment",
    )
    synthetic_fraction: float = hyperparameter(
        0.0,
        "share of the training set made of digits rendered from the training handwriting fonts "
        f"(digitnet.data.synthetic), added to MNIST's 55,000; at most {MAX_SYNTHETIC_FRACTION}, "
        "beyond which MNIST is no longer what the model mostly learns",
        flag="--synthetic",
        metavar="FRACTION",
    )
    writer_fraction: float = hyperparameter(
        0.0,
        "share of the training set written by the TRAINING synthetic writers (digitnet.data.writer: "
        "flagged 1s, crossed 7s, g-like 9s, the digit forms MNIST lacks), added like the font digits; "
        f"the two shares together at most {MAX_SYNTHETIC_FRACTION}",
        flag="--writer",
        metavar="FRACTION",
    )
    writer_forms: str = hyperparameter(
        "preferred",
        "which forms the training writers write: 'preferred' (each writer's own, the natural mix) or "
        "'even' (every allograph of digitnet.data.writer equally often) or 'hard-weighted' (as "
        f"'even', but {', '.join(HARD_FORMS)} {HARD_FORM_WEIGHT} times as often) or "
        f"'flags-weighted' (as 'hard-weighted', but {' and '.join(FLAGGED_ONES)} "
        f"{FLAGGED_ONE_WEIGHT} times as often) or 'flat-flag-weighted' (as 'flags-weighted', and "
        f"{FLAT_FLAG_ONE!r} {FLAGGED_ONE_WEIGHT} times as often too)",
        choices=WRITER_FORMS,
    )

    look_alike_share: float = hyperparameter(
        0.0,
        "share of the training writers' digits in a form that is also another digit to many readers "
        "(digitnet.data.writer.LOOK_ALIKES: the flat-flag 1, a 7 without its cross) labelled as "
        "that digit, drawn at random (in expectation a soft target over the two; tried at 0.5 "
        "for doubt there and not taken: the network read the form as the look-alike instead)",
        flag="--look-alike-share",
        metavar="FRACTION",
    )

    synthetic_draws: int = hyperparameter(
        1,
        "how many different draws of the font and writer digits a run renders and rotates through, "
        "one draw an epoch (1: the same digits every epoch); every epoch holds as many of them as "
        f"one draw, so the shares and the epoch's length stay; at most {MAX_SYNTHETIC_DRAWS}, each "
        "costing rendering time at the start (about 5 s a 1,000 digits on one core)",
        flag="--synthetic-draws",
        metavar="N",
    )

    def validate(self) -> None:
        self._validate_types()
        positive = ("goal_iterations", "batch_size", "train_eval_size", "eval_batch_size", "steps_per_call")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        if not 0 < self.learning_rate <= MAX_LEARNING_RATE:
            raise ConfigError(
                f"learning rate must be positive and at most {MAX_LEARNING_RATE:g}, got {self.learning_rate}"
            )
        if not self.adam_epsilon > 0:
            raise ConfigError(f"adam_epsilon must be positive, got {self.adam_epsilon}")
        for name in ("adam_beta_1", "adam_beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"unknown learning-rate schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )
        if not 0.0 <= self.look_alike_share <= 1.0:
            raise ConfigError(f"look_alike_share must be in [0, 1], got {self.look_alike_share}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout is the fraction dropped and must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.synthetic_fraction <= MAX_SYNTHETIC_FRACTION:
            raise ConfigError(
                f"synthetic_fraction must be in [0, {MAX_SYNTHETIC_FRACTION}], got {self.synthetic_fraction}"
            )
        if not 0.0 <= self.writer_fraction <= MAX_SYNTHETIC_FRACTION - self.synthetic_fraction:
            raise ConfigError(
                f"writer_fraction must be in [0, {MAX_SYNTHETIC_FRACTION}] less synthetic_fraction "
                f"({self.synthetic_fraction}), got {self.writer_fraction}"
            )
        if not 1 <= self.synthetic_draws <= MAX_SYNTHETIC_DRAWS:
            raise ConfigError(
                f"synthetic_draws must be in [1, {MAX_SYNTHETIC_DRAWS}], got {self.synthetic_draws}"
            )
        self._validate_choices()
        try:
            self.affine_ranges()
            self.style_ranges()
        except ValueError as error:
            raise ConfigError(str(error)) from error

    def _validate_types(self) -> None:
        """Each field of its declared type (a config.json may hold anything), every float finite."""
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            allowed = _FIELD_TYPES[item.type]
            # bool is an int to Python, and an int is a fine float, but never the other way round.
            if isinstance(value, bool) != (bool in allowed) or not isinstance(value, allowed):
                raise ConfigError(f"{item.name} must be {_TYPE_WORDS[item.type]}, got {value!r}")
            # The augmentation ranges are checked (NaN included) by their own validate, and only
            # when augmenting: unused, they may hold anything.
            if isinstance(value, float) and not math.isfinite(value) and item.name not in _RANGE_FIELDS:
                raise ConfigError(f"{item.name} must be a finite number, got {value}")

    def _validate_choices(self) -> None:
        """Each field that declares its choices (the flag's metadata) holds one of them."""
        for item in dataclasses.fields(self):
            choices, value = item.metadata["choices"], getattr(self, item.name)
            if choices is not None and value not in choices:
                raise ConfigError(f"unknown {item.name} {value!r}; choose one of: {', '.join(choices)}")

    def affine_ranges(self) -> AffineRanges | None:
        """The augmentation ranges, validated; None when augmentation is off."""
        if not self.augment:
            return None
        ranges = AffineRanges(
            self.rotate_degrees, self.shift_fraction, self.zoom_fraction, self.shear_degrees
        )
        ranges.validate()
        return ranges

    def style_ranges(self) -> StyleRanges | None:
        """The handwriting-style ranges, validated; None when augmentation is off."""
        if not self.augment:
            return None
        ranges = StyleRanges(
            self.elastic_alpha,
            self.elastic_sigma,
            self.stroke_pixels,
            self.blur_sigma,
            self.low_res_probability,
            self.ink_fraction,
            self.occlusion_fraction,
        )
        ranges.validate()
        return ranges

    def steps_per_epoch(self, train_size: int) -> int:
        steps = train_size // self.batch_size
        if steps == 0:
            raise ConfigError(f"batch size {self.batch_size} is larger than the {train_size} training images")
        return steps

    def synthetic_count(self, mnist_train_size: int) -> int:
        """Font-rendered digits added to `mnist_train_size` MNIST digits for synthetic_fraction."""
        return self._added_count(mnist_train_size, self.synthetic_fraction)

    def writer_count(self, mnist_train_size: int) -> int:
        """Digits by synthetic writers added to `mnist_train_size` MNIST digits for writer_fraction."""
        return self._added_count(mnist_train_size, self.writer_fraction)

    def _added_count(self, mnist_train_size: int, fraction: float) -> int:
        # Each share is of the whole training set: MNIST's digits are what is left of it.
        mnist_share = 1.0 - self.synthetic_fraction - self.writer_fraction
        return int(round(mnist_train_size * fraction / mnist_share)) if fraction else 0

    def resolved_epochs(self, train_size: int) -> int:
        """Whole epochs to run: --epochs, or the goal iterations rounded down (at least 1)."""
        if self.epochs is not None:
            return self.epochs
        return max(1, self.goal_iterations // self.steps_per_epoch(train_size))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = {key: value for key, value in values.items() if key not in RETIRED_KEYS}
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**values)


_RANGE_FIELDS = frozenset(
    field.name for ranges in (AffineRanges, StyleRanges) for field in dataclasses.fields(ranges)
)
# The annotations of TrainConfig's fields (strings, under `from __future__ import annotations`).
_FIELD_TYPES = {
    "str": (str,),
    "int": (int,),
    "int | None": (int, type(None)),
    "float": (int, float),
    "bool": (bool,),
}
_TYPE_WORDS = {
    "str": "a string",
    "int": "a whole number",
    "int | None": "a whole number or null",
    "float": "a number",
    "bool": "true or false",
}

# The lean conv-BN network, one-cycle Adam, label smoothing, augmentation on:
# digitnet's strongest single network for its cost (see README, accuracy table).
_STRONG = {
    "arch": "lean",
    "epochs": 12,
    "batch_size": 128,
    "learning_rate": 3e-3,
    "schedule": "one-cycle",
    "label_smoothing": 0.1,
    "dropout": 0.25,
    "augment": True,
}
# Reading people's handwriting: the strong recipe on the wider lean network, trained for what
# varies between writers and between MNIST and users' images (slant, wobble, stroke width, blur,
# low resolution, faint ink, small gaps) and on digits from the training handwriting fonts. wide,
# 15 epochs and 10% font digits were chosen over lean/12 epochs and 25% on validation digits only
# (README, "Reading your handwriting").
_READ = {
    **_STRONG,
    "arch": "wide",
    "epochs": 15,
    "rotate_degrees": 12.0,
    "shift_fraction": 0.1,
    "zoom_fraction": 0.15,
    "shear_degrees": 15.0,
    "elastic_alpha": 1.0,
    "elastic_sigma": 4.0,
    "stroke_pixels": 1.0,
    "blur_sigma": 0.8,
    "low_res_probability": 0.15,
    "ink_fraction": 0.3,
    "occlusion_fraction": 0.2,
    "synthetic_fraction": 0.1,
    # Digits by the training synthetic writers (digitnet.data.writer): 0.1 chosen over 0 (the
    # previous recipe), 0.05 and 0.2 by the mean validation accuracy on MNIST validation, training-
    # font and training-writer digits, among shares that keep MNIST validation within 0.1 point of
    # 0's (benchmarks/writers.py; docs/measurements/writers-choice.json). Kept against 0.15, 0.2, and
    # 0.15 with 5% font digits, on the 19 validation fonts (benchmarks/synthetic_draws.py --rule
    # fonts; docs/measurements/writer-share-choice.json): more writers cost MNIST validation.
    "writer_fraction": 0.1,
    # Every allograph equally often: chosen by the same rule over the writers' preferred forms, and
    # over 15% even-form writers on wide (18 epochs) and on wider, which both lost MNIST validation
    # accuracy (README, "The digit forms people write"; docs/measurements/writers-forms-choice.json).
    # Then the five forms read worst three times as often within the same share: chosen over 'even'
    # on validation over seeds 0-2 (benchmarks/synthetic_draws.py --rule forms, fixed first: the
    # mean over the 29 forms 97.71 -> 98.35%, MNIST validation and the three sets kept;
    # docs/measurements/hard-forms-choice.json). Five draws rotated by epoch were not taken
    # (docs/measurements/synthetic-draws.json). Then the two flagged 1s six times as often: chosen
    # over 'hard-weighted' by the same rule (forms mean 98.25 -> 98.34%, the long-flag 1 95.6 ->
    # 98.9%; docs/measurements/flags-choice.json). The inventory then gained "4 triangle" (the
    # writers write it as any other form): chosen by the 19 validation fonts (--rule fonts; 95.65 ->
    # 97.45%, MNIST validation kept; docs/measurements/triangle-four-choice.json), then "1 flat flag"
    # by the same rule over seeds 0-2 (96.70 -> 97.13%; docs/measurements/flat-flag-choice.json).
    # Then that form six times as often, as the flagged 1s: chosen over 'flags-weighted' by the
    # 'forms' rule over seeds 0-2 (forms mean 95.76 -> 97.08%, the flat-flag 1 17.2 -> 53.9%,
    # MNIST validation 99.35 -> 99.29%; docs/measurements/flat-flag-weight-choice.json).
    "writer_forms": "flat-flag-weighted",
}
# Named recipes: a starting config that flags given on the command line override.
RECIPES: dict[str, dict] = {
    "tutorial": {},  # the tutorial's own recipe: the defaults above
    "strong": _STRONG,
    "read": _READ,
    # Time to 99.2%: the small fast network, a high one-cycle peak with short Adam memory,
    # big batches, two epochs; a small train-accuracy subset keeps per-epoch evaluation cheap.
    "fast": {
        "arch": "fast",
        "epochs": 2,
        "batch_size": 256,
        "learning_rate": 1e-2,
        "adam_beta_1": 0.7,
        "adam_beta_2": 0.9,
        "schedule": "one-cycle",
        "dropout": 0.0,
        "train_eval_size": 2_000,
        "steps_per_call": 215,
    },
}


def recipe_config(name: str, **overrides) -> TrainConfig:
    """The named recipe's config with `overrides` (those not None) on top."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    values = {**RECIPES[name], **{k: v for k, v in overrides.items() if v is not None}}
    if values.get("goal_iterations") is not None and overrides.get("epochs") is None:
        values.pop("epochs", None)  # --iterations given: it wins over the recipe's epochs
    return TrainConfig(**values)


def config_to_json(config: TrainConfig, extra: dict | None = None) -> bytes:
    """The JSON bytes of the config (plus derived facts in `extra`), for an atomic write."""
    payload = {"config": config.to_dict(), **(extra or {})}
    return (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode()


def load_config(path: Path) -> TrainConfig:
    try:
        payload = json.loads(Path(path).read_text())
        return TrainConfig.from_dict(payload["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path}: not a readable digitnet config ({error})") from error


@dataclass(frozen=True)
class FinetuneConfig:
    """Adapting a trained network to one writer (digitnet.jobs.finetune), each value with its reason."""

    steps: int = 200  # Adam steps; measured ~5 s for the seed network on two busy cores
    learning_rate: float = 1e-4  # small: the network is already good, only nudged towards the writer
    writer_batch: int = 32  # the writer's (augmented) examples in each batch ...
    # ... and twice as many MNIST training images, so MNIST is not forgotten: chosen over 32 and 96 on
    # training-split writers who write continental 1s, whose tuning cost MNIST validation most
    # (benchmarks/finetune_continental.py, docs/measurements/finetune-replay-choice.json).
    replay_batch: int = 64
    label_smoothing: float = 0.1  # a few dozen examples must not make the network over-confident


FINETUNE = FinetuneConfig()


@dataclass(frozen=True)
class DetectorConfig:
    """Training the not-a-digit detector (digitnet.jobs.detector_train) with Keras's `fit`: a small
    binary network trained once, from scratch, on in-memory arrays, so no custom loop is needed."""

    epochs: int = 3  # `digitnet detector train`'s default
    widths: tuple[int, int, int] = (16, 32, 64)  # filters of the two conv blocks, units of the hidden layer
    negatives: int = 30_000  # negative images rendered; a third as many digits are re-rendered
    batch_size: int = 128  # images per step (the strong recipe's batch)
    learning_rate: float = 1e-3  # Adam's usual step for a network trained from scratch
    steps_per_execution: int = 50  # steps inside one compiled call: fewer round trips to Python
    # Of held-out validation digits flagged as not-a-digit; the budget is 1% on test digits.
    digit_flag_rate: float = 0.008


DETECTOR = DetectorConfig()
