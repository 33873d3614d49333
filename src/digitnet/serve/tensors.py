"""JSON in, validated float32 images out: the checks both inference protocols share.

Pixel values are numbers in [0, 1], ink bright on black (the MNIST form the model was
trained on). Anything else - NaN or Infinity, strings, booleans, null, ragged lists,
values out of range - is the client's mistake and raises RequestError with the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np

from digitnet.serve.errors import RequestError
from digitnet.shapes import IMAGE_SIDE

SIDE = IMAGE_SIDE
PIXELS = SIDE * SIDE
_MAX_DEPTH = 6  # deeper than any image layout we accept: stop before Python's recursion limit


def parse_json(body: bytes) -> Any:
    """The body as JSON; NaN and Infinity (which Python's json accepts) are refused."""
    if not body.strip():
        raise RequestError("empty request body; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 text; send a JSON object") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestError("the JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise RequestError(f"the request body is not valid JSON: {str(error)[:200]}") from None
    except ValueError:  # an int of more than 4,300 digits (Python's advice about it is not the client's)
        raise RequestError(
            "a number in the JSON has more than 4,300 digits; send pixel values in [0, 1]"
        ) from None


def _refuse_constant(name: str):
    raise RequestError(f"{name} is not a number JSON allows; pixel values must be finite numbers in [0, 1]")


def describe(value: Any) -> str:
    """A short name for a JSON value's type, for error messages."""
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def nested_numbers(value: Any, what: str) -> tuple[list, tuple[int, ...]]:
    """A rectangular nested array of JSON numbers -> (its numbers in row-major order, its shape)."""
    return _flatten(value, what, 0)


def _flatten(value: Any, what: str, depth: int) -> tuple[list, tuple[int, ...]]:
    if not isinstance(value, list):
        raise RequestError(f"{what} must be an array of numbers, got {describe(value)}")
    if depth >= _MAX_DEPTH:
        raise RequestError(f"{what} is nested more than {_MAX_DEPTH} arrays deep")
    if not value:
        return [], (0,)
    if all(type(item) in (int, float) for item in value):  # type(), so booleans are refused
        return value, (len(value),)
    if not all(isinstance(item, list) for item in value):
        # Numbers and arrays mixed has no odd item of another type: the default says so.
        odd = next((item for item in value if type(item) not in (int, float, list)), [])
        kind = describe(odd) if not isinstance(odd, list) else "a mix of numbers and arrays"
        raise RequestError(f"{what} must hold only numbers, found {kind}")
    parts = [_flatten(item, what, depth + 1) for item in value]
    shapes = {shape for _, shape in parts}
    if len(shapes) != 1:
        raise RequestError(
            f"{what} is ragged: its rows have different shapes "
            f"({', '.join(str(list(s)) for s in sorted(shapes)[:3])})"
        )
    flat = [number for numbers, _ in parts for number in numbers]
    return flat, (len(value), *shapes.pop())


def pixels(numbers: list, what: str) -> np.ndarray:
    """Numbers that must be pixel values: float32, finite, in [0, 1]."""
    try:
        array = np.asarray(numbers, dtype=np.float64)
    except OverflowError:
        raise RequestError(
            f"{what} holds a number too large for a pixel value; pixel values are in [0, 1]"
        ) from None
    if array.size and not np.isfinite(array).all():
        raise RequestError(f"{what} holds a number too large for a pixel value; pixel values are in [0, 1]")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise RequestError(
            f"{what} holds values outside [0, 1] (min {array.min():g}, max {array.max():g}); "
            "scale pixels to [0, 1], ink bright on black"
        )
    return array.astype(np.float32)


def decode_base64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise RequestError(f'{what}: "b64" must be a string of base64 text, got {describe(text)}')
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f'{what}: "b64" is not valid base64') from None
    if not data:
        raise RequestError(f'{what}: "b64" decodes to no bytes; send the image file\'s bytes')
    return data
