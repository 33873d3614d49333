"""Listening sockets and uvicorn: the server in the foreground (CLI) or on a thread (tests, benchmarks).

On SIGTERM or Ctrl+C uvicorn stops listening, lets requests in flight finish for up to
GRACEFUL_SHUTDOWN_S, then cancels the rest; AnswerUnfinishedWith503 turns that cancellation into
a clean 503 instead of a 500 and a traceback. The model's thread stops only after that (the
app's lifespan shutdown), so no request in flight loses it.

Uvicorn times only the idle gap between requests (its keep-alive timer, which restarts on every byte
received), so a client that sends half its headers and stops would hold a connection forever. The
protocol here adds a deadline for each request's line and headers; the body is timed by
BodySizeLimit (limits.py) once the app has the request.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager

from digitnet.serve.errors import ServeError, TrackedSend, error_body, send_json_error

HEADER_TIMEOUT_S = 10.0  # from connecting (or the previous answer) to the end of the request's headers
KEEP_ALIVE_S = 5  # an idle connection between requests is closed after this
MAX_CONNECTIONS = 500  # more open connections (or requests in flight) are answered 503 at once
GRACEFUL_SHUTDOWN_S = 5  # on SIGTERM, requests in flight get this long to finish, then a 503


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0 picks a free port); ServeError, one line, if that cannot be."""
    if not 0 <= port <= 65535:  # the OS would silently take it modulo 65536
        raise ServeError(f"port {port} is not a port number; pass 0-65535 (0 picks a free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ServeError(
            f"cannot listen on {host!r}: {error.strerror}; pass an address such as "
            "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # claimed now: connections made while the model loads wait in the backlog
    except OSError as error:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {error.strerror}; another server may hold "
            "the port - choose another with --port"
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _timeout_answer(header_timeout_s: float) -> bytes:
    body = error_body(
        f"the request headers did not arrive within {header_timeout_s:g} s; send the whole request at once"
    )
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )


def header_deadline_protocol(header_timeout_s: float = HEADER_TIMEOUT_S):
    """Uvicorn's h11 protocol, with a deadline for each request's line and headers.

    The deadline starts when the connection opens and again when an answer has been sent; it ends
    when the next request's headers are complete. Past it the connection is closed, with a 408 if
    part of a request had arrived. (The h11 protocol always, so behaviour does not depend on whether
    httptools happens to be installed.)
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._deadline = None
            self._awaiting_after = None  # the cycle (request) that had arrived when the wait began
            self._bytes_since_wait = 0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._await_headers()

        def data_received(self, data: bytes) -> None:
            self._bytes_since_wait += len(data)
            super().data_received(data)

        def handle_events(self) -> None:
            super().handle_events()
            if self._deadline is not None and self.cycle is not self._awaiting_after:
                self._stop_deadline()  # a new request's headers are complete

        def on_response_complete(self) -> None:
            self._await_headers()  # before super(): it may start a pipelined request at once
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            self._stop_deadline()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            self._stop_deadline()
            self._awaiting_after = self.cycle
            self._bytes_since_wait = 0
            self._deadline = self.loop.call_later(header_timeout_s, self._headers_too_late)

        def _stop_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _headers_too_late(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self._bytes_since_wait:  # part of a request came: say why it ends
                self.transport.write(_timeout_answer(header_timeout_s))
            self.transport.close()

    return HeaderDeadlineProtocol


class AnswerUnfinishedWith503:
    """ASGI wrapper: a request still unanswered when uvicorn cancels it at the end of the grace
    period gets a 503 ("retry") rather than a 500 and an "Exception in ASGI application" traceback.

    Uvicorn cancels an application's task only then (a client that goes away is told by an
    http.disconnect message instead), so a cancellation here means the server is stopping.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if tracked.started:  # half an answer is out; only closing the connection is left
                raise
            await send_json_error(
                send,
                503,
                "the server is shutting down and could not finish this request; retry it",
                [(b"connection", b"close"), (b"retry-after", b"1")],
            )


def make_server(
    app,
    log_level: str = "info",
    configure_logging: bool = True,
    *,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
):
    import uvicorn

    config = uvicorn.Config(
        AnswerUnfinishedWith503(app),
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        http=header_deadline_protocol(header_timeout_s),
        ws="none",
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=max_connections,
        **({} if configure_logging else {"log_config": None}),
    )
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(
    app,
    host: str = "127.0.0.1",
    port: int = 0,
    start_timeout: float = 30.0,
    *,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
):
    """Run `app` on a background thread for the duration of the block; yields its base URL."""
    sock = bind_socket(host, port)
    server = make_server(
        app,
        log_level="warning",
        configure_logging=False,
        header_timeout_s=header_timeout_s,
        max_connections=max_connections,
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="digitnet-serve", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServeError("the server thread did not start; see the log above")
            time.sleep(0.01)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
