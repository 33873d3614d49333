"""A cap on request bodies, checked on the declared Content-Length and again while reading.

A client may lie about Content-Length or send none (chunked encoding), so counting the
bytes as they arrive is what really bounds memory; the header check only answers early.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException

from digitnet.serve.errors import send_json_error

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # a 12-megapixel phone JPEG, base64-encoded in JSON


def _too_large_message(max_bytes: int) -> str:
    return (f"request body over the {max_bytes:,}-byte limit; send a smaller image "
            "(the model sees 28x28 pixels) or fewer instances per request")


class BodySizeLimit:
    """ASGI middleware: 413 with a JSON error for any body over `max_bytes`."""

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # Answer without reading the body; the server then closes the connection.
            return await send_json_error(send, 413, _too_large_message(self.max_bytes),
                                         [(b"connection", b"close")])
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app's read of the body; its HTTPException handler answers.
                    raise HTTPException(413, _too_large_message(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)
