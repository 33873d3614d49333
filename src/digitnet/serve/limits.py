"""Caps on request bodies: their size, and how long they may take to arrive.

Size is checked on the declared Content-Length and again while reading: a client may lie about
Content-Length or send none (chunked encoding), so counting the bytes as they arrive is what
really bounds memory; the header check only answers early.

Time: a client that sends part of a body and stops would otherwise hold its connection, and the
request's task, forever. Reading the body is given a deadline, and a pause longer than
`idle_s` between parts also ends it: 408 with a JSON error, and the connection is closed.
(Request headers are timed by the server's protocol, see server.py: the app only sees a request
once its headers are complete.)
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException

from digitnet.serve.errors import send_json_error

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # a 12-megapixel phone JPEG, base64-encoded in JSON
DEFAULT_BODY_IDLE_S = 10.0  # longest pause between two parts of a body
DEFAULT_BODY_TOTAL_S = 60.0  # the whole body: 16 MB at 2.2 Mbit/s
_CLOSE = [(b"connection", b"close")]


def _too_large_message(max_bytes: int) -> str:
    return (
        f"request body over the {max_bytes:,}-byte limit; send a smaller image "
        "(the model sees 28x28 pixels) or fewer instances per request"
    )


class _BodyTimedOut(Exception):
    """Raised inside the app's read of the body; BodySizeLimit answers it (the app never handles it)."""


class BodySizeLimit:
    """ASGI middleware: 413 with a JSON error for any body over `max_bytes`, 408 for one too slow."""

    def __init__(
        self,
        app,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        *,
        idle_s: float = DEFAULT_BODY_IDLE_S,
        total_s: float = DEFAULT_BODY_TOTAL_S,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.idle_s = idle_s
        self.total_s = total_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # Answer without reading the body; the server then closes the connection.
            return await send_json_error(send, 413, _too_large_message(self.max_bytes), _CLOSE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_s
        received, body_done, answering = 0, False, False

        async def guarded_receive():
            nonlocal received, body_done
            if body_done:  # later calls only wait for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout(min(self.idle_s, max(0.0, deadline - loop.time()))):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimedOut from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app's read of the body; its HTTPException handler answers.
                    raise HTTPException(413, _too_large_message(self.max_bytes))
            return message

        async def tracking_send(message):
            nonlocal answering
            answering = answering or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _BodyTimedOut:
            if not answering:
                await send_json_error(
                    send,
                    408,
                    f"the request body did not arrive in time (a pause over "
                    f"{self.idle_s:g} s, or over {self.total_s:g} s in all); "
                    "send the whole body at once",
                    _CLOSE,
                )
