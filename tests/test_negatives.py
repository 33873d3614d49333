"""Non-digit families: the training kinds and the held-out kinds, each in the MNIST form."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.data import negatives
from digitnet.data.negatives import HELDOUT_KINDS, KINDS, TRAIN_KINDS, NegativesError

COUNT = 12
# Kinds where an image may rightly come out blank: to_mnist finds no ink in uniform noise, nor on
# plain paper, nor in a pattern covering the whole page (it is taken for the background).
MAY_BE_BLANK = {"noise", "paper", "texture", "fashion", "scribble"}


@pytest.fixture(scope="module")
def digits_u8() -> np.ndarray:
    """Tiny stand-ins for MNIST digits: a ring (0) and a bar with a flag (7), bright on black."""
    rows, cols = np.mgrid[0:28, 0:28]
    ring = (np.abs(np.hypot(rows - 14, cols - 14) - 7) < 2) * 255
    seven = np.zeros((28, 28))
    seven[5:8, 7:21] = 255
    for row in range(8, 24):
        seven[row, 19 - (row - 8) // 2 : 22 - (row - 8) // 2] = 255
    return np.stack([ring, seven]).astype(np.uint8)


@pytest.fixture(scope="module")
def fashion_u8() -> np.ndarray:
    shirt = np.zeros((28, 28), np.uint8)
    shirt[4:24, 6:22] = 200
    return shirt[np.newaxis]


def make(kind, digits_u8, fashion_u8, seed=0, count=COUNT):
    return negatives.negative_images(kind, count, np.random.default_rng(seed), digits_u8, fashion_u8)


def test_held_out_kinds_are_disjoint_from_the_training_kinds():
    assert TRAIN_KINDS == (
        "fashion",
        "noise",
        "scribble",
        "two_digits",
        "shapes",
        *negatives.WRITING_KINDS,
        "raw_noise",
    )
    assert HELDOUT_KINDS == ("letters", "curves", "texture", "paper", "partial")
    assert negatives.VALIDATION_KINDS == ("validation_letters", "doodles", "empty_fields")
    splits = (set(TRAIN_KINDS), set(negatives.VALIDATION_KINDS), set(HELDOUT_KINDS))
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    assert set(KINDS) == splits[0] | splits[1] | splits[2]


def test_validation_letters_come_from_the_validation_fonts_alone():
    from digitnet.data.synthetic import font_files

    fonts = negatives.validation_letter_fonts()
    assert fonts == font_files("validation", for_detector=True)
    assert set(fonts) < set(font_files("validation"))
    assert not set(fonts) & (set(font_files("train")) | set(negatives.letter_fonts()))


def test_the_detector_trains_on_training_kinds_only():
    from digitnet.jobs.detector_train import (
        MARKS_NEGATIVE_MIX,
        MARKS_OWN_SHARE_MIX,
        NEGATIVE_MIX,
        RAW_NOISE_NEGATIVE_MIX,
        READING_NEGATIVE_MIX,
        WRITING_KINDS_BEFORE_MARKS,
        WRITING_NEGATIVE_MIX,
        WRITTEN_LETTERS_NEGATIVE_MIX,
    )

    mixes = (NEGATIVE_MIX, WRITING_NEGATIVE_MIX, MARKS_NEGATIVE_MIX, MARKS_OWN_SHARE_MIX)
    for mix in (*mixes, WRITTEN_LETTERS_NEGATIVE_MIX, RAW_NOISE_NEGATIVE_MIX):
        assert set(mix) <= set(TRAIN_KINDS) and sum(mix.values()) == pytest.approx(1.0)
    assert set(WRITING_NEGATIVE_MIX) - set(NEGATIVE_MIX) == set(WRITING_KINDS_BEFORE_MARKS)
    # each candidate mix keeps the kinds it was measured with, whatever kinds come later
    assert set(MARKS_NEGATIVE_MIX) - set(NEGATIVE_MIX) == {*WRITING_KINDS_BEFORE_MARKS, "marks"}
    assert set(MARKS_OWN_SHARE_MIX) == set(MARKS_NEGATIVE_MIX)
    assert READING_NEGATIVE_MIX is RAW_NOISE_NEGATIVE_MIX  # the shipped detector's mix
    assert set(WRITTEN_LETTERS_NEGATIVE_MIX) == set(MARKS_OWN_SHARE_MIX) | {"written_letters"}
    # marks, then written letters, take their share from the non-writing families, not from the
    # writing kinds before them
    for kind in WRITING_KINDS_BEFORE_MARKS:
        assert MARKS_OWN_SHARE_MIX[kind] == WRITING_NEGATIVE_MIX[kind] == WRITTEN_LETTERS_NEGATIVE_MIX[kind]
    assert WRITTEN_LETTERS_NEGATIVE_MIX["marks"] == MARKS_OWN_SHARE_MIX["marks"]
    assert WRITTEN_LETTERS_NEGATIVE_MIX["written_letters"] == MARKS_OWN_SHARE_MIX["marks"]
    # raw noise takes the share of the noise that preprocesses to blank, nothing else moves
    assert RAW_NOISE_NEGATIVE_MIX["raw_noise"] == MARKS_OWN_SHARE_MIX["noise"]
    assert {k: v for k, v in RAW_NOISE_NEGATIVE_MIX.items() if k != "raw_noise"} == {
        k: v for k, v in MARKS_OWN_SHARE_MIX.items() if k != "noise"
    }


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_in_mnist_form_and_deterministic(kind, digits_u8, fashion_u8):
    images = make(kind, digits_u8, fashion_u8)
    assert images.shape == (COUNT, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.array_equal(images, make(kind, digits_u8, fashion_u8))
    inked = [image.any() for image in images]
    if kind in MAY_BE_BLANK:
        assert kind == "noise" or any(inked)
    else:
        assert all(inked), f"{kind}: {inked.count(False)} of {COUNT} came out blank"


@pytest.mark.parametrize("kind", HELDOUT_KINDS + negatives.VALIDATION_KINDS + negatives.WRITING_KINDS)
def test_held_out_kinds_vary_with_the_seed(kind, digits_u8, fashion_u8):
    assert not np.array_equal(
        make(kind, digits_u8, fashion_u8, seed=0), make(kind, digits_u8, fashion_u8, seed=1)
    )


def test_raw_noise_is_sent_in_the_mnist_form_as_it_is_and_never_blank():
    images = negatives.negative_images("raw_noise", 50, np.random.default_rng(0))
    assert images.shape == (50, 28, 28) and images.dtype == np.float32
    assert (images.reshape(50, -1).max(axis=1) > 0.25).all()  # not preprocessed: no blank page
    assert (images > 0).mean() > 0.04  # ink all over the array, not a centred digit


def test_letters_never_hold_a_character_that_looks_like_a_digit():
    assert not set(negatives.LETTER_CHARACTERS) & negatives.EXCLUDED_CHARACTERS
    assert set("0123456789OoIlSsBZzgqT") <= negatives.EXCLUDED_CHARACTERS
    rng = np.random.default_rng(0)
    fonts = negatives.letter_fonts()
    written = "".join(negatives.letter_image(rng, fonts)[1] for _ in range(60))
    assert written and not set(written) & negatives.EXCLUDED_CHARACTERS
    assert set(written) <= set(negatives.LETTER_CHARACTERS)


def test_letters_use_held_out_and_printed_fonts_never_training_fonts():
    from digitnet.data.synthetic import font_files

    fonts = negatives.letter_fonts()
    assert not set(fonts) & set(font_files("train"))
    assert set(font_files("heldout")) <= set(fonts)
    assert any(path.name.startswith("DejaVu") for path in fonts)


def test_partial_digits_keep_at_most_half_of_a_digit(digits_u8):
    rng = np.random.default_rng(0)
    for digit in digits_u8.astype(np.float32):
        for _ in range(5):
            kept = negatives._cut_away(digit, rng).sum() / digit.sum()
            assert 0.25 <= kept <= 0.55  # 50-70% cut, give or take the pixels at the cut
            assert negatives._corner_fragment(digit, rng).sum() < digit.sum()


def test_one_straight_stroke_is_recognised():
    bar = np.zeros((28, 28), np.float32)
    bar[4:24, 13:16] = 1.0
    ring = np.zeros((28, 28), np.float32)
    ring[6:22, 6:22] = 1.0
    ring[9:19, 9:19] = 0.0
    assert negatives._is_one_stroke(bar) and not negatives._is_one_stroke(ring)


def test_unknown_kind_and_missing_sources_are_clear_errors(digits_u8):
    rng = np.random.default_rng(0)
    with pytest.raises(NegativesError, match="unknown kind of negative 'words'"):
        negatives.negative_images("words", 1, rng)
    with pytest.raises(NegativesError, match="need digits_u8"):
        negatives.negative_images("partial", 1, rng)
    with pytest.raises(NegativesError, match="need fashion_u8"):
        negatives.negative_images("fashion", 1, rng, digits_u8)


def test_no_images_is_an_empty_set(digits_u8):
    assert negatives.negative_images("curves", 0, np.random.default_rng(0)).shape == (0, 28, 28)
