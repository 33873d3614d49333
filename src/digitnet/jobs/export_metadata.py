"""What a consumer of an exported model needs to use it right, carried inside the export.

    model_metadata(source)                  the dict: class labels, expected input, the calibration
    embed_metadata(fmt, path, metadata)     written into a staged export
    read_metadata(fmt, path)                read back from an export (what the tests check)

Where each format carries it (METADATA_KEY = "digitnet"):
- ONNX: the model's metadata_props, one entry a top-level key, each value JSON (ONNX Runtime:
  `session.get_modelmeta().custom_metadata_map`);
- LiteRT: an entry of the flatbuffer's own `metadata` table named "digitnet", its buffer the JSON
  (the interpreter ignores entries it does not know; the network is unchanged);
- SavedModel: `assets.extra/digitnet.json`, the folder TF Serving keeps for files the graph does
  not use (tf.saved_model.load ignores it; read it as a file).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from digitnet.reading.model_source import ModelSource
from digitnet.shapes import IMAGE_SIDE, NUM_CLASSES

METADATA_KEY = "digitnet"
METADATA_VERSION = 1  # bumped when a key changes meaning
SAVED_MODEL_METADATA = Path("assets.extra") / f"{METADATA_KEY}.json"

INPUT = {
    "shape": [None, IMAGE_SIDE, IMAGE_SIDE, 1],  # any batch size
    "dtype": "float32",
    "range": [0.0, 1.0],
    "ink": "bright on black: 0 is background, 1 is full ink",
    "form": "MNIST's: the digit scaled to fit 20x20 keeping its aspect ratio, anti-aliased, and pasted "
    "into 28x28 with its centre of mass at the centre (digitnet.data.preprocess.to_mnist does this "
    "to any image)",
}
OUTPUT = {
    "shape": [None, NUM_CLASSES],
    "meaning": "logits, one a label in the order of `labels`; probabilities = "
    "softmax(logits / calibration.temperature), or softmax(logits) without a calibration",
}


def model_metadata(source: ModelSource) -> dict:
    """The metadata of the network of `source`: labels, input, output, and its calibration.json's
    temperature and threshold when it has one (absent otherwise: a temperature of 1)."""
    from digitnet.layout import CALIBRATION_FILE
    from digitnet.reading.calibration import load_calibration
    from digitnet.util.fileio import file_sha256
    from digitnet.util.version import package_version

    source.check_shipped(CALIBRATION_FILE)  # the shipped model's: checked against its card

    metadata = {
        "metadata_version": METADATA_VERSION,
        "labels": list(range(NUM_CLASSES)),
        "input": INPUT,
        "output": OUTPUT,
        "source": {
            "model": "default (the reading model shipped with digitnet)"
            if source.is_default
            else str(source.path),
            "model_keras_sha256": file_sha256(source.model_file),
            "digitnet_version": package_version(),
        },
    }
    if source.calibration_file is not None:
        calibration = load_calibration(source.calibration_file)
        metadata["calibration"] = {
            "temperature": calibration.temperature,
            "confidence_threshold": calibration.confidence_threshold,
            "threshold_on": "the mean probability over six one-pixel shifts of the image"
            if calibration.test_time_shifts
            else "the calibrated probability of the answer",
            "answer": "the digit most probable on average over the image and those shifts"
            if calibration.shift_answers
            else "the digit most probable for the image",
        }
    return metadata


def embed_metadata(fmt: str, path: Path, metadata: dict) -> None:
    embed = {"onnx": _embed_onnx, "litert": _embed_litert, "saved_model": _embed_saved_model}[fmt]
    embed(Path(path), metadata)


def read_metadata(fmt: str, path: Path) -> dict:
    """The metadata an export carries ({} when it carries none)."""
    return {"onnx": _read_onnx, "litert": _read_litert, "saved_model": _read_saved_model}[fmt](Path(path))


def _embed_onnx(path: Path, metadata: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    kept = [entry for entry in model.metadata_props if entry.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=json.dumps(value))
    onnx.save(model, str(path))


def _read_onnx(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {entry.key: json.loads(entry.value) for entry in model.metadata_props if entry.key in _KEYS}


_KEYS = ("metadata_version", "labels", "input", "output", "source", "calibration")


def _embed_litert(path: Path, metadata: dict) -> None:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    flatbuffer = path.read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(flatbuffer, 0))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
    model.metadata = [m for m in model.metadata or [] if m.name != METADATA_KEY.encode()] + [entry]
    builder = flatbuffers.Builder(len(flatbuffer) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))  # a staged file: export publishes it once whole


def _read_litert(path: Path) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry.Name() == METADATA_KEY.encode():
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return {}


def _embed_saved_model(path: Path, metadata: dict) -> None:
    target = path / SAVED_MODEL_METADATA
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(metadata, indent=2) + "\n")


def _read_saved_model(path: Path) -> dict:
    target = path / SAVED_MODEL_METADATA
    return json.loads(target.read_text()) if target.is_file() else {}
