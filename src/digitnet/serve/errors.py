"""What the service answers when something goes wrong: always JSON `{"error": "..."}`.

Bad input is the client's to fix and gets a 4xx with a one-line reason. Only a bug in
the service itself reaches `InternalErrors`, which logs the traceback and answers 500,
so a client never sees a dropped connection or an HTML error page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from digitnet.errors import DigitnetError

logger = logging.getLogger("digitnet.serve")

ECHO_CHARS = 200  # the most of a client's own input an error message repeats back
MAX_MESSAGE_CHARS = 1000  # no error message is longer, whatever it echoes


def shorten(text: str, limit: int = ECHO_CHARS) -> str:
    """`text`, or its first `limit` characters with "..." and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """A client's value as an error message may repeat it (like repr): lists item by item, objects
    by their keys, the whole about `limit` characters at most, so a huge input never makes a huge answer."""
    if isinstance(value, (list, tuple)):
        return f"[{echo_items(value, limit)}]"
    if isinstance(value, dict):
        return f"{{{echo_items(list(value), limit)}: ...}}"
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit conversion limit
        text = f"a {type(value).__name__} too large to show"
    return shorten(text, limit)


def echo_items(items: Iterable, limit: int = ECHO_CHARS) -> str:
    """Items as echo() shows each, joined by ", " up to about `limit` characters, then "... (N in all)"."""
    items = items if isinstance(items, (list, tuple)) else list(items)
    shown, used = [], 0
    for item in items:
        text = echo(item, limit)
        if shown and used + len(text) > limit:
            return f"{', '.join(shown)}, ... ({len(items):,} in all)"
        shown.append(text)
        used += len(text) + 2
    return ", ".join(shown)


class RequestError(Exception):
    """A request the service will not answer; `status` is the HTTP 4xx to send."""

    def __init__(self, message: str, status: int = 400):
        message = shorten(message, MAX_MESSAGE_CHARS)  # the last guard; echo() keeps most far shorter
        super().__init__(message)
        self.message = message
        self.status = status


class ServeError(DigitnetError):
    """The server cannot start as asked (for example, the port is taken); one line for the user."""


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


async def send_json_error(send, status: int, message: str, headers: list | None = None) -> None:
    """Answer a whole request from ASGI middleware, before or instead of the app."""
    body = error_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TrackedSend:
    """An ASGI `send` that remembers whether the response has begun: an error answer is possible
    only before that (after it, closing the connection is all that is left)."""

    def __init__(self, send):
        self.send = send
        self.started = False

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class InternalErrors:
    """ASGI middleware: an exception nothing else handled is logged and answered with a JSON 500.

    Starlette's own last-resort handler re-raises after answering, which makes the server
    log every bug twice and tests raise; this one stops the exception here.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception:
            logger.exception("internal error answering %s %s", scope.get("method"), scope.get("path"))
            if tracked.started:  # too late for a clean answer; the server closes the connection
                raise
            await send_json_error(send, 500, "internal server error; the server log has the details")
