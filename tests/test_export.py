"""Exported models (SavedModel, LiteRT, ONNX) compute the Keras model's logits, and exports never clobber."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import synthetic_mnist
from digitnet.jobs.export import FORMATS, RUNNERS, export_model, run_onnx
from digitnet.jobs.export_metadata import read_metadata
from digitnet.jobs.keras_models import load_model
from digitnet.reading.model_source import ModelLoadError
from digitnet.training.inference import ExportError

LOGIT_TOLERANCE = 1e-4  # absolute, float32 logits of order 10
OUT_NAMES = {"saved_model": "digits_saved_model", "litert": "digits.tflite", "onnx": "digits.onnx"}


@pytest.fixture(scope="module")
def images_and_logits(tiny_model_dir):
    """1,000 digit-like images and the Keras model's own logits for them (dropout off)."""
    from digitnet.training.inference import make_logits_fn
    from digitnet.util.batches import predict_logits

    images = synthetic_mnist(train_size=1000, seed=7).train.images
    return images, predict_logits(make_logits_fn(load_model(tiny_model_dir / "model.keras")), images)


@pytest.fixture(scope="module", params=FORMATS)
def exported(request, tiny_model_dir, tmp_path_factory):
    """(format, path): each format exported once for the whole module (conversion is slow)."""
    fmt = request.param
    out = tmp_path_factory.mktemp(f"export-{fmt}") / OUT_NAMES[fmt]
    assert export_model(tiny_model_dir / "model.keras", fmt, out) == out
    return fmt, out


def test_exported_model_matches_keras(exported, images_and_logits):
    fmt, path = exported
    images, expected = images_and_logits
    logits = np.asarray(RUNNERS[fmt](path, images))
    assert logits.shape == (1000, 10)
    assert np.max(np.abs(logits - expected)) < LOGIT_TOLERANCE
    np.testing.assert_array_equal(np.argmax(logits, axis=1), np.argmax(expected, axis=1))


def test_every_export_carries_labels_and_the_expected_input(exported, tiny_model_dir):
    fmt, path = exported
    metadata = read_metadata(fmt, path)
    assert metadata["labels"] == list(range(10))
    assert metadata["input"]["shape"] == [None, 28, 28, 1] and metadata["input"]["dtype"] == "float32"
    assert metadata["input"]["range"] == [0.0, 1.0] and "bright on black" in metadata["input"]["ink"]
    assert "centre of mass" in metadata["input"]["form"]
    assert metadata["source"]["model"] == str(tiny_model_dir / "model.keras")
    assert "calibration" not in metadata  # this run has no calibration.json: a temperature of 1


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_an_export_carries_the_models_calibration_temperature(tiny_model_dir, tmp_path, fmt):
    import shutil

    from digitnet.reading.calibration import Calibration, save_calibration

    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    save_calibration(Calibration(temperature=0.625, confidence_threshold=0.75), run / "calibration.json")
    out = export_model(run, fmt, tmp_path / OUT_NAMES[fmt])
    calibration = read_metadata(fmt, out)["calibration"]
    assert calibration["temperature"] == 0.625 and calibration["confidence_threshold"] == 0.75
    if fmt == "onnx":  # as a consumer reads it, with ONNX Runtime alone
        import json

        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        props = session.get_modelmeta().custom_metadata_map
        assert json.loads(props["calibration"])["temperature"] == 0.625
        assert json.loads(props["labels"]) == list(range(10))
        assert session.get_inputs()[0].name == "images"


def test_export_leaves_only_the_artifact(exported):
    fmt, path = exported
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging left behind
    assert path.is_dir() == (fmt == "saved_model")


@pytest.mark.parametrize("exported", ["litert"], indirect=True)
def test_litert_has_no_flex_ops(exported):
    _, path = exported
    from ai_edge_litert import schema_py_generated as schema

    data = path.read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    builtin = [max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) for code in codes]
    assert codes and schema.BuiltinOperator.CUSTOM not in builtin  # Flex ops are custom ops
    assert b"Flex" not in data


def test_unknown_format_names_the_formats(tiny_model_dir, tmp_path):
    with pytest.raises(ExportError, match="saved_model, litert, onnx"):
        export_model(tiny_model_dir, "tflite2", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_existing_out_is_refused_and_untouched(tiny_model_dir, tmp_path, fmt):
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="already exists"):
        export_model(tiny_model_dir, fmt, existing)
    assert existing.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["existing"]


def test_existing_directory_is_refused_and_untouched(tiny_model_dir, tmp_path):
    existing = tmp_path / "saved"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(ExportError, match="already exists"):
        export_model(tiny_model_dir, "saved_model", existing)
    assert [p.name for p in existing.iterdir()] == ["mine.txt"]


def test_a_path_that_is_not_a_model_is_a_model_load_error(tmp_path):
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a Keras model"):
        export_model(not_a_model, "onnx", tmp_path / "model.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_missing_optional_package_says_what_to_install(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # makes `import tf2onnx` fail
    with pytest.raises(ExportError, match=r"pip install 'digitnet\[export\]'"):
        export_model(tiny_model_dir, "onnx", tmp_path / "model.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"pip install 'digitnet\[export\]'"):
        run_onnx(tmp_path / "model.onnx", np.zeros((1, 28, 28, 1), np.float32))
    assert list(tmp_path.iterdir()) == []
