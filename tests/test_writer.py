"""The stroke-based synthetic writer: its inventory, its writers' split, its images, and that they read."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from digitnet.data import writer
from digitnet.data.writer import ALLOGRAPHS, BY_NAME, MEDIA, PLAIN_FORMS, WriterError

# The forms issue 16 asks for, at the least.
REQUIRED_FORMS = (
    "1 plain", "1 short flag", "1 long flag", "1 foot", "1 flag and foot",
    "7 plain", "7 crossed", "7 curved stem",
    "4 closed", "4 open", "4 one zigzag stroke", "4 long stem",
    "9 straight stem", "9 curved stem", "9 g tail", "9 foot",
    "2 plain", "2 loop", "0 one stroke", "0 two strokes", "8 one stroke", "8 two strokes",
    "3 flat top", "3 round",
)  # fmt: skip
# Measured: the shipped model (read recipe, seed 0) reads 99.7% of the 300 plain forms below (1 wrong);
# the floor leaves a margin for a retrained shipped model. (It reads only 20% of "1 long flag" and
# 26% of "9 g tail": docs/measurements/writers.json.)
PLAIN_FLOOR = 0.95
# The continental 1 whose long up-stroke is nearly a bar is often a 7 to the shipped model (about
# 20% read as 1 when first trained on, about half written six times as often:
# docs/measurements/flat-flag-weight-choice.json), as a 7 without its cross is to many readers: the
# form is checked to read as one of the two.
READ_AS_SEVEN = ("1 flat flag",)


def test_the_inventory_has_every_required_form_and_each_digit_twice_or_more():
    assert set(REQUIRED_FORMS) <= set(BY_NAME)
    assert len(BY_NAME) == len(ALLOGRAPHS)  # names are unique
    for digit in range(10):
        assert len(writer.forms_of(digit)) >= 2
    assert [BY_NAME[name].digit for name in PLAIN_FORMS] == list(range(10))


def test_writers_are_split_by_id_never_both():
    train, heldout = writer.writer_ids(300, "train", seed=0), writer.writer_ids(100, "heldout", seed=0)
    assert len(set(train)) == 300 and len(set(heldout)) == 100
    assert not set(train) & set(heldout)
    assert {writer.writer_split(i) for i in train} == {"train"}
    assert {writer.writer_split(i) for i in heldout} == {"heldout"}
    assert writer.writer_ids(300, "train", seed=0) == train  # deterministic
    share = np.mean([writer.writer_split(i) == "heldout" for i in range(5000)])
    assert 0.17 < share < 0.23  # one in HELDOUT_SHARE = 5


def test_a_writer_is_one_draw_from_its_id():
    assert writer.make_writer(12345) == writer.make_writer(12345)
    assert writer.make_writer(12345) != writer.make_writer(12346)
    media = {writer.make_writer(i).medium for i in range(300)}
    assert media == set(MEDIA)


def test_the_detectors_writers_write_only_its_forms_and_are_otherwise_the_same_writers():
    # The detector learns from the inventory as it was when it was chosen (writer.DETECTOR_FORMS),
    # so that adding a form leaves the detector `make model` makes as it was.
    assert set(writer.NOT_FOR_DETECTOR) <= set(BY_NAME)
    assert not set(writer.NOT_FOR_DETECTOR) & {a.name for a in writer.DETECTOR_FORMS}
    assert [a for a in ALLOGRAPHS if a in writer.DETECTOR_FORMS] == list(writer.DETECTOR_FORMS)
    full, theirs = writer.make_writer(77), writer.make_writer(77, writer.DETECTOR_FORMS)
    assert dataclasses.replace(theirs, preferences=full.preferences) == full  # only the preferences differ
    assert [len(p) for p in theirs.preferences] == [
        len(writer.forms_of(d, writer.DETECTOR_FORMS)) for d in range(10)
    ]
    written = writer.write_digits(400, "train", seed=6, for_detector=True)
    assert not set(written.forms) & set(writer.NOT_FOR_DETECTOR)
    assert set(writer.NOT_FOR_DETECTOR) & set(writer.write_digits(400, "train", seed=6).forms)


def test_digits_are_deterministic_by_seed_and_shaped_like_mnist():
    images, labels, forms = writer.writer_digits(40, "train", seed=3)
    again, again_labels, again_forms = writer.writer_digits(40, "train", seed=3)
    assert images.shape == (40, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert all(image.any() for image in images), "a written digit came out blank"
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    assert list(forms) == list(again_forms)
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10
    assert [BY_NAME[form].digit for form in forms] == labels.tolist()
    other, _, _ = writer.writer_digits(40, "train", seed=4)
    assert not np.array_equal(images, other)


def test_train_and_heldout_digits_come_from_disjoint_writers():
    train = writer.write_digits(30, "train", seed=0)
    heldout = writer.write_digits(30, "heldout", seed=0)
    assert not set(train.writer_ids) & set(heldout.writer_ids)
    assert len(set(train.writer_ids)) == 3  # DIGITS_PER_WRITER = 10 digits a writer


@pytest.mark.parametrize("medium", sorted(MEDIA))
def test_every_allograph_renders_in_every_medium(medium):
    rng = np.random.default_rng(0)
    for index, allograph in enumerate(ALLOGRAPHS):
        person = dataclasses.replace(writer.make_writer(index), medium=medium)
        image = writer.render_digit(allograph, person, rng)
        assert image.shape == (28, 28) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert image.sum() > 10, f"{allograph.name} in {medium} is (nearly) blank"


def test_forms_can_be_chosen_and_each_is_written_by_another_writer():
    names = ["1 long flag", "9 g tail"]
    written = writer.write_digits(20, "heldout", seed=1, forms=names)
    assert list(written.forms) == names * 10
    assert written.labels.tolist() == [1, 9] * 10
    assert written.pen_widths.shape == (20,) and np.all(written.pen_widths > 0)


def test_bad_arguments_are_one_clear_line():
    for call in (
        lambda: writer.writer_digits(10, "test"),
        lambda: writer.writer_digits(-1),
        lambda: writer.write_digits(10, forms=["1 with a hat"]),
    ):
        with pytest.raises(WriterError) as caught:
            call()
        assert "\n" not in str(caught.value)
    assert writer.writer_digits(0)[0].shape == (0, 28, 28, 1)


def test_writing_imports_no_tensorflow():
    code = "import sys, digitnet.data.writer; print(any(m in sys.modules for m in ('tensorflow', 'keras')))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_the_shipped_model_reads_the_plain_forms():
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import ProbabilityModel

    written = writer.write_digits(300, "heldout", seed=0, forms=list(PLAIN_FORMS))
    predicted, _ = ProbabilityModel(ModelSource.default()).predict(written.images)
    assert np.mean(predicted == written.labels) >= PLAIN_FLOOR


def test_every_allograph_renders_the_digit_it_claims():
    # The shipped model trained on training writers' forms; held-out writers' forms are read as the
    # digit they claim more often than as anything else (in benchmarks/writers.py the weakest
    # besides the flat-flag 1, the 1 with a short flag, at 93%): a form drawn as another digit
    # would fail here. The flat-flag 1 is read as 1 about half the time, else as 7 (README).
    from digitnet.reading.model_source import ModelSource
    from digitnet.reading.predict import ProbabilityModel

    names = [allograph.name for allograph in writer.ALLOGRAPHS]
    written = writer.write_digits(20 * len(names), "heldout", seed=4, forms=names)
    predicted, _ = ProbabilityModel(ModelSource.default()).predict(written.images)
    for name in names:
        chosen = written.forms == name
        if name in READ_AS_SEVEN:
            assert np.mean(np.isin(predicted[chosen], (1, 7))) >= 0.9, name  # a 1 or a 7, not a scrawl
        else:
            assert np.mean(predicted[chosen] == written.labels[chosen]) >= 0.5, name


# ---------------------------------------------------------------- training on writers' digits


def test_writer_fraction_adds_training_writers_digits_beside_the_font_digits(tiny_mnist):
    from digitnet.training.config import TrainConfig
    from digitnet.training.training_set import training_set

    config = TrainConfig(seed=2, synthetic_fraction=0.1, writer_fraction=0.2)
    assert config.synthetic_count(700) == 100 and config.writer_count(700) == 200  # 700 is 70% of 1000
    mixed = training_set(config, tiny_mnist).data
    assert len(mixed.train) == 600 + config.synthetic_count(600) + config.writer_count(600)
    written, labels, _ = writer.writer_digits(config.writer_count(600), "train", seed=2)
    np.testing.assert_array_equal(mixed.train.images[-len(written) :], written)
    np.testing.assert_array_equal(mixed.train.labels[-len(written) :], labels)
    assert mixed.validation is tiny_mnist.validation and mixed.test is tiny_mnist.test
    assert TrainConfig().writer_count(55_000) == 0


def test_writer_fraction_is_checked_with_the_font_share():
    from digitnet.training.config import ConfigError, TrainConfig

    TrainConfig(synthetic_fraction=0.2, writer_fraction=0.3).validate()
    for bad in (-0.1, 0.31):
        with pytest.raises(ConfigError, match="writer_fraction"):
            TrainConfig(synthetic_fraction=0.2, writer_fraction=bad).validate()


def test_the_writer_flag_reaches_the_config():
    from digitnet.cli import build_parser
    from digitnet.training.flags import config_from_args

    args = build_parser().parse_args(["train", "--recipe", "read", "--writer", "0.2"])
    config = config_from_args(args)
    assert config.writer_fraction == 0.2 and config.synthetic_fraction == 0.1


# ---------------------------------------------------------------- writing that is not a digit


def test_written_letters_for_training_use_training_fonts_only():
    from digitnet.data import negatives
    from digitnet.data.synthetic import font_files

    assert set(negatives.train_letter_fonts()) == set(font_files("train", for_detector=True))
    assert set(negatives.train_letter_fonts()) < set(font_files("train"))
    assert not set(negatives.train_letter_fonts()) & set(negatives.letter_fonts())
    assert not set(negatives.WRITING_KINDS) & set(negatives.HELDOUT_KINDS)


def test_stroke_fragments_are_curved_pieces_neither_straight_nor_closed():
    rng = np.random.default_rng(0)
    strokes = writer.written_strokes(BY_NAME["3 round"], writer.plain_writer(), rng)
    for _ in range(20):
        piece = writer._fragment(strokes, rng)
        low, high = writer.FRAGMENT_BEND
        assert low <= writer._bend(piece) <= high
        assert len(piece) < len(max(strokes, key=len))
    assert writer._bend(np.array([[0.0, 0.0], [0.5, 0.01], [1.0, 0.0]])) < low  # nearly straight
    assert low <= writer._bend(writer.arc(0, 0, 1, 1, 0, 180)) <= high  # half a circle
    assert writer._bend(writer.arc(0, 0, 1, 1, 0, 330)) > high  # nearly closed


def test_crossed_out_and_touching_digits_hold_more_ink_than_one_digit():
    rng = np.random.default_rng(1)
    digit = writer.written_strokes(BY_NAME["7 plain"], writer.plain_writer(), rng)
    crossed = writer._cross_out(np.concatenate(digit), rng)
    assert crossed and all(stroke.shape[1] == 2 for stroke in crossed)
    pair = writer.side_by_side(digit, digit, rng)
    width = np.ptp(np.concatenate(pair)[:, 0])
    assert width > 1.7 * np.ptp(np.concatenate(digit)[:, 0])
    with pytest.raises(WriterError):
        writer.non_digit_page("doodles", rng)


def test_even_writer_forms_write_every_allograph_equally_often(tiny_mnist):
    from digitnet.training.config import TrainConfig
    from digitnet.training.training_set import training_set

    config = TrainConfig(seed=3, writer_fraction=0.2, writer_forms="even")
    count = config.writer_count(len(tiny_mnist.train))
    assert count >= 2 * len(writer.ALLOGRAPHS)
    written = writer.write_digits(count, "train", seed=3, forms=[a.name for a in writer.ALLOGRAPHS])
    mixed = training_set(config, tiny_mnist).data
    np.testing.assert_array_equal(mixed.train.images[-count:], written.images)
    np.testing.assert_array_equal(mixed.train.labels[-count:], written.labels)
    per_form = np.unique(written.forms, return_counts=True)[1]
    assert len(per_form) == len(writer.ALLOGRAPHS) and per_form.max() - per_form.min() <= 1
    # The natural mix gives a digit's forms a tenth of the digits between them: 1's six forms share
    # a tenth, while 'even' gives them six of the 31 allographs' shares.
    assert np.mean(written.labels == 1) > 0.15


def test_writer_forms_is_checked():
    from digitnet.training.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match="writer_forms"):
        TrainConfig(writer_forms="rare").validate()
