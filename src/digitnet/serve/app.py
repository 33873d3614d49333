"""The HTTP service: a drawing page, TensorFlow Serving and Open Inference Protocol endpoints.

`create_app` wires a loaded Predictor into FastAPI; `run_server` loads a model and serves it.
The service never trains. Every answer is JSON except the page; every client mistake is a
4xx with {"error": "..."} (see errors.py); decoding and the model run off the event loop.

    GET  /                                      the page: draw a digit, see what the model sees
    POST /predict                               multipart upload, field "file": one image
    GET  /collect, POST /collect                is collection on; save a corrected example (--collect)
    GET  /healthz                               (health endpoints answer HEAD too)
    GET  /v1/models/digitnet[/versions/1]       TF Serving model status (+ "metadata")
    GET  /v1/models/digitnet[/versions/1]/metadata
    POST /v1/models/digitnet[/versions/1]:predict
    GET  /v2, /v2/health/live, /v2/health/ready Open Inference Protocol (KServe v2)
    GET  /v2/models/digitnet[/versions/1][/ready]
    POST /v2/models/digitnet[/versions/1]/infer
"""

from __future__ import annotations

import functools
import logging
import os
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from digitnet.serve import open_inference as oip
from digitnet.serve import tf_serving as tfs
from digitnet.serve.batching import DEFAULT_MAX_IMAGES, BatchingPredictor
from digitnet.serve.errors import InternalErrors, RequestError
from digitnet.serve.images import (DEFAULT_MAX_REQUEST_PIXELS, decode_images, image_file_to_mnist,
                                   mnist_png_base64)
from digitnet.serve.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from digitnet.serve.tensors import parse_json
from digitnet.shapes import INPUT_SHAPE

DEFAULT_MAX_BATCH = 128  # images in one request (instances, or N of a v2 input)
UPLOAD_FIELD = "file"
# The page is self-contained: this policy makes the browser refuse anything from elsewhere.
PAGE_POLICY = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digitnet")
    except PackageNotFoundError:
        return "unknown"


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # what this process may use, not what the machine has
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def create_app(predictor, *, model_info: dict, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH, max_image_pixels: int | None = None,
               max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS, collect=None) -> FastAPI:
    """predictor: a digitnet.predict.Predictor (anything with its `predict`); model_info: for status.

    max_body_bytes: larger request bodies get 413; max_batch: images per request;
    max_image_pixels: larger image files are refused before decoding (preprocess's limit by default);
    max_request_pixels: a request whose image files decode to more, all together, gets 413;
    collect: a serve.collect.ExampleStore to save corrected examples in, or None (collection off).
    """
    from digitnet.preprocess import MAX_PIXELS

    pixel_limit = MAX_PIXELS if max_image_pixels is None else max_image_pixels
    batcher = BatchingPredictor(predictor, max_images=max(max_batch, DEFAULT_MAX_IMAGES))
    # Parsing and decoding are CPU-bound and a 40-megapixel image briefly takes ~700 MB, so at most
    # one request a core decodes at a time; the rest wait their turn instead of exhausting memory.
    decode_slots = anyio.CapacityLimiter(_usable_cores())

    async def off_loop(function, *args, **kwargs):
        return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs),
                                              limiter=decode_slots)

    page = (resources.files("digitnet.serve") / "static" / "index.html").read_text(encoding="utf-8")
    version = _package_version()

    def decode_request_images(files: list[tuple[bytes, str]]) -> list[np.ndarray]:
        return decode_images(files, max_pixels=pixel_limit, max_total_pixels=max_request_pixels)

    def parse_tf_predict(body: bytes) -> tfs.PredictRequest:
        return tfs.parse_predict(parse_json(body), max_instances=max_batch,
                                 decode_images=decode_request_images)

    def parse_oip_infer(body: bytes) -> oip.InferRequest:
        return oip.parse_infer(parse_json(body), max_instances=max_batch)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await run_in_threadpool(batcher.close)

    app = FastAPI(title="digitnet", version=version, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(InternalErrors)  # added last, so outermost: it sees every other failure

    # ------------------------------------------------------------ page and upload

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY,
                                           "X-Content-Type-Options": "nosniff",
                                           "Cache-Control": "no-cache"})

    @app.post("/predict")
    async def predict_upload(request: Request):
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise RequestError(f'send the image as multipart/form-data with a field named "{UPLOAD_FIELD}" '
                               f"(curl -F {UPLOAD_FIELD}=@digit.png ...)", status=415)
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get(UPLOAD_FIELD)
            if upload is None or isinstance(upload, str):
                raise RequestError(f'no file in a form field named "{UPLOAD_FIELD}"; '
                                   f"send one (curl -F {UPLOAD_FIELD}=@digit.png ...)")
            data = await upload.read()
            name = (upload.filename or "the upload")[:100]
        image = await off_loop(image_file_to_mnist, data, name=name, max_pixels=pixel_limit)
        [prediction] = await batcher.predict(image[None])
        return {**prediction.to_dict(), "input_png": mnist_png_base64(image)}

    @app.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz():
        return {"status": "ok"}

    # ------------------------------------------------------------ corrected examples (--collect)

    @app.get("/collect")
    async def collect_status():
        return {"enabled": collect is not None}

    @app.post("/collect")
    async def collect_example(request: Request):
        from digitnet.serve.collect import parse_example

        if collect is None:
            raise RequestError("collection is off; start the server with `digitnet serve MODEL "
                               "--collect DIR` to save corrected examples", status=404)
        image, label = parse_example(parse_json(await request.body()))
        name, count = await run_in_threadpool(collect.save, image, label)
        return JSONResponse({"saved": name, "count": count}, status_code=201)

    # ------------------------------------------------------------ TensorFlow Serving REST

    @app.post("/v1/models/{name}:predict")
    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def tf_predict(request: Request, name: str, version: str | None = None):
        tfs.check_model(name, version)
        parsed = await off_loop(parse_tf_predict, await request.body())
        predictions = await batcher.predict(parsed.images)
        return tfs.predict_response(predictions, parsed.columnar)

    @app.get("/v1/models/{name}")
    @app.get("/v1/models/{name}/versions/{version}")
    async def tf_status(name: str, version: str | None = None):
        if ":" in (version or name):  # "digitnet:predict" reached by GET
            raise HTTPException(405, "use POST for :predict", headers={"Allow": "POST"})
        tfs.check_model(name, version)
        return tfs.model_status(model_info)

    @app.get("/v1/models/{name}/metadata")
    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def tf_metadata(name: str, version: str | None = None):
        tfs.check_model(name, version)
        return tfs.model_metadata()

    # ------------------------------------------------------------ Open Inference Protocol (v2)

    @app.get("/v2")
    async def v2_server_metadata():
        return oip.server_metadata(version)

    @app.api_route("/v2/health/live", methods=["GET", "HEAD"])
    async def v2_live():
        return {"live": True}

    @app.api_route("/v2/health/ready", methods=["GET", "HEAD"])
    async def v2_ready():
        # The model is loaded before the app exists; not ready only while it is stuck on a request.
        if batcher.is_stuck():
            return JSONResponse({"ready": False, "error": "the model has not answered a queued request "
                                 f"for {batcher.oldest_wait_s():.0f} s"}, status_code=503)
        return {"ready": True}

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def v2_model_metadata(name: str, version: str | None = None):
        oip.check_model(name, version)
        return oip.model_metadata()

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_model_ready(name: str, version: str | None = None):
        oip.check_model(name, version)
        return {"name": oip.MODEL_NAME, "ready": True}

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(request: Request, name: str, version: str | None = None):
        oip.check_model(name, version)
        parsed = await off_loop(parse_oip_infer, await request.body())
        predictions = await batcher.predict(parsed.images)
        return oip.infer_response(predictions, parsed)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(_request, error: RequestError):
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        message = str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            message = (f"no endpoint at {request.url.path[:100]}; try GET /, POST /predict, "
                       "POST /v1/models/digitnet:predict or POST /v2/models/digitnet/infer")
        elif error.status_code == 405 and message == "Method Not Allowed":
            message = f"{request.method} is not allowed at {request.url.path[:100]}"
        return JSONResponse({"error": message}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, error: RequestValidationError):
        return JSONResponse({"error": f"invalid request: {str(error.errors())[:300]}"}, status_code=400)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(_request, _error):
        return Response(status_code=400)  # nobody is listening; this only ends the request


