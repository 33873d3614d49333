"""The HTTP service: a drawing page, TensorFlow Serving and Open Inference Protocol endpoints.

`create_app` wires a loaded Predictor into FastAPI, one router per protocol (routes.py);
`run_server` loads a model and serves it.
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

import logging
import os
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import anyio
import numpy as np
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from digitnet.serve.batching import DEFAULT_MAX_IMAGES, BatchingPredictor
from digitnet.serve.errors import InternalErrors, RequestError
from digitnet.serve.images import DEFAULT_MAX_REQUEST_PIXELS
from digitnet.serve.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from digitnet.serve.routes import Serving, open_inference_router, page_router, tf_serving_router
from digitnet.shapes import INPUT_SHAPE
from digitnet.util.version import package_version

DEFAULT_MAX_BATCH = 128  # images in one request (instances, or N of a v2 input)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # what this process may use, not what the machine has
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def create_app(
    predictor,
    *,
    model_info: dict,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_image_pixels: int | None = None,
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS,
    collect=None,
) -> FastAPI:
    """predictor: a digitnet.reading.predict.Predictor (anything with its `predict`); model_info: for status.

    max_body_bytes: larger request bodies get 413; max_batch: images per request;
    max_image_pixels: larger image files are refused before decoding (preprocess's limit by default);
    max_request_pixels: a request whose image files decode to more, all together, gets 413;
    collect: a serve.collect.ExampleStore to save corrected examples in, or None (collection off).
    """
    from digitnet.data.preprocess import MAX_PIXELS

    serving = Serving(
        batcher=BatchingPredictor(predictor, max_images=max(max_batch, DEFAULT_MAX_IMAGES)),
        model_info=model_info,
        version=package_version(),
        page=(resources.files("digitnet.serve") / "static" / "index.html").read_text(encoding="utf-8"),
        max_batch=max_batch,
        pixel_limit=MAX_PIXELS if max_image_pixels is None else max_image_pixels,
        max_request_pixels=max_request_pixels,
        # Parsing and decoding are CPU-bound and a 40-megapixel image briefly takes ~700 MB, so at
        # most one request a core decodes at a time; the rest wait their turn instead of exhausting memory.
        decode_slots=anyio.CapacityLimiter(_usable_cores()),
        collect=collect,
    )

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await run_in_threadpool(serving.batcher.close)

    app = FastAPI(
        title="digitnet",
        version=serving.version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    _add_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(InternalErrors)  # added last, so outermost: it sees every other failure
    for router in (page_router(serving), tf_serving_router(serving), open_inference_router(serving)):
        app.include_router(router)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(_request, error: RequestError):
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        message = str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            message = (
                f"no endpoint at {request.url.path[:100]}; try GET /, POST /predict, "
                "POST /v1/models/digitnet:predict or POST /v2/models/digitnet/infer"
            )
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


def run_server(
    model_path: Path | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    rule: str = "mean",
    detector_dir: Path | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    engine: str = "auto",
    collect_dir: Path | None = None,
) -> None:
    """Load the model at `model_path` (run directory, .keras file or ensemble; None: the shipped
    default) and serve it until Ctrl+C (or SIGTERM), then return. With collect_dir, POST /collect
    saves corrected examples there.

    Raises ModelLoadError (or EnsembleError) for a bad path and ServeError if host:port cannot be
    listened on; the port is claimed first, so a taken port fails before the model loads.
    """
    from digitnet.reading.predict import Predictor
    from digitnet.serve.collect import ExampleStore
    from digitnet.serve.model_info import describe_model
    from digitnet.serve.server import bind_socket, make_server, url_of
    from digitnet.util.shutdown import sigterm_as_keyboard_interrupt

    # ServeError if unusable; the page may post to it when reached by the name it is served on
    collect = ExampleStore(collect_dir, hosts=(host,)) if collect_dir is not None else None
    sock = bind_socket(host, port)
    try:
        predictor = Predictor(
            None if model_path is None else Path(model_path),
            rule=rule,
            detector_dir=detector_dir,
            engine=engine,
        )
        warm_up(predictor)
        app = create_app(
            predictor,
            model_info=describe_model(predictor.source, rule),
            max_body_bytes=max_body_bytes,
            max_batch=max_batch,
            collect=collect,
        )
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
            # uvicorn re-raises the signal it stopped for; SIGTERM must end here as Ctrl+C does, not kill us
            with sigterm_as_keyboard_interrupt():
                server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn has shut down gracefully, then re-raises Ctrl+C
            pass
    finally:
        sock.close()
