"""The inference engine of predict and serve: LiteRT gives Keras's answers, cached, thread-safe."""

import threading

import numpy as np
import pytest

from conftest import synthetic_mnist
from digitnet.reading import engine
from digitnet.reading.predict import ProbabilityModel, load_model, resolve_model_path
from digitnet.training.inference import make_logits_fn

pytestmark = pytest.mark.skipif(not engine.litert_available(), reason="ai-edge-litert not installed")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "digitnet" / "compiled"


@pytest.mark.parametrize("batch", [1, 7, 200])
def test_litert_logits_match_keras(tiny_model_dir, cache, batch):
    model = load_model(tiny_model_dir)
    images = synthetic_mnist(seed=3).test.images[:batch]
    fast = engine.logits_function(model, resolve_model_path(tiny_model_dir))
    assert fast.engine == "litert"
    reference = make_logits_fn(model)(images)
    np.testing.assert_allclose(fast(images), reference, atol=1e-4)
    assert np.array_equal(fast(images).argmax(axis=1), reference.argmax(axis=1))


def test_batch_sizes_can_alternate(tiny_model_dir, cache):
    model = load_model(tiny_model_dir)
    fast = engine.logits_function(model, resolve_model_path(tiny_model_dir))
    images = synthetic_mnist(seed=4).test.images
    reference = make_logits_fn(model)(images)
    for size in (1, 5, 1, 50, 2, 3, 4, 6, 1):  # more sizes than interpreters kept
        np.testing.assert_allclose(fast(images[:size]), reference[:size], atol=1e-4)


def test_flatbuffer_is_cached_by_model_content_and_a_bad_cache_file_is_rebuilt(
    tiny_model_dir, cache, monkeypatch
):
    model = load_model(tiny_model_dir)
    source = resolve_model_path(tiny_model_dir)
    first = engine.litert_flatbuffer(model, source)
    (cached,) = cache.glob("*.tflite")
    assert cached.read_bytes() == first

    def no_conversion(_model):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(engine, "keras_to_litert", no_conversion)
    assert engine.litert_flatbuffer(model, source) == first
    cached.write_bytes(b"garbage that is not a flatbuffer")
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent.parent))
    assert engine.litert_flatbuffer(model, source) == first
    assert cached.read_bytes() == first


def _corrupt_zeroed(data: bytes) -> bytes:
    middle = len(data) // 2  # the weights: the file still parses, the answers change
    return data[:middle] + bytes(256) + data[middle + 256 :]


def _corrupt_random(data: bytes) -> bytes:
    return data[:8] + np.random.default_rng(0).bytes(len(data) - 8)  # keeps the "TFL3" identifier


@pytest.mark.parametrize("corrupt", [_corrupt_zeroed, _corrupt_random], ids=["zeroed", "random"])
def test_a_damaged_cached_flatbuffer_is_rebuilt_and_answers_equal_keras(tiny_model_dir, cache, corrupt):
    model = load_model(tiny_model_dir)
    source = resolve_model_path(tiny_model_dir)
    images = synthetic_mnist(seed=8).test.images[:20]
    reference = make_logits_fn(model)(images)
    engine.logits_function(model, source)  # fills the cache
    (cached,) = cache.glob("*.tflite")
    good = cached.read_bytes()
    assert cached.with_name(cached.name + ".sha256").is_file()
    cached.write_bytes(corrupt(good))
    notes = []

    fast = engine.logits_function(model, source, report=notes.append)

    assert fast.engine == "litert"
    np.testing.assert_allclose(fast(images), reference, atol=1e-4)
    assert cached.read_bytes() == good  # rebuilt in place
    assert len(notes) == 1 and "checksum" in notes[0] and str(cached) in notes[0]


def test_a_cached_flatbuffer_without_its_checksum_is_rebuilt(tiny_model_dir, cache):
    model = load_model(tiny_model_dir)
    source = resolve_model_path(tiny_model_dir)
    first = engine.litert_flatbuffer(model, source)
    (checksum,) = cache.glob("*.tflite.sha256")
    checksum.unlink()  # as a cache written before checksums were kept
    assert engine.litert_flatbuffer(model, source) == first
    assert checksum.is_file()


def test_keras_engine_and_unknown_engine(tiny_model_dir):
    model = load_model(tiny_model_dir)
    assert engine.logits_function(model, engine="keras").engine == "keras"
    with pytest.raises(engine.EngineError, match="auto, litert, keras"):
        engine.logits_function(model, engine="tpu")


def test_probability_model_answers_alike_on_both_engines(tiny_model_dir, cache):
    images = synthetic_mnist(seed=5).test.images
    fast = ProbabilityModel(tiny_model_dir)
    plain = ProbabilityModel(tiny_model_dir, engine="keras")
    assert (fast.engine, plain.engine) == ("litert", "keras")
    fast_digits, fast_probabilities = fast.predict(images)
    plain_digits, plain_probabilities = plain.predict(images)
    assert np.array_equal(fast_digits, plain_digits)
    np.testing.assert_allclose(fast_probabilities, plain_probabilities, atol=1e-5)


def test_concurrent_callers_each_get_their_own_answer(tiny_model_dir, cache):
    model = load_model(tiny_model_dir)
    fast = engine.logits_function(model, resolve_model_path(tiny_model_dir))
    images = synthetic_mnist(seed=6).test.images[:40]
    reference = make_logits_fn(model)(images)
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
def test_litert_gives_the_real_models_test_predictions(real_model_dir, real_mnist, cache):
    fast = ProbabilityModel(real_model_dir)
    plain = ProbabilityModel(real_model_dir, engine="keras")
    images = real_mnist.test.images
    assert np.array_equal(fast.predict(images)[0], plain.predict(images)[0])
