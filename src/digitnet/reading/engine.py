"""The inference engine behind `predict` and the service: LiteRT flatbuffers run by ai-edge-litert.

A network is read from its LiteRT file (.tflite), never from Keras: reading imports no TensorFlow
or Keras, so the reader installs and starts in a fraction of what the trainer needs. Where a
network's LiteRT file comes from, first found wins:

1. the shipped model: its model.tflite, checked against the SHA-256 in its card (ModelSource);
2. beside the .keras file (model.tflite, written by `digitnet train`), when its record vouches
   for both files (digitnet.layout.read_litert_beside);
3. the compile cache, keyed by the .keras file's SHA-256 (what digitnet.jobs.keras_models.convert
   writes, once, for a .keras file that came without one).

None of these: NeedsConversionError, whose message says how to convert (that needs the training
extra). The interpreter trusts its input, so every file is checked against a SHA-256 before use.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError, first_line
from digitnet.layout import read_litert_beside
from digitnet.shapes import INPUT_SHAPE
from digitnet.util.fileio import atomic_write_bytes, cache_dir, file_sha256

ENGINES = ("auto", "litert")  # "keras" is the training side's (digitnet.jobs.keras_models)
TRAIN_EXTRA = "pip install 'digitnet[train]'"
_INTERPRETERS_KEPT = 4  # batch sizes with a ready interpreter (1 for single requests, a few more)


class EngineError(DigitnetError):
    """The engine asked for cannot run this model; the message says what to do instead."""


class NeedsConversionError(EngineError):
    """A .keras network with no LiteRT file yet: converting it once needs TensorFlow."""

    def __init__(self, keras_files: list[Path]):
        self.keras_files = [Path(path) for path in keras_files]
        names = ", ".join(str(path) for path in self.keras_files)
        super().__init__(
            f"{names} has no LiteRT file yet (reading runs LiteRT files only); with the training extra "
            f"({TRAIN_EXTRA}) `digitnet predict` converts it once, into {compiled_cache_dir()}"
        )


def compiled_cache_dir() -> Path:
    return cache_dir("compiled")


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise EngineError(f"unknown inference engine {engine!r}; choose one of: {', '.join(ENGINES)}")


_quiet_lock = threading.Lock()
_quiet_done = False


@contextmanager
def _first_interpreter_quietly():
    """The process's first interpreter with file descriptor 2 pointed at /dev/null.

    LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." once a process,
    straight to the descriptor (no log level governs it); a reader prints answers, not that.
    Python errors are exceptions, not writes to the descriptor: none is lost.
    """
    global _quiet_done
    with _quiet_lock:
        if _quiet_done:
            yield
            return
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
            _quiet_done = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


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
        with _first_interpreter_quietly():
            interpreter = self._make(model_content=self._flatbuffer, num_threads=self._threads)
            interpreter.allocate_tensors()  # the XNNPACK delegate is created here
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


# ---------------------------------------------------------------- the compile cache


def _checksum_path(flatbuffer_path: Path) -> Path:
    return flatbuffer_path.with_name(flatbuffer_path.name + ".sha256")


def _read_verified(path: Path) -> bytes | None:
    """A cached flatbuffer if it matches the SHA-256 stored beside it, else None."""
    try:
        flatbuffer = path.read_bytes()
        stored = _checksum_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return flatbuffer if hashlib.sha256(flatbuffer).hexdigest() == stored else None


def cached_flatbuffer_path(keras_sha256: str, tag: str, cache: Path | None = None) -> Path:
    """Where the flatbuffer converted from a .keras file with this SHA-256 is cached; `tag` names
    the converter (e.g. keras3.15.1), so a newer converter's file sits beside an older one's."""
    return (Path(cache) if cache is not None else compiled_cache_dir()) / f"{keras_sha256}-{tag}.tflite"


def store_compiled(path: Path, flatbuffer: bytes) -> None:
    # Flatbuffer first, checksum last: a reader never sees a checksum for a file not yet written.
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, flatbuffer)
    atomic_write_bytes(_checksum_path(path), hashlib.sha256(flatbuffer).hexdigest().encode("ascii"))


def read_cached(keras_file: Path, cache: Path | None = None) -> bytes | None:
    """A verified cached flatbuffer converted from this .keras file (any converter), else None."""
    folder = Path(cache) if cache is not None else compiled_cache_dir()
    try:
        keras_sha256 = file_sha256(Path(keras_file))
        candidates = sorted(folder.glob(f"{keras_sha256}-*.tflite"), reverse=True)  # newest tag first
    except OSError:
        return None
    for candidate in candidates:
        flatbuffer = _read_verified(candidate)
        if flatbuffer is not None:
            return flatbuffer
    return None


# ---------------------------------------------------------------- finding and running a network


def find_flatbuffer(keras_file: Path, cache: Path | None = None) -> bytes | None:
    """The LiteRT flatbuffer of a .keras network: beside it (verified), else cached, else None."""
    return read_litert_beside(keras_file) or read_cached(keras_file, cache)


def litert_logits(flatbuffer: bytes, name: Path | str) -> LiteRTLogits:
    """An interpreter for `flatbuffer`; EngineError naming `name` when LiteRT cannot run it."""
    try:
        return LiteRTLogits(flatbuffer)
    except Exception as error:  # the interpreter raises many kinds for a file it cannot run
        raise EngineError(
            f"LiteRT cannot run {name} ({type(error).__name__}: {first_line(error, empty='')}); "
            "it may be damaged: convert or export it again"
        ) from error


def logits_functions(keras_files: list[Path], cache: Path | None = None) -> list[LiteRTLogits]:
    """One LiteRT logits function per network; NeedsConversionError naming every one that has no
    LiteRT file yet (all at once, so one conversion step covers them)."""
    flatbuffers = [find_flatbuffer(path, cache) for path in keras_files]
    missing = [path for path, flatbuffer in zip(keras_files, flatbuffers) if flatbuffer is None]
    if missing:
        raise NeedsConversionError(missing)
    return [litert_logits(flatbuffer, path) for path, flatbuffer in zip(keras_files, flatbuffers)]
