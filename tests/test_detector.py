"""The not-a-digit detector: trains, picks its threshold on held-out digits, saves and loads."""

import numpy as np
import pytest

from conftest import synthetic_split
from digitnet.data.negatives import negative_images, scribble, two_digits, uniform_noise
from digitnet.jobs import detector_train
from digitnet.reading import detector


def _digits_u8(count, seed):
    return np.round(synthetic_split(count, seed).images[..., 0] * 255).astype(np.uint8)


def test_negative_makers_are_seeded_and_shaped():
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    assert np.array_equal(scribble(rng_a), scribble(rng_b))
    assert uniform_noise(np.random.default_rng(2)).ndim == 2
    pair = two_digits(_digits_u8(10, 0), np.random.default_rng(3))
    assert pair.shape[0] == 28 and 52 <= pair.shape[1] <= 64


def test_negatives_are_preprocessed_to_mnist_form():
    images = negative_images("scribble", 5, np.random.default_rng(0))
    assert images.shape == (5, 28, 28) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_tiny_detector_learns_digits_from_noise_and_round_trips(tmp_path):
    digits = _digits_u8(600, 0)
    fashion_like = np.random.default_rng(5).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    train_set = detector_train.make_training_set(digits, fashion_like, negatives=400, rerendered=100)
    assert set(np.unique(train_set.is_digit)) == {0.0, 1.0}
    holdout = synthetic_split(300, 1).images[..., 0]
    threshold = detector_train.train_detector(train_set, [holdout], tmp_path / "det", epochs=3)
    loaded = detector.load_detector(tmp_path / "det")
    assert loaded.threshold == pytest.approx(threshold)
    assert loaded.not_a_digit(holdout).mean() <= 0.02  # the threshold flags about 0.8% of held-out digits
    drawn = negative_images("shapes", 100, np.random.default_rng(99))
    assert loaded.not_a_digit(drawn).mean() >= 0.9
    # The loaded detector runs its LiteRT file, with the training network's scores (its weights
    # stored as float16: within a few thousandths of a logit).
    from digitnet.jobs.keras_models import load_keras_file

    keras_detector = load_keras_file(tmp_path / "det" / detector.MODEL_FILE)
    assert loaded.logits_fn.engine == "litert"
    np.testing.assert_allclose(
        loaded.scores(holdout), detector_train.detector_scores(keras_detector, holdout), atol=0.02
    )


def test_missing_or_damaged_detector_is_a_clear_error(tmp_path):
    with pytest.raises(detector.DetectorError, match="digitnet detector train"):
        detector.load_detector(tmp_path)
    (tmp_path / detector.MODEL_FILE).write_bytes(b"junk")
    (tmp_path / detector.THRESHOLD_FILE).write_text('{"threshold": 0.0}')
    with pytest.raises(detector.DetectorError, match="cannot be used"):
        detector.load_detector(tmp_path)


def test_a_folder_with_a_litert_file_and_no_keras_file_is_a_detector(tmp_path):
    """As the shipped package holds its detector: the LiteRT file reads alone; a threshold alone
    is no detector, and a damaged LiteRT file is one clear error."""
    from digitnet.reading.model_source import default_model_dir

    (tmp_path / detector.THRESHOLD_FILE).write_text('{"threshold": 0.25}')
    assert not detector.has_detector(tmp_path)
    (tmp_path / detector.LITERT_FILE).write_bytes(b"junk")
    assert detector.has_detector(tmp_path)
    with pytest.raises(detector.DetectorError, match="cannot be used"):
        detector.load_detector(tmp_path)
    shipped = default_model_dir() / "detector" / detector.LITERT_FILE
    (tmp_path / detector.LITERT_FILE).write_bytes(shipped.read_bytes())
    loaded = detector.load_detector(tmp_path)
    assert loaded.threshold == 0.25 and loaded.source == tmp_path / detector.LITERT_FILE
    images = synthetic_split(8, 3).images
    np.testing.assert_array_equal(loaded.scores(images), detector.load_shipped_detector().scores(images))


def test_the_threshold_flags_at_most_the_rate_of_every_kind_of_digit():
    rng = np.random.default_rng(0)
    plain, unusual = rng.normal(5.0, 1.0, 10_000), rng.normal(2.0, 1.0, 1_000)  # unusual: less digit-like
    threshold = detector_train.each_kind_threshold([plain, unusual], 0.01)
    assert np.mean(unusual < threshold) == pytest.approx(0.01, abs=0.001)
    assert np.mean(plain < threshold) < 0.001  # the plain kind is flagged less, not the unusual more
    pooled = np.quantile(np.concatenate([plain, unusual]), 0.01)
    assert np.mean(unusual < pooled) > 0.05  # what one threshold over both pooled would have done
    with pytest.raises(ValueError, match="every kind"):
        detector_train.each_kind_threshold([plain, np.array([])], 0.01)


def test_training_negatives_are_never_blank():
    """A negative that preprocesses to a blank page teaches nothing: it is drawn again."""
    from digitnet.reading.uncertainty import too_faint_to_read

    digits = _digits_u8(200, 0)
    fashion_like = np.random.default_rng(5).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    train_set = detector_train.make_training_set(digits, fashion_like, negatives=200, rerendered=20)
    negatives = train_set.images[train_set.is_digit == 0]
    assert len(negatives) > 0 and not too_faint_to_read(negatives).any()


def test_train_on_mnist_assembles_the_sets_from_the_splits_and_saves_the_detector(tmp_path):
    from conftest import synthetic_mnist

    fashion_like = np.random.default_rng(5).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    threshold = detector_train.train_on_mnist(
        synthetic_mnist(train_size=300),
        fashion_like,
        tmp_path / "det",
        negatives=150,
        epochs=1,
        extra_holdout=[synthetic_split(20, 3).images[..., 0]],
    )
    assert detector.load_detector(tmp_path / "det").threshold == pytest.approx(threshold)


def test_a_saved_detector_carries_its_litert_file_and_reads_without_keras(tmp_path):
    from digitnet.layout import read_litert_beside

    digits = _digits_u8(300, 0)
    fashion_like = np.random.default_rng(5).integers(0, 256, (100, 28, 28), dtype=np.uint8)
    train_set = detector_train.make_training_set(digits, fashion_like, negatives=100, rerendered=20)
    detector_train.train_detector(
        train_set, [synthetic_split(50, 1).images[..., 0]], tmp_path / "det", epochs=1
    )
    assert read_litert_beside(tmp_path / "det" / detector.MODEL_FILE) is not None
    loaded = detector.load_detector(tmp_path / "det")
    assert loaded.logits_fn.engine == "litert"
    with pytest.raises(Exception, match="unknown inference engine"):
        detector.load_detector(tmp_path / "det", engine="keras")
    # Its weights are stored as float16: about half a float32 conversion of the same network.
    from digitnet.jobs.keras_models import load_keras_file
    from digitnet.training.inference import keras_to_litert

    network = load_keras_file(tmp_path / "det" / detector.MODEL_FILE)
    stored = (tmp_path / "det" / detector.LITERT_FILE).stat().st_size
    assert stored < 0.6 * len(keras_to_litert(network))
