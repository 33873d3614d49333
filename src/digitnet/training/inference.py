"""Running a trained Keras network: logits functions, and its conversion to other formats.

What training, evaluation, the inference engine, the detector and the exporter all need, kept
below every one of them: the engine converts networks to LiteRT here without depending on the
exporter, and nothing here imports the rest of digitnet's training or serving side.

Keras and TensorFlow are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError, first_line
from digitnet.shapes import NUM_CLASSES

LogitsFn = Callable[[np.ndarray], np.ndarray]

KERAS_FORMATS = {"saved_model": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
INSTALL_HINT = "pip install 'digitnet[export]'"
FAILURE_HINTS = {
    "saved_model": "the model must be one digitnet built (see `digitnet models`)",
    "litert": "if it names unsupported ops, the network needs TensorFlow (Flex) ops that plain "
    "LiteRT cannot run: export it as saved_model or onnx instead",
    "onnx": f"tf2onnx may not support this TensorFlow; use the versions from {INSTALL_HINT}",
}


class ExportError(DigitnetError):
    """An export or exported-model run that cannot go ahead; the message says how to fix it."""


# ---------------------------------------------------------------- logits


def make_logits_fn(model) -> LogitsFn:
    """A compiled inference function (dropout off); traced once per input shape."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def logits(images):
            with tf.name_scope("eval"):
                return model(images, training=False)

        return lambda images: logits(images).numpy()
    return lambda images: np.asarray(model.predict_on_batch(images))


def predict_logits(logits_fn: LogitsFn, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Logits for every image, computed in batches so no set is ever one huge tensor."""
    if 0 < len(images) <= batch_size:  # one chunk: skip the list and the copy (batch-1 latency)
        return np.asarray(logits_fn(images))
    chunks = [logits_fn(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), np.float32)


# ---------------------------------------------------------------- conversion


def _input_signature(model) -> list:
    """The model's one input at any batch size. Passed explicitly: Keras 3.15's ONNX export
    otherwise refuses a functional model that was loaded but never called."""
    import keras

    (tensor,) = model.inputs
    return [keras.InputSpec(shape=(None, *tensor.shape[1:]), dtype=tensor.dtype, name=tensor.name)]


def keras_export(model, fmt: str, path: Path) -> None:
    """Write `model` as `fmt` (a key of KERAS_FORMATS) to `path`; ExportError if it cannot be."""
    kwargs = {"input_signature": _input_signature(model)}
    if fmt == "litert":
        import tensorflow as tf

        # Builtin ops only: a .tflite with Flex (SELECT_TF_OPS) ops would not run on the
        # plain LiteRT runtime, so conversion must fail rather than silently need them.
        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    with warnings.catch_warnings():
        # Keras' tf2onnx patch probes the removed `np.object`; nothing for a user to act on.
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*np.object.*")
        try:
            model.export(str(path), format=KERAS_FORMATS[fmt], verbose=False, **kwargs)
        except Exception as error:  # converters raise many kinds; one typed error for callers
            raise ExportError(
                f"{fmt} export failed ({type(error).__name__}: "
                f"{first_line(error, limit=300, empty='')}); "
                f"{FAILURE_HINTS[fmt]}"
            ) from error


def keras_to_litert(model) -> bytes:
    """The model as a LiteRT flatbuffer (builtin ops only), converted in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="digitnet-litert-") as scratch:
        path = Path(scratch) / "model.tflite"
        keras_export(model, "litert", path)
        return path.read_bytes()
