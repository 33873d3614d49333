"""The Open Inference Protocol (KServe v2) REST API for this model: health, metadata, infer.

https://github.com/kserve/open-inference-protocol - one input tensor "image", FP32, shape
[N, 28, 28, 1], data either nested as the shape or flattened in row-major order; outputs
"probabilities" (FP32 [N, 10]), "digit" (INT64 [N]), "uncertain" (BOOL [N]) and "reason" (BYTES
[N]: none, blank, not-a-digit or unsure), all of them unless the request's "outputs" names some.
"parameters" are objects whose values are strings, numbers or booleans; none is defined by the
protocol, and the binary-data extension is not supported, so asking for it is an error rather than
silently ignored. Errors are {"error": "..."}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitnet.serve import served_model
from digitnet.serve.errors import RequestError, echo, echo_items
from digitnet.serve.served_model import MODEL_NAME, MODEL_VERSION
from digitnet.serve.tensors import SIDE, describe, nested_numbers, pixels

PLATFORM = "tensorflow_keras"  # informational only in the protocol
INPUT = {"name": "image", "datatype": "FP32", "shape": [-1, SIDE, SIDE, 1]}
OUTPUTS = [
    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
    {"name": "digit", "datatype": "INT64", "shape": [-1]},
    {"name": "uncertain", "datatype": "BOOL", "shape": [-1]},
    {"name": "reason", "datatype": "BYTES", "shape": [-1]},
]
_OUTPUT_NAMES = [output["name"] for output in OUTPUTS]
# Triton's binary tensor data extension; this server reports no extensions in GET /v2.
_BINARY_PARAMETERS = ("binary_data", "binary_data_output", "binary_data_size")


@dataclass(frozen=True)
class InferRequest:
    images: np.ndarray  # float32 (N, 28, 28)
    id: str | None
    outputs: list[str]  # names, in the order to answer them


def server_metadata(version: str) -> dict:
    return {"name": "digitnet", "version": version, "extensions": []}


def model_metadata() -> dict:
    return {
        "name": MODEL_NAME,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "inputs": [INPUT],
        "outputs": OUTPUTS,
    }


def check_model(name: str, version: str | None = None) -> None:
    """404 unless the path names the served model (and, if given, its version)."""
    served_model.check_model(name, version, unknown="unknown model")


def check_parameters(parameters: Any, where: str) -> dict:
    """$parameters: an object of string -> string | number | boolean."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise RequestError(f'{where} "parameters" must be an object, got {describe(parameters)}')
    for key, value in parameters.items():
        if type(value) not in (str, int, float, bool):
            raise RequestError(
                f"{where} parameter {echo(key, 60)} must be a string, number or boolean, "
                f"got {describe(value)}"
            )
        if key in _BINARY_PARAMETERS and value not in (False, 0):
            raise RequestError(
                f"{where} parameter {key!r}: the binary tensor data extension is not "
                "supported; send tensor data as JSON"
            )
    return parameters


def _require_keys(value: Any, what: str, required: set[str], optional: set[str]) -> dict:
    if not isinstance(value, dict):
        raise RequestError(f"{what} must be an object, got {describe(value)}")
    missing = sorted(required - set(value))
    if missing:
        raise RequestError(f"{what} lacks {', '.join(map(repr, missing))}")
    unknown = sorted(set(value) - required - optional)
    if unknown:
        raise RequestError(f"{what} has unknown field(s) {echo_items(unknown)}")
    return value


def parse_infer(payload: Any, *, max_instances: int) -> InferRequest:
    payload = _require_keys(payload, "the inference request", {"inputs"}, {"id", "parameters", "outputs"})
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(f'"id" must be a string, got {describe(request_id)}')
    check_parameters(payload.get("parameters"), "request")
    inputs = payload["inputs"]
    if not isinstance(inputs, list) or len(inputs) != 1:
        got = len(inputs) if isinstance(inputs, list) else describe(inputs)
        raise RequestError(
            f'"inputs" must be an array of exactly one tensor (this model has one input, '
            f'"{INPUT["name"]}"), got {got}'
        )
    images = _input_images(inputs[0], max_instances)
    return InferRequest(images, request_id, _requested_outputs(payload.get("outputs")))


def _input_images(tensor: Any, max_instances: int) -> np.ndarray:
    tensor = _require_keys(tensor, "the input tensor", {"name", "shape", "datatype", "data"}, {"parameters"})
    if tensor["name"] != INPUT["name"]:
        raise RequestError(
            f'unknown input {echo(tensor["name"], 60)}; this model has one input, "{INPUT["name"]}"'
        )
    if tensor["datatype"] != INPUT["datatype"]:
        raise RequestError(f'input datatype must be "FP32", got {echo(tensor["datatype"], 20)}')
    check_parameters(tensor.get("parameters"), "input")
    shape = tensor["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) != 4
        or any(type(d) is not int for d in shape)
        or shape[1:] != INPUT["shape"][1:]
        or shape[0] < 1
    ):
        raise RequestError(f"input shape must be [N, 28, 28, 1] with N >= 1, got {echo(shape, 80)}")
    if shape[0] > max_instances:
        raise RequestError(
            f"{echo(shape[0], 20)} images in one request; the limit is {max_instances}, "
            "split them over several requests"
        )
    numbers, data_shape = nested_numbers(tensor["data"], "input data")
    if data_shape != tuple(shape) and data_shape != (math.prod(shape),):
        raise RequestError(
            f"input data has shape {list(data_shape)} but the tensor's shape is {shape}; "
            "send the data nested as the shape or flattened (row-major)"
        )
    return pixels(numbers, "input data").reshape(shape[0], SIDE, SIDE)


def _requested_outputs(outputs: Any) -> list[str]:
    if outputs is None:
        return list(_OUTPUT_NAMES)
    if not isinstance(outputs, list) or not outputs:
        raise RequestError(f'"outputs" must be a non-empty array of {{"name": ...}}, got {describe(outputs)}')
    names = []
    for output in outputs:
        output = _require_keys(output, "a requested output", {"name"}, {"parameters"})
        if output["name"] not in _OUTPUT_NAMES:
            raise RequestError(
                f"unknown output {echo(output['name'], 60)}; the outputs are {', '.join(_OUTPUT_NAMES)}"
            )
        if output["name"] in names:
            raise RequestError(f"output {output['name']!r} is requested twice")
        check_parameters(output.get("parameters"), f"output {output['name']!r}")
        names.append(output["name"])
    return names


def infer_response(predictions: list, request: InferRequest) -> dict:
    count = len(predictions)
    tensors = {
        "probabilities": {
            "name": "probabilities",
            "shape": [count, 10],
            "datatype": "FP32",
            "data": [p for prediction in predictions for p in prediction.probabilities],
        },
        "digit": {
            "name": "digit",
            "shape": [count],
            "datatype": "INT64",
            "data": [prediction.digit for prediction in predictions],
        },
        "uncertain": {
            "name": "uncertain",
            "shape": [count],
            "datatype": "BOOL",
            "data": [prediction.uncertain for prediction in predictions],
        },
        "reason": {
            "name": "reason",
            "shape": [count],
            "datatype": "BYTES",
            "data": [prediction.reason for prediction in predictions],
        },
    }
    response = {"model_name": MODEL_NAME, "model_version": MODEL_VERSION}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = [tensors[name] for name in request.outputs]
    return response
