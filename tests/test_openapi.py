"""The OpenAPI description lists the error answers each route really gives: every route is sent bad
input, and the status it answers must be documented for that path and method, with the JSON error body."""

from __future__ import annotations

import warnings

import pytest

from conftest import synthetic_split
from digitnet.reading.predict import Predictor
from digitnet.serve import create_app
from digitnet.serve.collect import ExampleStore
from digitnet.serve.model_info import describe_model

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette 1.x would rather TestClient ran on httpx2
    from fastapi.testclient import TestClient

MAX_BODY = 64 * 1024
TOO_BIG = b"[" + b"0," * MAX_BODY + b"0]"
NOT_JSON = {"content": b"{not json", "headers": {"content-type": "application/json"}}
A_DIGIT = synthetic_split(1, seed=3).images[0, ..., 0].tolist()

# (method, the path as the OpenAPI description names it, the URL sent, request keyword arguments,
# the status it must answer): one bad request of each kind each route refuses.
BAD_REQUESTS = [
    ("post", "/predict", "/predict", {"json": {"image": 1}}, 415),
    ("post", "/predict", "/predict", {"files": {"other": ("x.png", b"x")}}, 400),
    ("post", "/predict", "/predict", {"files": {"file": ("x.png", b"not an image")}}, 400),
    ("post", "/predict", "/predict", {"content": TOO_BIG}, 413),
    ("post", "/collect", "/collect", {"json": {"image": A_DIGIT, "label": 1}}, 404),
    ("post", "/v1/models/{name}:predict", "/v1/models/digitnet:predict", NOT_JSON, 400),
    ("post", "/v1/models/{name}:predict", "/v1/models/digitnet:predict", {"json": {"instances": []}}, 400),
    (
        "post",
        "/v1/models/{name}:predict",
        "/v1/models/other:predict",
        {"json": {"instances": [A_DIGIT]}},
        404,
    ),
    ("post", "/v1/models/{name}:predict", "/v1/models/digitnet:predict", {"content": TOO_BIG}, 413),
    (
        "post",
        "/v1/models/{name}/versions/{version}:predict",
        "/v1/models/digitnet/versions/9:predict",
        {"json": {"instances": [A_DIGIT]}},
        404,
    ),
    (
        "post",
        "/v1/models/{name}/versions/{version}:predict",
        "/v1/models/digitnet/versions/1:predict",
        {"json": {"inputs": "x"}},
        400,
    ),
    ("get", "/v1/models/{name}", "/v1/models/other", {}, 404),
    ("get", "/v1/models/{name}", "/v1/models/digitnet:predict", {}, 405),
    ("get", "/v1/models/{name}/versions/{version}", "/v1/models/digitnet/versions/9", {}, 404),
    ("get", "/v1/models/{name}/versions/{version}", "/v1/models/digitnet/versions/1:predict", {}, 405),
    ("get", "/v1/models/{name}/metadata", "/v1/models/other/metadata", {}, 404),
    (
        "get",
        "/v1/models/{name}/versions/{version}/metadata",
        "/v1/models/digitnet/versions/2/metadata",
        {},
        404,
    ),
    ("get", "/v2/models/{name}", "/v2/models/other", {}, 404),
    ("get", "/v2/models/{name}/versions/{version}", "/v2/models/digitnet/versions/9", {}, 404),
    ("get", "/v2/models/{name}/ready", "/v2/models/other/ready", {}, 404),
    ("get", "/v2/models/{name}/versions/{version}/ready", "/v2/models/digitnet/versions/9/ready", {}, 404),
    ("post", "/v2/models/{name}/infer", "/v2/models/digitnet/infer", NOT_JSON, 400),
    ("post", "/v2/models/{name}/infer", "/v2/models/digitnet/infer", {"json": {"inputs": [{}]}}, 400),
    ("post", "/v2/models/{name}/infer", "/v2/models/other/infer", {"json": {"inputs": []}}, 404),
    ("post", "/v2/models/{name}/infer", "/v2/models/digitnet/infer", {"content": TOO_BIG}, 413),
    (
        "post",
        "/v2/models/{name}/versions/{version}/infer",
        "/v2/models/digitnet/versions/9/infer",
        {"json": {"inputs": []}},
        404,
    ),
]
# With --collect on: a bad example, another site's page, not JSON, and a full folder.
COLLECT_REQUESTS = [
    ("post", "/collect", "/collect", {"json": {"image": A_DIGIT, "label": 10}}, 400),
    (
        "post",
        "/collect",
        "/collect",
        {"json": {"image": A_DIGIT, "label": 1}, "headers": {"origin": "https://x.example"}},
        403,
    ),
    ("post", "/collect", "/collect", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
    ("post", "/collect", "/collect", NOT_JSON, 400),
    ("post", "/collect", "/collect", {"content": TOO_BIG}, 413),
    ("post", "/collect", "/collect", {"json": {"image": A_DIGIT, "label": 1}}, 507),
]
# Routes no client input can make fail (the 503 of /v2/health/ready needs a stuck model).
NO_BAD_INPUT = {("get", "/healthz"), ("head", "/healthz"), ("get", "/collect"), ("get", "/v2")}
NO_BAD_INPUT |= {
    (method, path) for method in ("get", "head") for path in ("/v2/health/live", "/v2/health/ready")
}


def make_client(tiny_model_dir, **kwargs) -> TestClient:
    app = create_app(
        Predictor(tiny_model_dir),
        model_info=describe_model(tiny_model_dir),
        max_body_bytes=MAX_BODY,
        **kwargs,
    )
    return TestClient(app)


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    with make_client(tiny_model_dir) as client:
        yield client, client.app.openapi()


def documented(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][path][method]["responses"]


@pytest.mark.parametrize("method, path, url, kwargs, status", BAD_REQUESTS, ids=lambda v: str(v)[:40])
def test_each_routes_answer_to_bad_input_is_documented(served, method, path, url, kwargs, status):
    client, schema = served
    answer = client.request(method.upper(), url, **kwargs)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert str(status) in documented(schema, method, path), f"{method} {path} answers {status} undocumented"


def test_collect_errors_are_documented(tiny_model_dir, tmp_path):
    with make_client(tiny_model_dir, collect=ExampleStore(tmp_path, max_examples=0)) as client:
        schema = client.app.openapi()
        for method, path, url, kwargs, status in COLLECT_REQUESTS:
            answer = client.request(method.upper(), url, **kwargs)
            assert answer.status_code == status, (url, kwargs.keys(), answer.text)
            assert str(status) in documented(schema, method, path)


def test_every_route_that_can_refuse_input_is_exercised(served):
    _, schema = served
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    exercised = {(method, path) for method, path, *_ in BAD_REQUESTS + COLLECT_REQUESTS}
    assert operations - NO_BAD_INPUT == exercised


def test_error_answers_are_documented_with_the_json_error_body(served):
    _, schema = served
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                assert code != "422", (method, path)  # validation errors are answered 400
                if code[0] in "45" and path != "/v2/health/ready":
                    body = response["content"]["application/json"]["schema"]
                    assert body == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
