"""Export a trained model for serving without Keras: TF SavedModel, LiteRT (.tflite) or ONNX.

Each export is written into a staging folder beside `out` and renamed into place once
complete, so `out` is either absent or a whole artifact; an existing `out` is never replaced.
Every export carries what a consumer needs as model metadata: class labels, the expected input
and the calibration temperature (digitnet.jobs.export_metadata).
The `run_*` functions run an exported artifact on images and return its logits.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path

from digitnet.reading.model_source import ModelSource

# The conversion itself lives below the engine and the exporter (training/inference.py).
from digitnet.training.inference import INSTALL_HINT, ExportError, keras_export
from digitnet.util.fileio import fsync_directory

FORMATS = ("saved_model", "litert", "onnx")
# Keras insists on the .tflite suffix; the staged name never reaches the user's `out`.
STAGED_NAMES = {"saved_model": "saved_model", "litert": "model.tflite", "onnx": "model.onnx"}


def _require(module: str, purpose: str):
    """Import an optional package, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ExportError(
            f"{purpose} needs the {module} package ({error}); install it with: {INSTALL_HINT}"
        ) from error


def _check_request(fmt: str, out: Path) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if out.exists() or out.is_symlink():
        raise ExportError(f"{out} already exists; pass another --out or remove it first")
    if fmt == "onnx":
        _require("onnx", "ONNX export")
        _require("tf2onnx", "ONNX export")


def _fsync_tree(path: Path) -> None:
    """Flush every file and directory of an artifact to disk before it is renamed into view."""
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if item.is_dir():
            fsync_directory(item)
        else:
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())


def _publish(staged: Path, out: Path) -> None:
    """Move a complete artifact to `out`, failing (not replacing) if something is there."""
    try:
        if staged.is_dir():
            os.rename(staged, out)  # refuses a non-empty directory or a file at `out`
        else:
            os.link(staged, out)  # unlike rename, never replaces an existing file
    except OSError as error:
        if out.exists() or out.is_symlink():
            raise ExportError(
                f"{out} appeared during the export; it was left as it was. "
                "Pass another --out or remove it first"
            ) from error
        raise
    fsync_directory(out.parent)


def export_model(model_path: Path | ModelSource, fmt: str, out: Path) -> Path:
    """Export the model at `model_path` (run directory or .keras) as `fmt` to `out`; returns `out`.

    saved_model writes a directory, litert a .tflite file, onnx a .onnx file. The input is the
    model's own ("images", float32, any batch size); the output is the ten logits. The metadata
    (export_metadata.model_metadata) is embedded in each.
    """
    from digitnet.jobs.export_metadata import embed_metadata, model_metadata
    from digitnet.jobs.keras_models import load_model

    out = Path(out)
    _check_request(fmt, out)
    source = ModelSource.resolve(model_path)
    model = load_model(source)  # an ensemble has no single network to export
    metadata = model_metadata(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".export"))
    try:
        staged = staging / STAGED_NAMES[fmt]
        keras_export(model, fmt, staged)
        embed_metadata(fmt, staged, metadata)
        _fsync_tree(staged)
        _publish(staged, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _as_batch(images):
    import numpy as np

    return np.ascontiguousarray(np.asarray(images, dtype=np.float32))


def run_saved_model(path: Path, images):
    """Logits (N, 10) from an exported SavedModel directory."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return loaded.serve(tf.constant(_as_batch(images))).numpy()


def run_litert(path: Path, images):
    """Logits (N, 10) from a .tflite file, run by the plain LiteRT interpreter (no Flex ops)."""
    interpreter_module = _require("ai_edge_litert.interpreter", "running a .tflite model")
    images = _as_batch(images)
    interpreter = interpreter_module.Interpreter(model_path=str(path))
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, images.shape)  # the batch size is dynamic
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_onnx(path: Path, images):
    """Logits (N, 10) from a .onnx file, run by ONNX Runtime on the CPU."""
    onnxruntime = _require("onnxruntime", "running an .onnx model")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: _as_batch(images)})[0]


RUNNERS = {"saved_model": run_saved_model, "litert": run_litert, "onnx": run_onnx}
