"""Letters and symbols in the synthetic writer's hand: a training family of non-digits."""

import numpy as np
from PIL import Image

from digitnet.data import negatives, writer, written_letters
from digitnet.data.preprocess import to_mnist


def test_letters_hold_no_digit_like_character_and_no_validation_doodle():
    assert set(written_letters.LETTERS) <= set(negatives.LETTER_CHARACTERS)
    # the plus, equals and times doodles, and an up-pointing chevron (a 7's or a 4's corner)
    assert not set(written_letters.LETTERS) & set("+=Xx^")
    assert "plus" in writer.DOODLES and "equals" in writer.DOODLES and "times" in writer.DOODLES


def test_every_letter_is_strokes_in_a_unit_box():
    for char, strokes in written_letters.LETTERS.items():
        points = np.concatenate(strokes)
        assert all(stroke.ndim == 2 and stroke.shape[1] == 2 and len(stroke) >= 2 for stroke in strokes)
        assert -0.1 <= points.min() and points[:, 1].max() <= 1.5, char
        assert 0.15 <= np.ptp(points[:, 1]) <= 1.5 and 0.3 <= np.ptp(points[:, 0]) <= 0.8, char


def test_a_letter_page_is_deterministic_by_seed_and_holds_one_or_two_characters():
    pages = [written_letters.letter_page(np.random.default_rng(seed)) for seed in range(40)]
    for seed, (image, text) in enumerate(pages[:5]):
        again, same_text = written_letters.letter_page(np.random.default_rng(seed))
        assert np.array_equal(image, again) and text == same_text
    assert all(image.dtype == np.uint8 and image.ndim == 2 for image, _ in pages)
    lengths = [len(text) for _, text in pages]
    assert set(lengths) == {1, 2} and lengths.count(2) < lengths.count(1)
    assert all(to_mnist(Image.fromarray(image)).max() > 0.5 for image, _ in pages)  # ink survives


def test_a_pair_of_letters_is_wider_than_one():
    rng = np.random.default_rng(3)
    person = writer.plain_writer()
    one = writer.hand_written(written_letters.LETTERS["E"], person, rng)
    pair = writer.side_by_side(one, one, rng, gap=written_letters.LETTER_GAP)
    assert np.ptp(np.concatenate(pair)[:, 0]) >= 2 * np.ptp(np.concatenate(one)[:, 0])