def warm_up(predictor) -> None:
    """One prediction before serving, so the first request does not pay for tracing the model."""
    predictor.predict(np.zeros((1, *INPUT_SHAPE), dtype=np.float32))


def run_server(model_path: Path | None, host: str = "127.0.0.1", port: int = 8000, *, rule: str = "mean",
               detector_dir: Path | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH, engine: str = "auto",
               collect_dir: Path | None = None) -> None:
    """Load the model at `model_path` (run directory, .keras file or ensemble; None: the shipped
    default) and serve it until Ctrl+C (or SIGTERM), then return. With collect_dir, POST /collect
    saves corrected examples there.

    Raises ModelLoadError (or EnsembleError) for a bad path and ServeError if host:port cannot be
    listened on; the port is claimed first, so a taken port fails before the model loads.
    """
    from digitnet.predict import Predictor
    from digitnet.serve.model_info import describe_model
    from digitnet.serve.server import bind_socket, make_server, url_of

    from digitnet.serve.collect import ExampleStore

    collect = ExampleStore(collect_dir) if collect_dir is not None else None  # ServeError if unusable
    sock = bind_socket(host, port)
    try:
        predictor = Predictor(None if model_path is None else Path(model_path), rule=rule,
                              detector_dir=detector_dir, engine=engine)
        warm_up(predictor)
        app = create_app(predictor, model_info=describe_model(predictor.source, rule),
                         max_body_bytes=max_body_bytes, max_batch=max_batch, collect=collect)
        server = make_server(app)
        # python-multipart logs a warning for every malformed upload; the client's 400 says enough.
        logging.getLogger("python_multipart").setLevel(logging.ERROR)
        log = logging.getLogger("uvicorn.error")
        if getattr(predictor, "detector_problem", None):
            log.warning("serving without a not-a-digit detector: %s", predictor.detector_problem)
        log.info("digitnet serving %s on %s (Ctrl+C to stop)", predictor.source.path, url_of(sock))
        if collect is not None:
            log.info("saving corrected examples in %s", collect.directory)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn has shut down gracefully, then re-raises Ctrl+C
            pass
    finally:
        sock.close()
