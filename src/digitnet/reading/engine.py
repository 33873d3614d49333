"""The inference engine behind `predict` and the service: a trained Keras model run by LiteRT.

One image through a Keras `tf.function` costs about a millisecond of TensorFlow dispatch; the
same network compiled to a LiteRT flatbuffer and run by its XNNPACK interpreter answers in tens
of microseconds with the same logits (to about 1e-5). The flatbuffer is built from the Keras
model on first use and cached by the model file's SHA-256, so later loads skip the conversion.
The interpreter trusts its input, so the cached file's own SHA-256 is stored beside it and
checked on every load; a file that does not match is rebuilt.
Where LiteRT is not installed or cannot convert a network, the engine falls back to Keras.

Training and evaluation while training keep using TensorFlow directly (digitnet.training.inference).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError, first_line
from digitnet.shapes import INPUT_SHAPE
from digitnet.training.inference import keras_to_litert, make_logits_fn
from digitnet.util.fileio import atomic_write_bytes, cache_dir, file_sha256

ENGINES = ("auto", "litert", "keras")
_INTERPRETERS_KEPT = 4  # batch sizes with a ready interpreter (1 for single requests, a few more)


class EngineError(DigitnetError):
    """The engine asked for cannot run this model; the message says what to do instead."""


def compiled_cache_dir() -> Path:
    return cache_dir("compiled")


def litert_available() -> bool:
    return importlib.util.find_spec("ai_edge_litert") is not None


class LiteRTLogits:
    """images (N, 28, 28, 1) float32 -> logits (N, 10), run by the LiteRT interpreter.

    An interpreter has one input shape at a time; resizing reallocates, so a few interpreters are
    kept ready, one per recent batch size. Calls are serialised: an interpreter is not thread-safe.
    """

    engine = "litert"

    def __init__(self, flatbuffer: bytes, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self._flatbuffer = flatbuffer
        self._threads = threads or os.cpu_count() or 1
        self._make = Interpreter
        self._by_batch: OrderedDict[int, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self._interpreter_for(1)  # fail now, not on the first request, if it cannot run

    def _interpreter_for(self, batch: int) -> tuple:
        ready = self._by_batch.get(batch)
        if ready is not None:
            self._by_batch.move_to_end(batch)
            return ready
        interpreter = self._make(model_content=self._flatbuffer, num_threads=self._threads)
        input_index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(input_index, [batch, *INPUT_SHAPE])
        interpreter.allocate_tensors()
        ready = (interpreter, input_index, interpreter.get_output_details()[0]["index"])
        self._by_batch[batch] = ready
        if len(self._by_batch) > _INTERPRETERS_KEPT:
            self._by_batch.popitem(last=False)
        return ready

    def __call__(self, images) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32).reshape(-1, *INPUT_SHAPE)
        with self._lock:
            interpreter, input_index, output_index = self._interpreter_for(len(images))
            interpreter.set_tensor(input_index, images)
            interpreter.invoke()
            return interpreter.get_tensor(output_index)


def _checksum_path(flatbuffer_path: Path) -> Path:
    return flatbuffer_path.with_name(flatbuffer_path.name + ".sha256")


def _read_verified(path: Path) -> bytes | None:
    """The cached flatbuffer if it matches the SHA-256 stored beside it, else None.

    The interpreter trusts its input: a flatbuffer with a few bytes changed still loads and
    answers, wrongly (or with NaN, or crashes). So a file is used only when its checksum matches.
    """
    try:
        flatbuffer = path.read_bytes()
        stored = _checksum_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return flatbuffer if hashlib.sha256(flatbuffer).hexdigest() == stored else None


def _store_verified(path: Path, flatbuffer: bytes) -> None:
    # Flatbuffer first, checksum last: a reader never sees a checksum for a file not yet written.
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, flatbuffer)
    atomic_write_bytes(_checksum_path(path), hashlib.sha256(flatbuffer).hexdigest().encode("ascii"))


def litert_flatbuffer(
    model, source: Path | None = None, cache: Path | None = None, report: Callable[[str], None] | None = None
) -> bytes:
    """The model as a LiteRT flatbuffer; cached under the SHA-256 of `source` (its .keras file).

    A cached file whose own SHA-256 (stored beside it) does not match is rebuilt; `report`, if
    given, hears one line saying so.
    """
    import keras

    if source is None:
        return keras_to_litert(model)
    cache = Path(cache) if cache is not None else compiled_cache_dir()
    cached = cache / f"{file_sha256(Path(source))}-keras{keras.__version__}.tflite"
    if cached.is_file():
        flatbuffer = _read_verified(cached)
        if flatbuffer is not None:
            return flatbuffer
        if report is not None:
            report(f"compiled model {cached} does not match its checksum; rebuilding it")
    flatbuffer = keras_to_litert(model)
    try:
        _store_verified(cached, flatbuffer)
    except OSError:
        pass  # a read-only cache costs a conversion per load, nothing more
    return flatbuffer


def logits_function(
    model,
    source: Path | None = None,
    engine: str = "auto",
    cache: Path | None = None,
    report: Callable[[str], None] | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """images -> logits for inference; `.engine` on the result says which engine runs it.

    report: hears one line when a damaged cached flatbuffer is rebuilt (silent by default).
    """
    if engine not in ENGINES:
        raise EngineError(f"unknown inference engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "litert" or (engine == "auto" and litert_available()):
        try:
            return LiteRTLogits(litert_flatbuffer(model, source, cache, report))
        except Exception as error:  # converters and interpreters raise many kinds
            if engine == "litert":
                raise EngineError(
                    f"LiteRT cannot run this model ({type(error).__name__}: "
                    f"{first_line(error, empty='')}); "
                    "use --engine keras"
                ) from error
    function = make_logits_fn(model)
    function.engine = "keras"
    return function
