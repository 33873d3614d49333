"""TensorFlow Serving's REST API for this model: predict, model status and model metadata.

https://www.tensorflow.org/tfx/serving/api_rest - requests name a signature (only
"serving_default" here) and carry either "instances" (row format) or "inputs" (columnar
format). Each instance is one image: 28x28 (or 784, or 28x28x1) pixel values in [0, 1],
ink bright on black, or {"b64": "<base64 image file>"}, or either wrapped as {"image": ...}.
Errors are {"error": "..."}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitnet.serve import served_model
from digitnet.serve.errors import RequestError, echo, echo_items
from digitnet.serve.served_model import MODEL_NAME, MODEL_VERSION
from digitnet.serve.tensors import PIXELS, SIDE, decode_base64, describe, nested_numbers, pixels

INPUT_NAME = "image"
SIGNATURE = "serving_default"
_IMAGE_SHAPES = ((SIDE, SIDE), (PIXELS,), (SIDE, SIDE, 1))

# [(image file bytes, what)] -> one (28, 28) each; given them all at once, so that it can check
# what they cost together (their pixels) before decoding any.
DecodeImages = Callable[[list[tuple[bytes, str]]], list[np.ndarray]]


@dataclass(frozen=True)
class PredictRequest:
    images: np.ndarray  # float32 (N, 28, 28)
    columnar: bool  # answer {"outputs": ...} instead of {"predictions": [...]}


def parse_predict(payload: Any, *, max_instances: int, decode_images: DecodeImages) -> PredictRequest:
    if not isinstance(payload, dict):
        raise RequestError(
            f'the request must be a JSON object like {{"instances": [...]}}, got {describe(payload)}'
        )
    unknown = sorted(set(payload) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise RequestError(
            f"unknown request field(s) {echo_items(unknown)}; "
            'send "instances" (and optionally "signature_name")'
        )
    signature = payload.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise RequestError(
            f'serving signature name {echo(signature, 60)} not found; this model has only "{SIGNATURE}"'
        )
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError('send exactly one of "instances" (row format) or "inputs" (columnar format)')
    columnar = "inputs" in payload
    values = payload["inputs"] if columnar else payload["instances"]
    if columnar and isinstance(values, dict):
        if set(values) != {INPUT_NAME}:
            raise RequestError(f'"inputs" names unknown input(s); this model has one input, "{INPUT_NAME}"')
        values = values[INPUT_NAME]
    field = "inputs" if columnar else "instances"
    if not isinstance(values, list):
        raise RequestError(f'"{field}" must be an array of images, got {describe(values)}')
    if not values:
        raise RequestError(f'"{field}" is empty; send at least one image')
    if len(values) > max_instances:
        raise RequestError(
            f"{len(values)} images in one request; the limit is {max_instances}, "
            "split them over several requests"
        )
    return PredictRequest(np.stack(_instance_images(values, decode_images)), columnar)


def _instance_images(values: list, decode_images: DecodeImages) -> list[np.ndarray]:
    """Every instance checked first; then the image files among them decoded together."""
    parsed = [instance_value(value, f"instance {index}") for index, value in enumerate(values)]
    files = [(item, f"instance {index}") for index, item in enumerate(parsed) if isinstance(item, bytes)]
    decoded = iter(decode_images(files) if files else [])
    return [next(decoded) if isinstance(item, bytes) else item for item in parsed]


def instance_value(value: Any, what: str) -> np.ndarray | bytes:
    """One instance -> float32 (28, 28) pixels, or the bytes of an image file still to decode."""
    if isinstance(value, dict) and set(value) == {INPUT_NAME}:
        value = value[INPUT_NAME]
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise RequestError(
                f'{what}: an object must be {{"b64": "<base64 image file>"}} '
                f'or {{"{INPUT_NAME}": ...}}, got keys {echo_items(sorted(value))}'
            )
        return decode_base64(value["b64"], what)
    if not isinstance(value, list):
        raise RequestError(
            f'{what} must be 28x28 pixel values in [0, 1] or {{"b64": ...}}, got {describe(value)}'
        )
    numbers, shape = nested_numbers(value, what)
    if shape not in _IMAGE_SHAPES:
        raise RequestError(
            f"{what} has shape {list(shape)}; send 28x28 (or 784) pixel values in [0, 1], "
            'or {"b64": "<base64 image file>"}'
        )
    return pixels(numbers, what).reshape(SIDE, SIDE)


def predict_response(predictions: list, columnar: bool) -> dict:
    if columnar:
        return {
            "outputs": {
                "digit": [p.digit for p in predictions],
                "probabilities": [p.probabilities for p in predictions],
                "uncertain": [p.uncertain for p in predictions],
                "reason": [p.reason for p in predictions],
            }
        }
    return {
        "predictions": [
            {"digit": p.digit, "probabilities": p.probabilities, "uncertain": p.uncertain, "reason": p.reason}
            for p in predictions
        ]
    }


def model_status(model_info: dict) -> dict:
    """GetModelStatusResponse as JSON, plus a "metadata" object describing this model."""
    return {
        "model_version_status": [
            {
                "version": MODEL_VERSION,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ],
        "metadata": {
            "name": MODEL_NAME,
            **model_info,
            "input_shape": [SIDE, SIDE, 1],
            "input": "float32 pixels in [0, 1], ink bright on black (MNIST form)",
        },
    }


def _tensor_info(name: str, dtype: str, dims: list[int]) -> dict:
    dim = [{"size": str(size), "name": ""} for size in dims]
    return {"dtype": dtype, "name": name, "tensor_shape": {"dim": dim, "unknown_rank": False}}


def model_metadata() -> dict:
    """GetModelMetadataResponse as JSON: the one signature's inputs and outputs."""
    signature = {
        "inputs": {INPUT_NAME: _tensor_info(INPUT_NAME, "DT_FLOAT", [-1, SIDE, SIDE, 1])},
        "outputs": {
            "digit": _tensor_info("digit", "DT_INT64", [-1]),
            "probabilities": _tensor_info("probabilities", "DT_FLOAT", [-1, 10]),
            "uncertain": _tensor_info("uncertain", "DT_BOOL", [-1]),
            "reason": _tensor_info("reason", "DT_STRING", [-1]),
        },
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": MODEL_NAME, "signature_name": "", "version": MODEL_VERSION},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


def check_model(name: str, version: str | None = None) -> None:
    """404 unless the path names the served model (and, if given, its version)."""
    served_model.check_model(name, version, unknown="servable not found: model")
