"""The training set a run trains on: MNIST plus synthetic digits, drawn once or several times and
rotated by epoch (TrainConfig.synthetic_draws)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitnet.data.synthetic import font_files
from digitnet.training import loop, runs
from digitnet.training.config import ConfigError, TrainConfig
from digitnet.training.training_set import draw_seed, epoch_order, training_set

MIXED = dict(seed=4, synthetic_fraction=0.1, writer_fraction=0.1, writer_forms="even")


def test_one_draw_is_the_set_and_the_order_runs_always_had(tiny_mnist):
    config = TrainConfig(**MIXED)
    one = training_set(config, tiny_mnist)
    added = config.synthetic_count(600) + config.writer_count(600)
    assert (one.mnist_size, one.draw_size, one.draws) == (600, added, 1)
    assert len(one.data.train) == one.epoch_size == 600 + added
    for epoch in (0, 1, 5):
        np.testing.assert_array_equal(one.epoch_order(4, epoch), epoch_order(4, epoch, 600 + added))


def test_without_synthetic_digits_the_set_is_mnist_itself(tiny_mnist):
    plain = training_set(TrainConfig(synthetic_draws=3), tiny_mnist)
    assert plain.data is tiny_mnist and plain.epoch_size == 600
    assert plain.fonts == ()


def test_the_set_names_the_training_fonts_its_font_digits_came_from(tiny_mnist):
    fonts = training_set(TrainConfig(**MIXED), tiny_mnist).fonts
    assert [entry["file"] for entry in fonts] == [path.name for path in font_files("train")]
    assert all(entry["package"].startswith("fonts-") and entry["bytes"] > 0 for entry in fonts)


def test_each_epoch_trains_on_mnist_and_one_draw_in_turn(tiny_mnist):
    config = TrainConfig(**MIXED, synthetic_draws=3)
    three = training_set(config, tiny_mnist)
    one = training_set(TrainConfig(**MIXED), tiny_mnist)
    size = three.draw_size
    assert len(three.data.train) == 600 + 3 * size and three.epoch_size == one.epoch_size
    # Draw 0 is what one draw renders; the other two are other digits.
    np.testing.assert_array_equal(three.data.train.images[: one.epoch_size], one.data.train.images)
    blocks = [three.data.train.images[600 + d * size : 600 + (d + 1) * size] for d in range(3)]
    assert not np.array_equal(blocks[0], blocks[1]) and not np.array_equal(blocks[1], blocks[2])
    for epoch in range(6):
        order = three.epoch_order(config.seed, epoch)
        assert len(order) == three.epoch_size and len(set(order.tolist())) == len(order)
        synthetic = np.sort(order[order >= 600])
        start = 600 + (epoch % 3) * size
        np.testing.assert_array_equal(synthetic, np.arange(start, start + size))
        assert np.sum(order < 600) == 600  # every MNIST digit, every epoch
    # Each draw keeps the recipe's share of each digit (labels of a draw: the same counts).
    labels = three.data.train.labels
    counts = [np.bincount(labels[600 + d * size : 600 + (d + 1) * size], minlength=10) for d in range(3)]
    assert all(np.abs(c - counts[0]).max() <= 2 for c in counts)


def test_draws_are_deterministic_by_seed_and_distinct(tiny_mnist):
    config = TrainConfig(**MIXED, synthetic_draws=2)
    first, again = training_set(config, tiny_mnist), training_set(config, tiny_mnist)
    np.testing.assert_array_equal(first.data.train.images, again.data.train.images)
    assert draw_seed(7, 0) == 7
    from digitnet.jobs.model_build import VALIDATION_FONT_SEED

    seeds = {draw_seed(seed, draw) for seed in range(3) for draw in range(1, 50)}
    # No draw of runs seeded 0-2 renders the validation digits models are chosen on, nor another's.
    assert len(seeds) == 147 and not seeds & {0, 1, 2, VALIDATION_FONT_SEED}


def test_synthetic_draws_is_checked_and_has_a_flag():
    from digitnet.cli import build_parser
    from digitnet.training.flags import config_from_args

    for bad in (0, 51):
        with pytest.raises(ConfigError, match="synthetic_draws"):
            TrainConfig(synthetic_draws=bad).validate()
    args = build_parser().parse_args(["train", "--recipe", "read", "--synthetic-draws", "4"])
    assert config_from_args(args).synthetic_draws == 4
    assert TrainConfig.from_dict({}).synthetic_draws == 1  # a run from before the field: one draw


def test_a_run_with_draws_trains_an_epochs_worth_and_resumes_exactly(tmp_path, tiny_mnist):
    config = TrainConfig(
        **MIXED, synthetic_draws=2, epochs=3, batch_size=50, learning_rate=1e-3, train_eval_size=200,
        steps_per_call=4, augment=False,
    )  # fmt: skip
    whole = loop.train(config, tmp_path / "whole", tiny_mnist)
    recorded = json.loads((tmp_path / "whole" / "config.json").read_text())["training_fonts"]
    assert recorded and {entry["file"] for entry in recorded} <= {p.name for p in font_files("train")}
    epoch_size = training_set(config, tiny_mnist).epoch_size
    assert whole.iterations == 3 * (epoch_size // 50)
    assert runs.read_run_config(tmp_path / "whole").synthetic_draws == 2

    def interrupt_in_epoch_two(progress):
        if progress.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(loop.TrainingInterrupted):
        loop.train(config, tmp_path / "cut", tiny_mnist, on_progress=interrupt_in_epoch_two)
    loop.resume(tmp_path / "cut", tiny_mnist)
    from digitnet.jobs.keras_models import load_model

    whole_weights, cut_weights = (
        load_model(tmp_path / "whole").get_weights(),
        load_model(tmp_path / "cut").get_weights(),
    )
    assert all(np.array_equal(x, y) for x, y in zip(whole_weights, cut_weights))


def test_hard_weighted_forms_write_the_hard_forms_more_often_within_the_same_share(tiny_mnist):
    from digitnet.data.writer import ALLOGRAPHS, BY_NAME
    from digitnet.training.config import (
        FLAGGED_ONE_WEIGHT,
        FLAGGED_ONES,
        FLAT_FLAG_ONE,
        HARD_FORM_WEIGHT,
        HARD_FORMS,
    )
    from digitnet.training.training_set import writer_forms

    assert writer_forms("preferred") is None
    assert writer_forms("even") == [allograph.name for allograph in ALLOGRAPHS]
    weighted = writer_forms("hard-weighted")
    assert set(weighted) == set(BY_NAME) and set(HARD_FORMS) <= set(BY_NAME)
    counts = {name: weighted.count(name) for name in BY_NAME}
    assert all(counts[name] == (HARD_FORM_WEIGHT if name in HARD_FORMS else 1) for name in BY_NAME)
    flags = writer_forms("flags-weighted")
    assert flags[: len(weighted)] == weighted  # hard-weighted's order kept, the 1s added after
    assert all(flags.count(name) == FLAGGED_ONE_WEIGHT for name in FLAGGED_ONES)
    assert all(flags.count(name) == counts[name] for name in BY_NAME if name not in FLAGGED_ONES)
    flat = writer_forms("flat-flag-weighted")
    assert flat[: len(flags)] == flags and flat.count(FLAT_FLAG_ONE) == FLAGGED_ONE_WEIGHT
    assert all(flat.count(name) == flags.count(name) for name in BY_NAME if name != FLAT_FLAG_ONE)
    config = TrainConfig(seed=1, writer_fraction=0.2, writer_forms="hard-weighted")
    even = TrainConfig(seed=1, writer_fraction=0.2, writer_forms="even")
    assert training_set(config, tiny_mnist).epoch_size == training_set(even, tiny_mnist).epoch_size


def test_look_alike_share_relabels_that_share_of_the_look_alike_forms_only():
    from digitnet.data.writer import LOOK_ALIKES
    from digitnet.training.training_set import look_alike_labels

    (form, look_alike), *_ = LOOK_ALIKES.items()
    forms = np.array([form, "7 plain", "1 plain"] * 400)
    labels = np.array([1, 7, 1] * 400, np.int32)
    assert look_alike_labels(labels, forms, 0.0, seed=3) is labels
    everything = look_alike_labels(labels, forms, 1.0, seed=3)
    assert np.all(everything[forms == form] == look_alike)
    assert np.array_equal(everything[forms != form], labels[forms != form])
    half = look_alike_labels(labels, forms, 0.5, seed=3)
    assert 0.4 < (half[forms == form] == look_alike).mean() < 0.6
    assert np.array_equal(half, look_alike_labels(labels, forms, 0.5, seed=3))  # a resumed run: alike
    assert not np.array_equal(half, look_alike_labels(labels, forms, 0.5, seed=4))
    assert np.array_equal(labels, np.array([1, 7, 1] * 400))  # the input is left as it was


def test_look_alike_share_is_checked_and_has_a_flag():
    from digitnet.cli import build_parser
    from digitnet.training.flags import config_from_args

    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="look_alike_share"):
            TrainConfig(look_alike_share=bad).validate()
    args = build_parser().parse_args(["train", "--recipe", "read", "--look-alike-share", "0.5"])
    assert config_from_args(args).look_alike_share == 0.5
    assert TrainConfig.from_dict({}).look_alike_share == 0.0  # a run from before the field
