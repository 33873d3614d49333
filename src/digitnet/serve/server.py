"""Listening sockets and uvicorn: the server in the foreground (CLI) or on a thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

from digitnet.serve.errors import ServeError


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (0 picks a free port); ServeError, one line, if that cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ServeError(f"cannot listen on {host!r}: {error.strerror}; pass an address such as "
                         "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # claimed now: connections made while the model loads wait in the backlog
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror}; another server may hold "
                         "the port - choose another with --port") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(app, log_level: str = "info", configure_logging: bool = True):
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5,
                            **({} if configure_logging else {"log_config": None}))
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 30.0):
    """Run `app` on a background thread for the duration of the block; yields its base URL."""
    sock = bind_socket(host, port)
    server = make_server(app, log_level="warning", configure_logging=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="digitnet-serve",
                              daemon=True)
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
