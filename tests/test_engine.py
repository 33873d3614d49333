"""The inference engine of predict and serve: LiteRT files that give Keras's answers, verified, cached,
thread-safe; a network without one is named, converted once on the training side, then read."""

import shutil
import threading

import numpy as np
import pytest

from conftest import synthetic_mnist
from digitnet import layout
from digitnet.jobs.keras_models import convert_missing, keras_probability_model, load_model
from digitnet.reading import engine
from digitnet.reading.predict import ProbabilityModel
from digitnet.training.inference import make_logits_fn


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "digitnet" / "compiled"


def _keras_only_copy(run_dir, folder):
    """The run as a user may hold it: model.keras alone (no LiteRT file beside it)."""
    folder.mkdir()
    shutil.copy2(run_dir / layout.MODEL_FILE, folder / layout.MODEL_FILE)
    return folder


def test_a_trained_run_carries_its_litert_file(tiny_model_dir):
    keras_file = tiny_model_dir / layout.MODEL_FILE
    assert layout.litert_path(keras_file).is_file()
    assert layout.read_litert_beside(keras_file) is not None


@pytest.mark.parametrize("batch", [1, 7, 200])
def test_litert_logits_match_keras(tiny_model_dir, cache, batch):
    images = synthetic_mnist(seed=3).test.images[:batch]
    fast = ProbabilityModel(tiny_model_dir)
    assert fast.engine == "litert"
    reference = make_logits_fn(load_model(tiny_model_dir))(images)
    np.testing.assert_allclose(fast.member_logits(images)[0], reference, atol=1e-4)
    assert not cache.exists()  # read from beside the model: nothing converted


def test_batch_sizes_can_alternate(tiny_model_dir):
    (fast,) = ProbabilityModel(tiny_model_dir).logits_fns
    images = synthetic_mnist(seed=4).test.images
    reference = make_logits_fn(load_model(tiny_model_dir))(images)
    for size in (1, 5, 1, 50, 2, 3, 4, 6, 1):  # more sizes than interpreters kept
        np.testing.assert_allclose(fast(images[:size]), reference[:size], atol=1e-4)


def test_a_keras_file_without_litert_is_named_then_converted_once_into_the_cache(
    tiny_model_dir, cache, tmp_path
):
    folder = _keras_only_copy(tiny_model_dir, tmp_path / "plain")
    with pytest.raises(engine.NeedsConversionError, match=r"pip install 'digitnet\[train\]'") as caught:
        ProbabilityModel(folder)
    assert "\n" not in str(caught.value) and str(folder / layout.MODEL_FILE) in str(caught.value)
    assert convert_missing([folder / layout.MODEL_FILE]) == [folder / layout.MODEL_FILE]
    (cached,) = cache.glob("*.tflite")
    assert convert_missing([folder / layout.MODEL_FILE]) == []  # once
    images = synthetic_mnist(seed=5).test.images[:30]
    np.testing.assert_allclose(
        ProbabilityModel(folder).member_logits(images), ProbabilityModel(tiny_model_dir).member_logits(images)
    )


def _corrupt_zeroed(data: bytes) -> bytes:
    middle = len(data) // 2  # the weights: the file still parses, the answers change
    return data[:middle] + bytes(256) + data[middle + 256 :]


def _corrupt_random(data: bytes) -> bytes:
    return data[:8] + np.random.default_rng(0).bytes(len(data) - 8)  # keeps the "TFL3" identifier


@pytest.mark.parametrize("corrupt", [_corrupt_zeroed, _corrupt_random], ids=["zeroed", "random"])
def test_a_damaged_litert_file_is_never_run(tiny_model_dir, cache, tmp_path, corrupt):
    folder = tmp_path / "run"
    shutil.copytree(tiny_model_dir, folder)
    beside = layout.litert_path(folder / layout.MODEL_FILE)
    beside.write_bytes(corrupt(beside.read_bytes()))
    with pytest.raises(engine.NeedsConversionError):
        ProbabilityModel(folder)
    convert_missing([folder / layout.MODEL_FILE])
    (cached,) = cache.glob("*.tflite")
    cached.write_bytes(corrupt(cached.read_bytes()))
    with pytest.raises(engine.NeedsConversionError):  # the cache is checked as strictly
        ProbabilityModel(folder)


def test_a_litert_file_left_from_an_older_model_keras_is_not_used(tiny_model_dir, cache, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(tiny_model_dir, folder)
    model = load_model(folder)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    model.save(folder / layout.MODEL_FILE)  # changed after the conversion: model.tflite is stale
    assert layout.read_litert_beside(folder / layout.MODEL_FILE) is None
    with pytest.raises(engine.NeedsConversionError):
        ProbabilityModel(folder)


def test_an_unknown_engine_names_the_choices(tiny_model_dir):
    with pytest.raises(engine.EngineError, match="auto, litert"):
        ProbabilityModel(tiny_model_dir, engine="tpu")


def test_probability_model_answers_alike_on_litert_and_keras(tiny_model_dir):
    images = synthetic_mnist(seed=5).test.images
    fast = ProbabilityModel(tiny_model_dir)
    plain = keras_probability_model(tiny_model_dir)
    assert (fast.engine, plain.engine) == ("litert", "keras")
    fast_digits, fast_probabilities = fast.predict(images)
    plain_digits, plain_probabilities = plain.predict(images)
    assert np.array_equal(fast_digits, plain_digits)
    np.testing.assert_allclose(fast_probabilities, plain_probabilities, atol=1e-5)


def test_concurrent_callers_each_get_their_own_answer(tiny_model_dir):
    (fast,) = ProbabilityModel(tiny_model_dir).logits_fns
    images = synthetic_mnist(seed=6).test.images[:40]
    reference = make_logits_fn(load_model(tiny_model_dir))(images)
    wrong = []

    def worker(index):
        for size in (1, 3):
            batch = images[index : index + size]
            if not np.allclose(fast(batch), reference[index : index + size], atol=1e-4):
                wrong.append(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(0, 40, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@pytest.mark.slow
def test_litert_gives_the_real_models_test_predictions(real_model_dir, real_mnist):
    fast = ProbabilityModel(real_model_dir)
    plain = keras_probability_model(real_model_dir)
    images = real_mnist.test.images
    assert np.array_equal(fast.predict(images)[0], plain.predict(images)[0])
