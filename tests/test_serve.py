"""The HTTP service on a tiny trained model: every endpoint's answers, every kind of bad input."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import threading
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_split
from digitnet.data.preprocess import image_to_mnist
from digitnet.reading.predict import Predictor
from digitnet.serve import create_app
from digitnet.serve.batching import BatchingPredictor
from digitnet.serve.model_info import describe_model
from digitnet.serve.server import serve_in_thread

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette 1.x would rather TestClient ran on httpx2
    from fastapi.testclient import TestClient

MAX_BODY = 256 * 1024
MAX_BATCH = 8
PREDICT = "/v1/models/digitnet:predict"
INFER = "/v2/models/digitnet/infer"


@pytest.fixture(scope="module")
def predictor(tiny_model_dir) -> Predictor:
    return Predictor(tiny_model_dir)


@pytest.fixture(scope="module")
def app(predictor, tiny_model_dir):
    return create_app(
        predictor, model_info=describe_model(tiny_model_dir), max_body_bytes=MAX_BODY, max_batch=MAX_BATCH
    )


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:  # runs the lifespan: the model thread stops at the end
        yield client


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Four MNIST-form images (28, 28) of the synthetic digits the tiny model learned."""
    return synthetic_split(4, seed=7).images[..., 0]


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def paper_digit_png(width: int = 120, height: int = 160) -> bytes:
    """A dark bar on white paper, as the drawing page sends it."""
    pixels = np.full((height, width), 255)
    pixels[height // 6 : -height // 6, width // 2 - 8 : width // 2 + 8] = 0
    return png_bytes(pixels)


def assert_prediction(entry: dict, expected) -> None:
    assert set(entry) >= {"digit", "probabilities", "uncertain"}
    assert entry["digit"] == expected.digit
    assert isinstance(entry["uncertain"], bool) and entry["uncertain"] == expected.uncertain
    assert len(entry["probabilities"]) == 10
    assert sum(entry["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(entry["probabilities"], expected.probabilities, atol=1e-5)


def assert_error(response: httpx.Response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert fragment.lower() in body["error"].lower(), body["error"]


# ---------------------------------------------------------------- the page


def test_page_is_self_contained_with_the_elements_the_browser_test_uses(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for element in ('id="canvas"', 'id="clear"', 'id="digit"', 'id="uncertain"', 'id="bars"', 'id="thumb"'):
        assert element in page
    assert "http://" not in page and "https://" not in page and 'src="//' not in page
    assert "connect-src 'self'" in response.headers["content-security-policy"]


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


# ---------------------------------------------------------------- TensorFlow Serving REST


def test_predict_instances_as_28x28_and_as_784_give_the_predictor_s_answers(client, predictor, images):
    expected = predictor.predict(images)
    for instances in (images.tolist(), images.reshape(len(images), 784).tolist()):
        response = client.post(PREDICT, json={"instances": instances})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"predictions"} and len(body["predictions"]) == len(images)
        for entry, want in zip(body["predictions"], expected):
            assert set(entry) == {"digit", "probabilities", "uncertain"}
            assert_prediction(entry, want)


def test_predict_b64_instance_is_preprocessed_like_a_file(client, predictor):
    data = paper_digit_png()
    [expected] = predictor.predict(image_to_mnist(data)[None])
    response = client.post(
        PREDICT,
        json={"signature_name": "serving_default", "instances": [{"b64": base64.b64encode(data).decode()}]},
    )
    assert response.status_code == 200, response.text
    assert_prediction(response.json()["predictions"][0], expected)


def test_predict_named_input_columnar_format_and_versioned_url(client, predictor, images):
    expected = predictor.predict(images[:2])
    named = client.post(
        "/v1/models/digitnet/versions/1:predict",
        json={"instances": [{"image": image.tolist()} for image in images[:2]]},
    )
    assert named.status_code == 200, named.text
    for entry, want in zip(named.json()["predictions"], expected):
        assert_prediction(entry, want)
    columnar = client.post(PREDICT, json={"inputs": {"image": images[:2].tolist()}})
    assert columnar.status_code == 200, columnar.text
    outputs = columnar.json()["outputs"]
    assert outputs["digit"] == [p.digit for p in expected]
    assert outputs["uncertain"] == [p.uncertain for p in expected]
    np.testing.assert_allclose(outputs["probabilities"], [p.probabilities for p in expected], atol=1e-5)


def test_model_status_and_metadata(client):
    status = client.get("/v1/models/digitnet").json()
    assert status["model_version_status"] == [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
    assert status["metadata"]["arch"] == "seed"
    assert 0.0 <= status["metadata"]["validation_accuracy"] <= 1.0
    assert status["metadata"]["input_shape"] == [28, 28, 1]
    assert client.get("/v1/models/digitnet/versions/1").json() == status
    metadata = client.get("/v1/models/digitnet/metadata").json()
    assert metadata["model_spec"] == {"name": "digitnet", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert [d["size"] for d in signature["inputs"]["image"]["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert set(signature["outputs"]) == {"digit", "probabilities", "uncertain"}


# ---------------------------------------------------------------- upload


def test_upload_answers_like_predict_plus_top3_and_the_image_the_model_saw(client, predictor):
    data = paper_digit_png()
    seen = image_to_mnist(data)
    [expected] = predictor.predict(seen[None])
    response = client.post("/predict", files={"file": ("one.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"digit", "probability", "probabilities", "top3", "uncertain", "input_png"}
    assert_prediction(body, expected)
    assert body["probability"] == pytest.approx(max(body["probabilities"]))
    assert [entry["digit"] for entry in body["top3"]][0] == body["digit"] and len(body["top3"]) == 3
    thumbnail = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["input_png"]))))
    assert thumbnail.shape == (28, 28)
    np.testing.assert_array_equal(thumbnail, np.round(seen * 255).astype(np.uint8))


# ---------------------------------------------------------------- Open Inference Protocol (v2)


def test_v2_health_and_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/digitnet/ready").json() == {"name": "digitnet", "ready": True}
    assert client.get("/v2").json()["extensions"] == []
    metadata = client.get("/v2/models/digitnet").json()
    assert metadata["name"] == "digitnet" and metadata["versions"] == ["1"] and metadata["platform"]
    assert metadata["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert {o["name"]: (o["datatype"], o["shape"]) for o in metadata["outputs"]} == {
        "probabilities": ("FP32", [-1, 10]),
        "digit": ("INT64", [-1]),
        "uncertain": ("BOOL", [-1]),
    }
    assert client.get("/v2/models/digitnet/versions/1").json() == metadata


def v2_request(images: np.ndarray, nested: bool = False, **extra) -> dict:
    data = images.reshape(-1, 28, 28, 1).tolist() if nested else images.ravel().tolist()
    return {
        "inputs": [{"name": "image", "shape": [len(images), 28, 28, 1], "datatype": "FP32", "data": data}],
        **extra,
    }


def test_v2_infer_round_trip_flat_and_nested(client, predictor, images):
    expected = predictor.predict(images[:2])
    for nested in (False, True):
        response = client.post(
            INFER,
            json=v2_request(images[:2], nested, id="req-7", parameters={"note": "x", "n": 1, "flag": True}),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "digitnet" and body["id"] == "req-7"
        outputs = {output["name"]: output for output in body["outputs"]}
        assert [o["name"] for o in body["outputs"]] == ["probabilities", "digit", "uncertain"]
        assert outputs["probabilities"]["shape"] == [2, 10] and outputs["probabilities"]["datatype"] == "FP32"
        np.testing.assert_allclose(
            np.reshape(outputs["probabilities"]["data"], (2, 10)),
            [p.probabilities for p in expected],
            atol=1e-5,
        )
        assert outputs["digit"] == {
            "name": "digit",
            "shape": [2],
            "datatype": "INT64",
            "data": [p.digit for p in expected],
        }
        assert outputs["uncertain"] == {
            "name": "uncertain",
            "shape": [2],
            "datatype": "BOOL",
            "data": [p.uncertain for p in expected],
        }


def test_v2_infer_answers_only_the_outputs_asked_for_and_no_id_unless_given(client, images):
    body = client.post(
        "/v2/models/digitnet/versions/1/infer", json=v2_request(images[:1], outputs=[{"name": "digit"}])
    ).json()
    assert "id" not in body
    assert [output["name"] for output in body["outputs"]] == ["digit"]


# ---------------------------------------------------------------- bad input: always 4xx and JSON


def _deep(levels: int) -> str:
    return '{"instances": ' + "[" * levels + "]" * levels + "}"


ONE = np.full((28, 28), 0.5).tolist()
BAD_TF_PREDICT = {
    "empty body": (b"", "empty"),
    "not json": (b"instances=1", "not valid JSON"),
    "not utf-8": (b"\xff\xfe{}", "UTF-8"),
    "json array": (b"[1, 2]", "JSON object"),
    "no instances": (b'{"signature_name": "serving_default"}', "instances"),
    "unknown field": (b'{"instances": [], "extra": 1}', "extra"),
    "both formats": (json.dumps({"instances": [ONE], "inputs": [ONE]}).encode(), "exactly one"),
    "unknown signature": (json.dumps({"signature_name": "other", "instances": [ONE]}).encode(), "signature"),
    "instances not a list": (b'{"instances": {"a": 1}}', "array"),
    "no images": (b'{"instances": []}', "empty"),
    "too many images": (json.dumps({"instances": [ONE] * (MAX_BATCH + 1)}).encode(), "limit"),
    "wrong shape": (json.dumps({"instances": [np.zeros((27, 28)).tolist()]}).encode(), "shape"),
    "ragged rows": (json.dumps({"instances": [[[0.0] * 28] * 27 + [[0.0] * 27]]}).encode(), "ragged"),
    "strings": (json.dumps({"instances": [["0.5"] * 784]}).encode(), "string"),
    "booleans": (json.dumps({"instances": [[True] * 784]}).encode(), "boolean"),
    "null": (json.dumps({"instances": [None]}).encode(), "null"),
    "NaN": (b'{"instances": [[' + b"NaN, " * 783 + b"0]]}", "NaN"),
    "Infinity": (b'{"instances": [[' + b"0, " * 783 + b"-Infinity]]}", "Infinity"),
    "overflowing float": (b'{"instances": [[' + b"0, " * 783 + b"1e400]]}", "too large"),
    "huge integer": (b'{"instances": [[' + b"0, " * 783 + b"9" * 400 + b"]]}", "too large"),
    "value above 1": (json.dumps({"instances": [[1.5] + [0.0] * 783]}).encode(), "outside [0, 1]"),
    "negative value": (json.dumps({"instances": [[-0.1] + [0.0] * 783]}).encode(), "outside [0, 1]"),
    "nested too deep": (_deep(5000).encode(), "deep"),
    "nested deeper than an image": (json.dumps({"instances": [[[[[[[[0.5]]]]]]]]}).encode(), "deep"),
    "b64 not base64": (b'{"instances": [{"b64": "***"}]}', "base64"),
    "b64 not a string": (b'{"instances": [{"b64": 5}]}', "string"),
    "b64 empty": (b'{"instances": [{"b64": ""}]}', "no bytes"),
    "b64 not an image": (b'{"instances": [{"b64": "' + base64.b64encode(b"plain text") + b'"}]}', ""),
    "object with other keys": (b'{"instances": [{"pixels": [0]}]}', "b64"),
}


@pytest.mark.parametrize("body,fragment", BAD_TF_PREDICT.values(), ids=BAD_TF_PREDICT.keys())
def test_bad_predict_requests_get_400_and_a_reason(client, body, fragment):
    assert_error(client.post(PREDICT, content=body), 400, fragment)


def v2_with(**changes) -> dict:
    request = v2_request(np.zeros((1, 28, 28)))
    request["inputs"][0].update(changes)
    return request


BLANK_V2 = v2_request(np.zeros((1, 28, 28)))
BAD_V2_INFER = {
    "no inputs": ({"id": "1"}, "inputs"),
    "two inputs": ({"inputs": BLANK_V2["inputs"] * 2}, "exactly one"),
    "unknown field": ({**BLANK_V2, "model": "x"}, "unknown"),
    "id not a string": ({**BLANK_V2, "id": 42}, "id"),
    "wrong input name": (v2_with(name="pixels"), "unknown input"),
    "wrong datatype": (v2_with(datatype="INT8"), "FP32"),
    "wrong shape": (v2_with(shape=[1, 784]), "shape"),
    "zero images": (v2_with(shape=[0, 28, 28, 1], data=[]), "N >= 1"),
    "too many images": (v2_with(shape=[MAX_BATCH + 1, 28, 28, 1]), "limit"),
    "data does not match shape": (v2_with(shape=[2, 28, 28, 1]), "shape"),
    "data nested differently": (v2_with(data=np.zeros((1, 784)).tolist()), "shape"),
    "data with strings": (v2_with(data=["0"] * 784), "string"),
    "value above 1": (v2_with(data=[2.0] + [0.0] * 783), "outside [0, 1]"),
    "parameters not an object": ({**BLANK_V2, "parameters": [1]}, "object"),
    "parameter value an object": ({**BLANK_V2, "parameters": {"a": {"b": 1}}}, "string, number or boolean"),
    "binary data asked for": ({**BLANK_V2, "parameters": {"binary_data_output": True}}, "binary"),
    "unknown output": ({**BLANK_V2, "outputs": [{"name": "logits"}]}, "unknown output"),
    "output twice": ({**BLANK_V2, "outputs": [{"name": "digit"}] * 2}, "twice"),
}


@pytest.mark.parametrize("request_body,fragment", BAD_V2_INFER.values(), ids=BAD_V2_INFER.keys())
def test_bad_infer_requests_get_400_and_a_reason(client, request_body, fragment):
    assert_error(client.post(INFER, json=request_body), 400, fragment)


def test_infer_refuses_nan_literals(client):
    body = json.dumps(v2_request(np.zeros((1, 28, 28)))).replace("0.0]", "NaN]", 1)
    assert_error(client.post(INFER, content=body.encode()), 400, "NaN")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height: what a decompression bomb looks like before decoding."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


BAD_UPLOADS = {
    "text file": (b"just some words", ""),
    "empty file": (b"", "empty"),
    "truncated png": (paper_digit_png()[:60], ""),
    "decompression bomb": (_png_header_only(100_000, 100_000), "pixels"),
}


@pytest.mark.parametrize("data,fragment", BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_bad_uploads_get_400_and_a_reason(client, data, fragment):
    assert_error(client.post("/predict", files={"file": ("upload.png", data, "image/png")}), 400, fragment)


def test_upload_must_be_multipart_with_a_file_field(client):
    assert_error(
        client.post("/predict", content=paper_digit_png(), headers={"content-type": "image/png"}),
        415,
        "multipart",
    )
    assert_error(
        client.post("/predict", files={"image": ("a.png", paper_digit_png(), "image/png")}), 400, '"file"'
    )
    assert_error(
        client.post("/predict", data={"file": "not a file"}, files={"other": ("a", b"x")}), 400, '"file"'
    )
    assert_error(
        client.post(
            "/predict",
            content=b"--xyz\r\nnonsense",
            headers={"content-type": "multipart/form-data; boundary=xyz"},
        ),
        400,
    )


def test_image_over_the_pixel_limit_is_refused(predictor, tiny_model_dir):
    app = create_app(predictor, model_info={}, max_image_pixels=100 * 100)
    with TestClient(app) as small:
        response = small.post("/predict", files={"file": ("big.png", paper_digit_png(200, 200), "image/png")})
        assert_error(response, 400, "pixels")
        assert small.post("/predict", files={"file": ("ok.png", paper_digit_png(90, 90))}).status_code == 200


def test_bodies_over_the_limit_get_413_by_header_and_by_counting(client):
    too_big = b"0" * (MAX_BODY + 1)
    assert_error(client.post(PREDICT, content=too_big), 413, "limit")
    assert_error(client.post("/predict", files={"file": ("big.png", too_big, "image/png")}), 413, "limit")

    def chunks():  # no Content-Length: only counting the bytes can stop it
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536

    assert_error(client.post(PREDICT, content=chunks()), 413, "limit")


def test_unknown_models_paths_and_methods(client, images):
    assert_error(client.post("/v1/models/other:predict", json={"instances": [ONE]}), 404, "other")
    assert_error(client.post("/v1/models/digitnet/versions/2:predict", json={"instances": [ONE]}), 404)
    assert_error(client.get("/v1/models/other"), 404)
    assert_error(client.post("/v2/models/other/infer", json=v2_request(images[:1])), 404)
    assert_error(client.get("/v2/models/digitnet/versions/9/ready"), 404)
    assert_error(client.get("/nowhere"), 404, "no endpoint")
    assert_error(client.get(PREDICT), 405)
    assert_error(client.delete("/v2/models/digitnet/infer"), 405)


class _BrokenPredictor:
    def predict(self, images):
        raise RuntimeError("a bug in the model code")


def test_an_internal_bug_is_a_logged_json_500_not_a_crash(caplog):
    with TestClient(create_app(_BrokenPredictor(), model_info={})) as broken:
        response = broken.post(PREDICT, json={"instances": [ONE]})
        assert_error(response, 500, "internal")
        assert "a bug in the model code" not in response.text  # details go to the log, not the client
        assert broken.get("/healthz").status_code == 200  # and the server carries on
    assert "a bug in the model code" in caplog.text


# ---------------------------------------------------------------- a live server


def test_live_server_answers_concurrent_requests(app, predictor, images):
    expected = predictor.predict(images)
    upload = paper_digit_png()

    def call(index: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as http:
            if index % 4 == 3:
                return http.post("/predict", files={"file": ("d.png", upload, "image/png")})
            if index % 4 == 2:
                return http.post(INFER, json=v2_request(images[index % 4 : index % 4 + 1]))
            return http.post(PREDICT, json={"instances": [images[index % 4].tolist()]})

    with serve_in_thread(app) as url:
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(call, range(16)))
        # The header check answers before reading: the client still gets the 413, not a reset.
        with httpx.Client(base_url=url, timeout=60) as http:
            assert_error(http.post(PREDICT, content=b"1" * (MAX_BODY + 1)), 413)
    assert [r.status_code for r in responses] == [200] * 16
    for index, response in enumerate(responses):
        if index % 4 in (0, 1):
            assert_prediction(response.json()["predictions"][0], expected[index % 4])
        elif index % 4 == 2:
            assert response.json()["outputs"][1]["data"] == [expected[2].digit]


class _SlowRecordingPredictor:
    """Answers each image with its own first pixel as the digit; the first call is slow."""

    def __init__(self):
        self.batch_sizes = []

    def predict(self, images):
        self.batch_sizes.append(len(images))
        if len(self.batch_sizes) == 1:
            time.sleep(0.3)  # the other requests queue up meanwhile
        return [int(image[0, 0, 0]) for image in images]


def test_requests_waiting_for_the_model_share_one_call_and_each_gets_its_own_answers():
    recorder = _SlowRecordingPredictor()
    batcher = BatchingPredictor(recorder)

    async def ask_all():
        first = asyncio.create_task(batcher.predict(np.full((1, 28, 28), 9, np.float32)))
        await asyncio.sleep(0.1)  # the model is busy with the first request now
        sizes = [1, 3, 2, 1]
        requests = [
            np.stack([np.full((28, 28), 10 * index + k, np.float32) for k in range(size)])
            for index, size in enumerate(sizes)
        ]
        rest = await asyncio.gather(*(batcher.predict(images) for images in requests))
        return await first, rest

    first, rest = asyncio.run(ask_all())
    batcher.close()
    assert first == [9]
    assert rest == [[0], [10, 11, 12], [20, 21], [30]]
    assert recorder.batch_sizes == [1, 7]
    assert not any(thread.name == "digitnet-model" for thread in threading.enumerate())


def test_a_taken_port_is_a_one_line_serve_error():
    from digitnet.serve.errors import ServeError
    from digitnet.serve.server import bind_socket

    with bind_socket("127.0.0.1", 0) as taken:  # bound and listening, as another server's would be
        with pytest.raises(ServeError, match="--port"):
            bind_socket("127.0.0.1", taken.getsockname()[1])


# ---------------------------------------------------------------- corrected examples (--collect)


def collect_client(predictor, tiny_model_dir, directory, **limits):
    from digitnet.serve.collect import ExampleStore

    return TestClient(
        create_app(
            predictor,
            model_info=describe_model(tiny_model_dir),
            max_body_bytes=MAX_BODY,
            collect=ExampleStore(directory, **limits),
        )
    )


def test_collect_saves_the_image_as_a_png_named_for_its_label(predictor, tiny_model_dir, images, tmp_path):
    from digitnet.jobs.finetune import label_from_name

    folder = tmp_path / "collected"
    with collect_client(predictor, tiny_model_dir, folder) as client:
        assert client.get("/collect").json() == {"enabled": True}
        first = client.post("/collect", json={"image": images[0].tolist(), "label": 3})
        second = client.post("/collect", json={"image": images[1].reshape(784).tolist(), "label": 0})
    assert first.status_code == 201, first.text
    assert first.json()["count"] == 1 and second.json()["count"] == 2
    name = first.json()["saved"]
    assert name.endswith("_3.png") and label_from_name(name) == 3
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, second.json()["saved"]])
    saved = np.asarray(Image.open(folder / name))
    assert saved.shape == (28, 28) and saved.dtype == np.uint8
    np.testing.assert_array_equal(saved, np.round(images[0] * 255))


def test_collect_is_refused_when_off(client, images):
    assert client.get("/collect").json() == {"enabled": False}
    assert_error(
        client.post("/collect", json={"image": images[0].tolist(), "label": 3}), 404, "--collect DIR"
    )


BAD_COLLECT = {
    "not json": (b"{", "not valid JSON"),
    "not an object": (b"[1, 2]", "JSON object"),
    "no label": (json.dumps({"image": [[0.5] * 28] * 28}).encode(), '"label" missing'),
    "label 10": (json.dumps({"image": [[0.5] * 28] * 28, "label": 10}).encode(), "0-9"),
    "label string": (json.dumps({"image": [[0.5] * 28] * 28, "label": "3"}).encode(), "0-9"),
    "label boolean": (json.dumps({"image": [[0.5] * 28] * 28, "label": True}).encode(), "0-9"),
    "wrong shape": (json.dumps({"image": [[0.5] * 27] * 28, "label": 3}).encode(), "shape"),
    "ragged": (json.dumps({"image": [[0.5] * 28] * 27 + [[0.5]], "label": 3}).encode(), "ragged"),
    "out of range": (json.dumps({"image": [[2.0] * 28] * 28, "label": 3}).encode(), "[0, 1]"),
    "NaN": (b'{"image": [' + b",".join([b"NaN"] * 784) + b'], "label": 3}', "NaN"),
    "strings": (json.dumps({"image": [["x"] * 28] * 28, "label": 3}).encode(), "only numbers"),
    "blank": (json.dumps({"image": [[0.0] * 28] * 28, "label": 3}).encode(), "blank"),
}


@pytest.mark.parametrize("body,fragment", BAD_COLLECT.values(), ids=BAD_COLLECT.keys())
def test_bad_collect_requests_get_400_and_save_nothing(predictor, tiny_model_dir, tmp_path, body, fragment):
    with collect_client(predictor, tiny_model_dir, tmp_path / "c") as client:
        response = client.post("/collect", content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, fragment)
    assert list((tmp_path / "c").iterdir()) == []


def test_collect_stops_at_the_cap(predictor, tiny_model_dir, images, tmp_path):
    folder = tmp_path / "c"
    with collect_client(predictor, tiny_model_dir, folder, max_examples=2) as client:
        for label in (1, 2):
            assert (
                client.post("/collect", json={"image": images[0].tolist(), "label": label}).status_code == 201
            )
        assert_error(client.post("/collect", json={"image": images[0].tolist(), "label": 3}), 507, "full")
        assert len(list(folder.iterdir())) == 2
        next(folder.iterdir()).unlink()  # moving examples away makes room again
        assert client.post("/collect", json={"image": images[0].tolist(), "label": 4}).status_code == 201


def test_collect_byte_cap(predictor, tiny_model_dir, images, tmp_path):
    with collect_client(predictor, tiny_model_dir, tmp_path / "c", max_bytes=50) as client:
        assert_error(client.post("/collect", json={"image": images[0].tolist(), "label": 3}), 507, "MB")
    assert list((tmp_path / "c").iterdir()) == []


def test_a_write_failing_midway_leaves_no_file(predictor, tiny_model_dir, images, tmp_path, monkeypatch):
    import errno

    def failing_fsync(_fd):
        raise OSError(errno.EIO, "disk went away")

    folder = tmp_path / "c"
    with collect_client(predictor, tiny_model_dir, folder) as client:
        monkeypatch.setattr("digitnet.util.fileio.os.fsync", failing_fsync)
        response = client.post("/collect", json={"image": images[0].tolist(), "label": 3})
        assert response.status_code == 500 and "error" in response.json()
        monkeypatch.undo()
        assert client.post("/collect", json={"image": images[0].tolist(), "label": 3}).status_code == 201
    assert len(list(folder.iterdir())) == 1  # the good one; nothing half-written, no temp file


def test_concurrent_collects_never_pass_the_cap(predictor, tiny_model_dir, images, tmp_path):
    from digitnet.serve.collect import ExampleStore

    folder = tmp_path / "c"
    app = create_app(
        predictor, model_info=describe_model(tiny_model_dir), collect=ExampleStore(folder, max_examples=5)
    )
    with serve_in_thread(app) as url:

        def post(label):
            return httpx.post(
                f"{url}/collect", json={"image": images[0].tolist(), "label": label % 10}, timeout=30
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, range(16)))
    assert statuses.count(201) == 5 and statuses.count(507) == 11
    assert len(list(folder.iterdir())) == 5


def test_the_page_has_the_collect_row(client):
    page = client.get("/").text
    assert 'id="collect"' in page and "wrong? it was" in page and 'fetch("collect"' in page


# ---------------------------------------------------------------- hostile clients


def blank_png(width: int, height: int) -> bytes:
    """A white 1-bit PNG: a few kilobytes that decode to width x height pixels."""
    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_over_the_request_pixel_budget_get_413_before_decoding(client, predictor):
    huge = base64.b64encode(blank_png(6000, 6000)).decode()  # 36 megapixels each, under the per-image limit
    started = time.monotonic()
    response = client.post(PREDICT, json={"instances": [{"b64": huge}] * MAX_BATCH})
    elapsed = time.monotonic() - started
    assert_error(response, 413, "per request")
    assert f"{MAX_BATCH * 36_000_000:,} pixels" in response.json()["error"]
    assert elapsed < 2.0  # decoding them would take several seconds
    data = paper_digit_png()
    [expected] = predictor.predict(image_to_mnist(data)[None])
    ordinary = client.post(PREDICT, json={"instances": [{"b64": base64.b64encode(data).decode()}]})
    assert ordinary.status_code == 200, ordinary.text
    assert_prediction(ordinary.json()["predictions"][0], expected)


def test_health_endpoints_answer_head(client):
    for path in ("/healthz", "/v2/health/live", "/v2/health/ready"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""


class _BlockedPredictor:
    """Holds every model call until released: a model stuck on a request."""

    def __init__(self, inner):
        self.inner = inner
        self.release = threading.Event()

    def predict(self, images):
        self.release.wait(30)
        return self.inner.predict(images)


def test_ready_says_no_while_the_model_is_stuck(predictor, monkeypatch):
    from digitnet.serve import batching

    monkeypatch.setattr(batching, "STUCK_AFTER_S", 0.3)
    blocked = _BlockedPredictor(predictor)
    with serve_in_thread(create_app(blocked, model_info={})) as url:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(httpx.post, url + PREDICT, json={"instances": [ONE]}, timeout=30)
            time.sleep(0.6)
            stuck = httpx.get(url + "/v2/health/ready", timeout=10)
            live = httpx.get(url + "/v2/health/live", timeout=10)
            blocked.release.set()
            answered = waiting.result()
        after = httpx.get(url + "/v2/health/ready", timeout=10)
    assert stuck.status_code == 503 and stuck.json()["ready"] is False, stuck.text
    assert live.status_code == 200
    assert answered.status_code == 200 and after.status_code == 200 and after.json() == {"ready": True}


def test_error_bodies_stay_small_whatever_the_request_echoes(client):
    many_keys = {"instances": [ONE], **{f"k{index}": 0 for index in range(20_000)}}
    response = client.post(PREDICT, json=many_keys)
    assert_error(response, 400, "20,000 in all")
    assert len(response.content) < 1000
    response = client.post(PREDICT, json={"instances": [{f"key{index}": 0 for index in range(20_000)}]})
    assert_error(response, 400, "b64")
    assert len(response.content) < 1000
    huge_count = int("9" * 4000)  # JSON allows it; Python parses up to 4,300 digits
    response = client.post(INFER, content=json.dumps(v2_with(shape=[huge_count, 28, 28, 1])).encode())
    assert_error(response, 400, "limit")
    assert len(response.content) < 1000


def _read_until_closed(sock, limit_s: float) -> bytes:
    sock.settimeout(limit_s)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_slow_headers_and_bodies_are_cut_off(app):
    import socket

    from digitnet.serve.limits import BodySizeLimit

    guarded = BodySizeLimit(app, max_bytes=MAX_BODY, idle_s=0.5, total_s=1.0)  # short body timeouts
    with serve_in_thread(guarded, header_timeout_s=0.5) as url:
        host, port = url.removeprefix("http://").split(":")
        address = (host, int(port))
        # Half the headers, then nothing: 408 and closed, after the header timeout.
        with socket.create_connection(address) as sock:
            started = time.monotonic()
            sock.sendall(b"POST /v1/models/digitnet:predict HTTP/1.1\r\nHost: x\r\n")
            answer = _read_until_closed(sock, 10)
            assert answer.startswith(b"HTTP/1.1 408") and b"headers" in answer
            assert 0.4 < time.monotonic() - started < 3
        # The same after one complete request on a kept-alive connection.
        with socket.create_connection(address) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(10)
            first = b""
            while not first.endswith(b'{"status":"ok"}'):
                first += sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
            assert _read_until_closed(sock, 10).startswith(b"HTTP/1.1 408")
            assert time.monotonic() - started < 3
        # A body shorter than its Content-Length: 408 in JSON and closed, after the body timeout.
        with socket.create_connection(address) as sock:
            started = time.monotonic()
            sock.sendall(
                b"POST /v1/models/digitnet:predict HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"instances"'
            )
            answer = _read_until_closed(sock, 10)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"].startswith("the request body")
            assert time.monotonic() - started < 3
        # A connection that sends nothing at all is closed too.
        with socket.create_connection(address) as sock:
            assert _read_until_closed(sock, 10) == b""
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200  # and the server carries on


def test_the_server_limits_connections_and_idle_keep_alive(app):
    from digitnet.serve.server import make_server

    config = make_server(app, configure_logging=False).config
    assert config.limit_concurrency and config.timeout_keep_alive <= 10


@pytest.mark.parametrize("port", [99999, -1, 65536])
def test_ports_outside_0_to_65535_are_refused(port, capsys):
    from digitnet.cli import main
    from digitnet.serve.errors import ServeError
    from digitnet.serve.server import bind_socket

    with pytest.raises(ServeError, match="0-65535"):
        bind_socket("127.0.0.1", port)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "some-model", "--port", str(port)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "0-65535" in error and "host" not in error


def test_numbers_mixed_with_arrays_are_a_400_not_a_500(client):
    """Found by benchmarks/fuzz.py: [0.5, [...]] used to escape as StopIteration, a 500."""
    mixed = [0.5, [0.0] * 28] + [[0.0] * 28] * 26
    for path, body in (
        (PREDICT, {"instances": [mixed]}),
        (INFER, {"inputs": [{"name": "image", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": mixed}]}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert "a mix of numbers and arrays" in response.json()["error"]


# ---------------------------------------------------------------- /collect: only the page may post


def _example(images) -> bytes:
    return json.dumps({"image": images[0].tolist(), "label": 3}).encode()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_collect_refuses_anything_but_json(predictor, tiny_model_dir, images, tmp_path, content_type):
    headers = {"content-type": content_type} if content_type else {}
    with collect_client(predictor, tiny_model_dir, tmp_path / "c") as client:
        response = client.post("/collect", content=_example(images), headers=headers)
    assert_error(response, 415, "application/json")
    assert list((tmp_path / "c").iterdir()) == []


@pytest.mark.parametrize(
    "origin, host, status",
    [
        ("https://evil.example", "127.0.0.1:8000", 403),  # another site's page
        ("null", "127.0.0.1:8000", 403),  # a sandboxed frame or a file:// page
        ("http://evil.example:8000", "evil.example:8000", 403),  # a name re-pointed at this server
        ("http://127.0.0.1:8000", "127.0.0.1:8000", 201),  # the drawing page itself
        ("http://localhost:8000", "localhost:8000", 201),
        ("http://[::1]:8000", "[::1]:8000", 201),
        (None, "127.0.0.1:8000", 201),  # curl, a script: no Origin
    ],
)
def test_collect_refuses_another_sites_page(
    predictor, tiny_model_dir, images, tmp_path, origin, host, status
):
    headers = {"content-type": "application/json", "host": host}
    if origin is not None:
        headers["origin"] = origin
    with collect_client(predictor, tiny_model_dir, tmp_path / "c") as client:
        response = client.post("/collect", content=_example(images), headers=headers)
    assert response.status_code == status, response.text
    assert len(list((tmp_path / "c").iterdir())) == (status == 201)
    if status == 403:
        assert_error(response, 403, "only for the drawing page")


def test_the_host_served_on_is_trusted(predictor, tiny_model_dir, images, tmp_path):
    from digitnet.serve.collect import ExampleStore

    store = ExampleStore(tmp_path / "c", hosts=("digits.lan",))
    app = create_app(predictor, model_info=describe_model(tiny_model_dir), collect=store)
    headers = {
        "content-type": "application/json",
        "host": "digits.lan:8000",
        "origin": "http://digits.lan:8000",
    }
    with TestClient(app) as client:
        assert client.post("/collect", content=_example(images), headers=headers).status_code == 201


def test_a_large_collect_body_is_refused_unparsed_and_parsing_is_off_the_event_loop(
    predictor, tiny_model_dir, images, tmp_path, monkeypatch
):
    import asyncio

    from digitnet.serve import collect

    def rows(count: int) -> bytes:
        return b'{"label": 3, "image": [' + b",".join([b"[0]"] * count) + b"]}"

    with collect_client(predictor, tiny_model_dir, tmp_path / "c") as client:
        for count in (3_000_000, 30_000):  # 12 MB froze the event loop when parsed there; 120 kB
            big = client.post("/collect", content=rows(count), headers={"content-type": "application/json"})
            assert_error(big, 413, "-byte limit")
        assert f"{collect.MAX_BODY_BYTES:,}-byte limit" in big.json()["error"]  # the route's own cap
        threads = []
        real_parse = collect.parse_body

        def watched_parse(body):
            try:
                asyncio.get_running_loop()
                threads.append("event loop")
            except RuntimeError:
                threads.append("worker")
            return real_parse(body)

        monkeypatch.setattr(collect, "parse_body", watched_parse)
        assert client.post("/collect", json={"image": images[0].tolist(), "label": 3}).status_code == 201
    assert threads == ["worker"]


# ---------------------------------------------------------------- /collect: the server's own troubles


def test_a_removed_collect_folder_is_503_with_a_clear_message(predictor, tiny_model_dir, images, tmp_path):
    import shutil

    folder = tmp_path / "c"
    with collect_client(predictor, tiny_model_dir, folder) as client:
        shutil.rmtree(folder)
        response = client.post("/collect", json={"image": images[0].tolist(), "label": 3})
    assert_error(response, 503, "--collect folder")
    assert str(folder) in response.json()["error"] and "recreate" in response.json()["error"]


def test_the_full_message_says_50_mb_as_the_readme_does(predictor, tiny_model_dir, images, tmp_path):
    from digitnet.serve.collect import MAX_BYTES

    with collect_client(predictor, tiny_model_dir, tmp_path / "c", max_bytes=MAX_BYTES) as client:
        (tmp_path / "c" / "big.png").write_bytes(b"x" * MAX_BYTES)
        response = client.post("/collect", json={"image": images[0].tolist(), "label": 3})
    assert_error(response, 507, "or 50 MB)")
    assert (
        "50 MB stored: 507"
        in __import__("pathlib").Path(__file__).parents[1].joinpath("README.md").read_text()
    )


def test_a_number_of_too_many_digits_gets_no_internal_advice(predictor, tiny_model_dir, tmp_path):
    body = b'{"image": ' + b"9" * 5000 + b', "label": 3}'
    with collect_client(predictor, tiny_model_dir, tmp_path / "c") as client:
        response = client.post("/collect", content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, "more than 4,300 digits")
    assert "sys." not in response.text
