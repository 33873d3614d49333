"""Every hyperparameter of a training run, with its unit, in one place.

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
MAX_SYNTHETIC_FRACTION = 0.5  # beyond this MNIST would no longer be what the model mostly learns
# Adam's step is about the learning rate in size; past 10 a network of [0, 1] pixels only diverges.
MAX_LEARNING_RATE = 10.0
MAX_SEED = 2**32 - 1  # seeds feed NumPy and TensorFlow's stateless RNGs (with small offsets added)


# Keys older config.json files hold that no longer mean anything; read and ignored.
# validation_size: saved in every run but never used; the split is digitnet.data.mnist.VALIDATION_SIZE.
RETIRED_KEYS = frozenset({"validation_size"})


class ConfigError(DigitnetError, ValueError):
    """A hyperparameter that cannot work; the message says which and why."""


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "seed"  # a name registered in digitnet.training.networks
    goal_iterations: int = TUTORIAL_GOAL_ITERATIONS  # turned into whole epochs
    epochs: int | None = None  # when set, wins over goal_iterations
    batch_size: int = 50  # images per step
    learning_rate: float = 1e-4  # Adam step size (the peak rate under one-cycle)
    schedule: str = "constant"  # "constant" or "one-cycle" (see digitnet.training.schedules)
    label_smoothing: float = 0.0  # weight moved from the true class, spread over all 10
    adam_epsilon: float = 1e-8  # TF1 AdamOptimizer's default (Keras's is 1e-7)
    adam_beta_1: float = 0.9  # decay of Adam's gradient average
    adam_beta_2: float = 0.999  # decay of Adam's squared-gradient average
    dropout: float = 0.5  # fraction dropped (the tutorial's keep_prob 0.5)
    seed: int = 0  # seeds weights, dropout and the shuffling order
    train_eval_size: int = 10_000  # fixed subset of training images scored each epoch
    eval_batch_size: int = 1_000  # images per evaluation step (never a whole set at once)
    steps_per_call: int = 100  # training steps inside one compiled call (progress granularity)
    augment: bool = False  # random affine transforms of each training batch, in-graph
    rotate_degrees: float = _AFFINE_DEFAULTS.rotate_degrees  # uniform in [-r, r]
    shift_fraction: float = _AFFINE_DEFAULTS.shift_fraction  # of the image side, per axis
    zoom_fraction: float = _AFFINE_DEFAULTS.zoom_fraction  # scale uniform in [1-z, 1+z]
    shear_degrees: float = _AFFINE_DEFAULTS.shear_degrees  # uniform in [-h, h]
    # Handwriting style, also only when augmenting (digitnet.training.style_augment); 0 is off.
    elastic_alpha: float = _STYLE_DEFAULTS.elastic_alpha  # RMS wobble per axis, pixels
    elastic_sigma: float = _STYLE_DEFAULTS.elastic_sigma  # wobble smoothness, Gaussian sigma in pixels
    stroke_pixels: float = _STYLE_DEFAULTS.stroke_pixels  # stroke edge moved by [-s, s] pixels
    blur_sigma: float = _STYLE_DEFAULTS.blur_sigma  # Gaussian blur sigma in [0, b] pixels
    low_res_probability: float = _STYLE_DEFAULTS.low_res_probability  # chance of shrink-and-grow
    ink_fraction: float = _STYLE_DEFAULTS.ink_fraction  # ink scaled by [1-f, 1], gamma [1/(1+f), 1+f]
    occlusion_fraction: float = _STYLE_DEFAULTS.occlusion_fraction  # erased box side, of the image's
    # Share of the training set made of digits rendered from the training handwriting fonts
    # (digitnet.data.synthetic), added to MNIST's 55,000; 0 trains on MNIST alone.
    synthetic_fraction: float = 0.0
    # Share of the training set written by the TRAINING synthetic writers (digitnet.writer: the digit
    # forms MNIST lacks), added like the font digits; the two shares together at most 0.5.
    writer_fraction: float = 0.0

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
