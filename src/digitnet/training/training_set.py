"""training_set(config, data) -> TrainingSet: the images a run trains on, and which of them each epoch.

MNIST's training split, plus the synthetic digits config asks for: font-rendered digits
(config.synthetic_fraction) and digits by the TRAINING synthetic writers (config.writer_fraction,
in the forms config.writer_forms names). With config.synthetic_draws > 1 the synthetic digits are
drawn that many times, each draw by other writers and other renderings, and epoch e trains on
MNIST's digits and draw e % draws: the same share of synthetic digits in every epoch, many more
different ones over a run (a form MNIST lacks is learnt from examples, not from repeats of a few).

Everything is rendered from the run's seed, so a resumed run rebuilds the same set. Validation
and test stay MNIST's own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from digitnet.data.mnist import Mnist, Split
from digitnet.training.config import (
    FLAGGED_ONE_WEIGHT,
    FLAGGED_ONES,
    FLAT_FLAG_ONE,
    HARD_FORM_WEIGHT,
    HARD_FORMS,
    TrainConfig,
)


@dataclass(frozen=True)
class TrainingSet:
    """data.train holds MNIST's training images, then each draw of the synthetic digits in turn."""

    data: Mnist
    mnist_size: int  # MNIST's training digits, in every epoch
    draw_size: int  # synthetic digits of one draw (fonts, then writers)
    draws: int
    # The font files the font digits came from (synthetic.font_manifest's entries), for the run to
    # record: the training fonts are code, not config, and change when packages are added.
    fonts: tuple[dict, ...] = ()

    @property
    def epoch_size(self) -> int:
        return self.mnist_size + self.draw_size

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """Positions in data.train of the images 0-based `epoch` trains on: MNIST's and one draw's."""
        start = self.mnist_size + (epoch % self.draws) * self.draw_size
        mnist = np.arange(self.mnist_size, dtype=np.int32)
        return np.concatenate([mnist, np.arange(start, start + self.draw_size, dtype=np.int32)])

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        """The epoch's images (positions in data.train) in the epoch's shuffled order; with one draw,
        epoch_order(seed, epoch, size) itself."""
        return self.epoch_indices(epoch)[epoch_order(seed, epoch, self.epoch_size)]


def epoch_order(seed: int, epoch: int, size: int) -> np.ndarray:
    """The shuffling of one epoch: a pure function of (seed, epoch), so a resumed run reshuffles alike."""
    return np.random.default_rng([seed, epoch]).permutation(size).astype(np.int32)


def draw_seed(seed: int, draw: int) -> int:
    """The rendering seed of draw `draw` of a run seeded `seed`: the run's seed itself for draw 0
    (so one draw renders what runs always rendered), a seed derived from both for the others."""
    if draw == 0:
        return seed
    return int(np.random.default_rng([seed, draw, 52_711]).integers(2**31 - 1))


def training_set(config: TrainConfig, data: Mnist) -> TrainingSet:
    """`data` with its training split as the run trains on it (see the module's docstring)."""
    mnist_size = len(data.train)
    font_count, writer_count = config.synthetic_count(mnist_size), config.writer_count(mnist_size)
    if font_count == 0 and writer_count == 0:
        return TrainingSet(data, mnist_size, 0, 1)
    images, labels = [data.train.images], [data.train.labels]
    for draw in range(config.synthetic_draws):
        for draw_images, draw_labels in _synthetic_digits(
            config, font_count, writer_count, draw_seed(config.seed, draw)
        ):
            images.append(draw_images)
            labels.append(draw_labels)
    train = Split(np.concatenate(images), np.concatenate(labels))
    return TrainingSet(
        dataclasses.replace(data, train=train),
        mnist_size,
        font_count + writer_count,
        config.synthetic_draws,
        _fonts_used() if font_count else (),
    )


def _fonts_used() -> tuple[dict, ...]:
    from digitnet.data.synthetic import font_manifest

    return tuple(
        {key: entry[key] for key in ("package", "file", "bytes")}
        for entry in font_manifest("train")
        if entry["used"]
    )


def _synthetic_digits(config: TrainConfig, font_count: int, writer_count: int, seed: int) -> list:
    """[(images (n, 28, 28, 1) float32, labels (n,) int32)] of one draw: font digits, then writers'."""
    parts = []
    if font_count:
        from digitnet.data.synthetic import render_digits

        fonts, font_labels = render_digits(font_count, split="train", seed=seed)
        parts.append((fonts[..., np.newaxis].astype(np.float32), font_labels.astype(np.int32)))
    if writer_count:
        from digitnet.data.writer import write_digits

        written = write_digits(
            writer_count, split="train", seed=seed, forms=writer_forms(config.writer_forms)
        )
        labels = look_alike_labels(written.labels, written.forms, config.look_alike_share, seed)
        parts.append((written.images, labels))
    return parts


def look_alike_labels(labels: np.ndarray, forms: np.ndarray, share: float, seed: int) -> np.ndarray:
    """`labels` with `share` of the digits in each look-alike form (writer.LOOK_ALIKES), drawn at
    random from `seed`, relabelled as the digit that form also is: in expectation the soft target
    (1 - share, share) over the two, which sparse labels cannot say."""
    from digitnet.data.writer import LOOK_ALIKES

    if share == 0.0:
        return labels
    rng = np.random.default_rng([seed, 7_717])
    relabelled = labels.copy()
    for form, look_alike in LOOK_ALIKES.items():
        chosen = (forms == form) & (rng.random(len(labels)) < share)
        relabelled[chosen] = look_alike
    return relabelled


def writer_forms(choice: str) -> list[str] | None:
    """The forms list write_digits cycles through for TrainConfig.writer_forms `choice` (None: each
    writer's preferred forms); a form named k times is written k times as often."""
    from digitnet.data.writer import ALLOGRAPHS

    if choice == "preferred":
        return None
    names = [allograph.name for allograph in ALLOGRAPHS]
    if choice == "even":
        return names
    weighted = names + list(HARD_FORMS) * (HARD_FORM_WEIGHT - 1)  # the order write_digits cycles in
    if choice in ("flags-weighted", "flat-flag-weighted"):
        weighted += list(FLAGGED_ONES) * (FLAGGED_ONE_WEIGHT - HARD_FORM_WEIGHT)
    if choice == "flat-flag-weighted":
        weighted += [FLAT_FLAG_ONE] * (FLAGGED_ONE_WEIGHT - 1)
    return weighted
