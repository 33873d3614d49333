"""The service's routes, one router per protocol, over one `Serving` that create_app (app.py) makes.

    page_router              GET /, POST /predict (upload), GET /healthz, GET and POST /collect
    tf_serving_router        TensorFlow Serving REST: /v1/models/digitnet[/versions/1][:predict|/metadata]
    open_inference_router    Open Inference Protocol (KServe v2): /v2, health, model metadata, infer

Each route checks the model name and version a path carries with its protocol's check_model, which
both protocols share (served_model.check_model). Parsing and decoding run off the event loop.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import anyio
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from digitnet.serve import open_inference as oip
from digitnet.serve import tf_serving as tfs
from digitnet.serve.batching import BatchingPredictor
from digitnet.serve.errors import RequestError
from digitnet.serve.images import decode_images, image_file_to_mnist, mnist_png_base64
from digitnet.serve.tensors import parse_json

UPLOAD_FIELD = "file"
# The page is self-contained: this policy makes the browser refuse anything from elsewhere.
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class ErrorBody(BaseModel):
    """The body of every error answer (errors.py): one line that says what to fix."""

    error: str


class NotReadyBody(BaseModel):
    ready: bool
    error: str


ERROR_MEANINGS = {
    400: "bad input: the JSON, the tensor or the image cannot be used; the error says why",
    403: "(POST /collect) a browser page from another site, or reached by an untrusted name",
    404: "no such model or version here, or (POST /collect) collection is off",
    405: "this path answers another method (:predict takes POST)",
    408: "the request body did not arrive in time (limits.py)",
    413: "the request body, or all its images' pixels together, over the server's limit",
    415: "not multipart/form-data (POST /predict) or not application/json (POST /collect)",
    503: "(POST /collect) the server's folder of corrected examples was removed",
    507: "the server's folder of corrected examples is full",
}
BODY_ERRORS = (400, 408, 413)  # any route that reads a body: the parse, and limits.BodySizeLimit


def error_responses(*codes: int) -> dict:
    """OpenAPI `responses=` for the error codes a route really answers, each with the {"error"} body.
    Only these: tests/test_openapi.py sends each route bad input and checks its status is listed."""
    documented = {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}
    # FastAPI would otherwise list a 422 with its own body for any route with path parameters; this
    # service answers validation errors 400 (app.py), and every other 4xx with the same body.
    documented["4XX"] = {"model": ErrorBody, "description": "any client error: the same JSON body"}
    return documented


@dataclass
class Serving:
    """What the routes share: the batching predictor, the limits, the page and the status facts."""

    batcher: BatchingPredictor
    model_info: dict  # for the status endpoints (see model_info.describe_model)
    version: str  # the package's
    page: str  # the drawing page's HTML
    max_batch: int  # images in one request
    pixel_limit: int  # pixels of one image file
    max_request_pixels: int  # pixels of all a request's image files together
    decode_slots: anyio.CapacityLimiter  # requests parsed or decoded at once
    collect: object | None  # a serve.collect.ExampleStore, or None: collection is off

    async def off_loop(self, function, *args, **kwargs):
        """function(*args, **kwargs) in a worker thread, at most `decode_slots` at a time."""
        return await anyio.to_thread.run_sync(
            functools.partial(function, *args, **kwargs), limiter=self.decode_slots
        )

    def decode_request_images(self, files: list[tuple[bytes, str]]) -> list[np.ndarray]:
        return decode_images(files, max_pixels=self.pixel_limit, max_total_pixels=self.max_request_pixels)

    def parse_tf_predict(self, body: bytes) -> tfs.PredictRequest:
        return tfs.parse_predict(
            parse_json(body), max_instances=self.max_batch, decode_images=self.decode_request_images
        )

    def parse_oip_infer(self, body: bytes) -> oip.InferRequest:
        return oip.parse_infer(parse_json(body), max_instances=self.max_batch)


def page_router(serving: Serving) -> APIRouter:
    """The drawing page, one-image uploads, health, and corrected examples (--collect)."""
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(
            serving.page,
            headers={
                "Content-Security-Policy": PAGE_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-cache",
            },
        )

    @router.post("/predict", responses=error_responses(*BODY_ERRORS, 415))
    async def predict_upload(request: Request):
        data, name = await _uploaded_file(request)
        image = await serving.off_loop(image_file_to_mnist, data, name=name, max_pixels=serving.pixel_limit)
        [prediction] = await serving.batcher.predict(image[None])
        return {**prediction.to_dict(), "input_png": mnist_png_base64(image)}

    @router.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz():
        return {"status": "ok"}

    @router.get("/collect")
    async def collect_status():
        return {"enabled": serving.collect is not None}

    @router.post("/collect", responses=error_responses(*BODY_ERRORS, 403, 404, 415, 503, 507))
    async def collect_example(request: Request):
        from digitnet.serve import collect

        if serving.collect is None:
            raise RequestError(
                "collection is off; start the server with `digitnet serve MODEL "
                "--collect DIR` to save corrected examples",
                status=404,
            )
        collect.check_content_type(request.headers.get("content-type"))
        collect.check_same_origin(
            request.headers.get("origin"), request.headers.get("host"), serving.collect.hosts
        )
        body = await _capped_body(request, collect.MAX_BODY_BYTES)
        image, label = await serving.off_loop(collect.parse_body, body)
        name, count = await run_in_threadpool(serving.collect.save, image, label)
        return JSONResponse({"saved": name, "count": count}, status_code=201)

    return router


async def _capped_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `max_bytes` (a route's own cap,
    below the server-wide one that limits.BodySizeLimit enforces)."""
    parts, received = [], 0
    async for part in request.stream():
        received += len(part)
        if received > max_bytes:
            raise RequestError(f"request body over this route's {max_bytes:,}-byte limit", status=413)
        parts.append(part)
    return b"".join(parts)


