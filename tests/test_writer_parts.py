"""model_build.training_writer_digits: writers' digits rendered in parts, one part a core."""

import numpy as np

from digitnet.data.writer import writer_digits
from digitnet.jobs import model_build


def test_parts_are_the_draws_of_their_own_seeds(monkeypatch):
    monkeypatch.setattr(model_build, "WRITER_PART_DIGITS", 12)
    images = model_build.training_writer_digits(30, seed=5)
    expected = [writer_digits(size, "train", 5000 + part)[0][..., 0] for part, size in enumerate((12, 12, 6))]
    assert images.shape == (30, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(images, np.concatenate(expected))


def test_no_digits_asked_none_rendered():
    assert model_build.training_writer_digits(0, seed=5).shape == (0, 28, 28)
