"""Running a trained Keras network: logits functions, and its conversion to other formats.

What training, evaluation, the detector and the exporter all need, kept below every one of them:
networks are converted to LiteRT here (the files reading runs: digitnet.reading.engine) without
depending on the exporter, and nothing here imports the rest of digitnet's training or serving side.

Keras and TensorFlow are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError, first_line
from digitnet.util.batches import LogitsFn

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


# ---------------------------------------------------------------- conversion


def _input_signature(model) -> list:
    """The model's one input at any batch size. Passed explicitly: Keras 3.15's ONNX export
    otherwise refuses a functional model that was loaded but never called."""
    import keras

    (tensor,) = model.inputs
    return [keras.InputSpec(shape=(None, *tensor.shape[1:]), dtype=tensor.dtype, name=tensor.name)]


def keras_export(model, fmt: str, path: Path, float16_weights: bool = False) -> None:
    """Write `model` as `fmt` (a key of KERAS_FORMATS) to `path`; ExportError if it cannot be.

    float16_weights (LiteRT only): store the weights as float16, half the file. The interpreter
    turns them back into float32 when it loads the file, so the arithmetic stays float32 and only
    the weights' rounding changes the outputs (the detector's by at most about 0.006 of a logit:
    jobs.detector_train.write_detector_litert, the one caller)."""
    kwargs = {"input_signature": _input_signature(model)}
    if fmt == "litert":
        import tensorflow as tf

        # Builtin ops only: a .tflite with Flex (SELECT_TF_OPS) ops would not run on the
        # plain LiteRT runtime, so conversion must fail rather than silently need them.
        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
        if float16_weights:
            kwargs["optimizations"] = [tf.lite.Optimize.DEFAULT]
            kwargs["target_spec"]["supported_types"] = [tf.float16]
    elif float16_weights:
        raise ValueError(f"float16 weights are a LiteRT option, not {fmt}'s")
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


def keras_to_litert(model, float16_weights: bool = False) -> bytes:
    """The model as a LiteRT flatbuffer (builtin ops only), converted in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="digitnet-litert-") as scratch:
        path = Path(scratch) / "model.tflite"
        keras_export(model, "litert", path, float16_weights)
        return path.read_bytes()


def write_litert_beside(model, keras_file: Path, float16_weights: bool = False) -> Path | None:
    """Convert `model` (saved as keras_file) and write keras_file's LiteRT file beside it, so the
    network reads without TensorFlow (digitnet.layout.write_litert_beside). None, writing nothing,
    when LiteRT cannot run this network (the reader then says how to export it instead)."""
    from digitnet.layout import write_litert_beside as write

    try:
        flatbuffer = keras_to_litert(model, float16_weights)
    except ExportError:
        return None
    return write(keras_file, flatbuffer)