async def _uploaded_file(request: Request) -> tuple[bytes, str]:
    """(the bytes, a name to show) of the one file in the form field UPLOAD_FIELD."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise RequestError(
            f'send the image as multipart/form-data with a field named "{UPLOAD_FIELD}" '
            f"(curl -F {UPLOAD_FIELD}=@digit.png ...)",
            status=415,
        )
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get(UPLOAD_FIELD)
        if upload is None or isinstance(upload, str):
            raise RequestError(
                f'no file in a form field named "{UPLOAD_FIELD}"; '
                f"send one (curl -F {UPLOAD_FIELD}=@digit.png ...)"
            )
        return await upload.read(), (upload.filename or "the upload")[:100]


def tf_serving_router(serving: Serving) -> APIRouter:
    """TensorFlow Serving's REST API: predict, model status and metadata."""
    router = APIRouter()

    @router.post("/v1/models/{name}:predict", responses=error_responses(*BODY_ERRORS, 404))
    @router.post("/v1/models/{name}/versions/{version}:predict", responses=error_responses(*BODY_ERRORS, 404))
    async def tf_predict(request: Request, name: str, version: str | None = None):
        tfs.check_model(name, version)
        parsed = await serving.off_loop(serving.parse_tf_predict, await request.body())
        predictions = await serving.batcher.predict(parsed.images)
        return tfs.predict_response(predictions, parsed.columnar)

    @router.get("/v1/models/{name}", responses=error_responses(404, 405))
    @router.get("/v1/models/{name}/versions/{version}", responses=error_responses(404, 405))
    async def tf_status(name: str, version: str | None = None):
        if ":" in (version or name):  # "digitnet:predict" reached by GET
            raise HTTPException(405, "use POST for :predict", headers={"Allow": "POST"})
        tfs.check_model(name, version)
        return tfs.model_status(serving.model_info)

    @router.get("/v1/models/{name}/metadata", responses=error_responses(404))
    @router.get("/v1/models/{name}/versions/{version}/metadata", responses=error_responses(404))
    async def tf_metadata(name: str, version: str | None = None):
        tfs.check_model(name, version)
        return tfs.model_metadata()

    return router


def open_inference_router(serving: Serving) -> APIRouter:
    """The Open Inference Protocol (KServe v2): server and model metadata, health, infer."""
    router = APIRouter()

    @router.get("/v2")
    async def v2_server_metadata():
        return oip.server_metadata(serving.version)

    @router.api_route("/v2/health/live", methods=["GET", "HEAD"])
    async def v2_live():
        return {"live": True}

    @router.api_route(
        "/v2/health/ready",
        methods=["GET", "HEAD"],
        responses={503: {"model": NotReadyBody, "description": "the model is stuck on a request"}},
    )
    async def v2_ready():
        # The model is loaded before the app exists; not ready only while it is stuck on a request.
        batcher = serving.batcher
        if batcher.is_stuck():
            return JSONResponse(
                {
                    "ready": False,
                    "error": "the model has not answered a queued request "
                    f"for {batcher.oldest_wait_s():.0f} s",
                },
                status_code=503,
            )
        return {"ready": True}

    @router.get("/v2/models/{name}", responses=error_responses(404))
    @router.get("/v2/models/{name}/versions/{version}", responses=error_responses(404))
    async def v2_model_metadata(name: str, version: str | None = None):
        oip.check_model(name, version)
        return oip.model_metadata()

    @router.get("/v2/models/{name}/ready", responses=error_responses(404))
    @router.get("/v2/models/{name}/versions/{version}/ready", responses=error_responses(404))
    async def v2_model_ready(name: str, version: str | None = None):
        oip.check_model(name, version)
        return {"name": oip.MODEL_NAME, "ready": True}

    @router.post("/v2/models/{name}/infer", responses=error_responses(*BODY_ERRORS, 404))
    @router.post("/v2/models/{name}/versions/{version}/infer", responses=error_responses(*BODY_ERRORS, 404))
    async def v2_infer(request: Request, name: str, version: str | None = None):
        oip.check_model(name, version)
        parsed = await serving.off_loop(serving.parse_oip_infer, await request.body())
        predictions = await serving.batcher.predict(parsed.images)
        return oip.infer_response(predictions, parsed)

    return router
