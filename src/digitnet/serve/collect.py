"""Digits people correct on the drawing page ("wrong? it was 3"), kept as examples to fine-tune on.

Each is the 28x28 image the model saw, saved as DIR/<UTC time>-<random id>_<label>.png: the name
`digitnet finetune DIR` reads the label from. Files are written whole or not at all (temp + rename);
a lock makes counting and writing one step, so concurrent requests cannot pass the cap together.

Only the drawing page itself may post: a request must be application/json (which a cross-site form
or a page's plain fetch cannot send without the browser asking first, and nothing here says yes),
and a browser's request (it carries an Origin) must come from this server, reached by an address
or a name it trusts (so a site whose name was re-pointed at 127.0.0.1 cannot post either).
"""

from __future__ import annotations

import errno
import io
import ipaddress
import secrets
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from digitnet.serve.errors import RequestError, ServeError
from digitnet.serve.tensors import PIXELS, SIDE, describe, nested_numbers, parse_json, pixels
from digitnet.util.fileio import atomic_write_bytes

MAX_EXAMPLES = 10_000  # files kept in the folder: far more than one writer's fine-tuning needs
MAX_BYTES = 50 * 2**20  # and bytes (a 28x28 PNG is ~300 bytes, so the count binds first)
MAX_BODY_BYTES = 64 * 1024  # one example as JSON: 784 numbers of up to ~20 characters is ~16 kB
IMAGE_SHAPES = ((SIDE, SIDE), (PIXELS,), (SIDE, SIDE, 1))
FULL = 507  # Insufficient Storage: the client did nothing wrong, the folder is full
GONE = 503  # the --collect folder was removed while serving: the server's to fix, not the client's
JSON_TYPE = "application/json"
TRUSTED_NAMES = ("localhost",)  # with IP addresses, the --host given, and this machine's name


def check_content_type(content_type: str | None) -> None:
    """RequestError 415 unless the body is declared application/json (the page sends nothing else)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != JSON_TYPE:
        raise RequestError(
            f'send the example as {JSON_TYPE} {{"image": 28x28 pixels in [0, 1], "label": 0-9}}, '
            f"not {media or 'a body without a content type'}",
            status=415,
        )


def check_same_origin(origin: str | None, host: str | None, trusted: tuple[str, ...] = ()) -> None:
    """RequestError 403 for a browser's request from another site: an Origin that is not this
    server (scheme aside, its host:port must be the Host asked for), or a Host name not trusted."""
    if origin is None:
        return  # not sent by a browser page (curl, scripts): nothing cross-site to guard against
    origin_host = urlsplit(origin).netloc.lower() if origin != "null" else ""
    asked = (host or "").lower()
    if not origin_host or origin_host != asked or not is_trusted_host(asked, trusted):
        raise RequestError(
            f"POST /collect is only for the drawing page this server shows; a page at {origin[:100]} "
            f"(asking for {asked[:100] or 'no host'}) may not save examples",
            status=403,
        )


def is_trusted_host(host_and_port: str, trusted: tuple[str, ...] = ()) -> bool:
    """An IP address, localhost, a name in `trusted`, or this machine's name (any port)."""
    name = urlsplit(f"//{host_and_port}").hostname or ""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    names = {*TRUSTED_NAMES, *(t.lower() for t in trusted), socket.gethostname().lower()}
    return name in names


def parse_body(body: bytes) -> tuple[np.ndarray, int]:
    """A POST /collect body (JSON bytes) as (image, label); CPU-bound, so run off the event loop."""
    return parse_example(parse_json(body))


def parse_example(body: Any) -> tuple[np.ndarray, int]:
    """{"image": 28x28 (or 784) pixels in [0, 1], "label": 0-9} -> (float32 (28, 28), label)."""
    if not isinstance(body, dict):
        raise RequestError(
            f'send a JSON object {{"image": [[...28x28 pixels...]], "label": 0-9}}, got {describe(body)}'
        )
    if "image" not in body or "label" not in body:
        missing = " and ".join(f'"{key}"' for key in ("image", "label") if key not in body)
        raise RequestError(f'{missing} missing; send {{"image": 28x28 pixels in [0, 1], "label": 0-9}}')
    label = body["label"]
    if type(label) is not int or not 0 <= label <= 9:  # type(), so true/false are refused
        raise RequestError(f'"label" must be a whole number 0-9, got {describe(label)} {str(label)[:20]}')
    numbers, shape = nested_numbers(body["image"], '"image"')
    if shape not in IMAGE_SHAPES:
        raise RequestError(
            f'"image" has shape {list(shape)}; send 28x28 rows (or 784 numbers), '
            "the model input the page shows"
        )
    image = pixels(numbers, '"image"').reshape(SIDE, SIDE)
    if not np.any(image > 0):
        raise RequestError('"image" is blank; draw a digit before saying what it was')
    return image, label


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def example_name(label: int, now: datetime | None = None) -> str:
    """<UTC time>-<8 hex>_<label>.png: sorts by time, never collides, ends in finetune's label."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}_{label}.png"


class ExampleStore:
    """The --collect folder: saves labelled examples up to a cap on files and bytes."""

    def __init__(
        self,
        directory: Path,
        *,
        max_examples: int = MAX_EXAMPLES,
        max_bytes: int = MAX_BYTES,
        hosts: tuple[str, ...] = (),
    ):
        """hosts: names besides IP addresses, localhost and this machine's that the page may be
        reached by (the --host served on)."""
        self.directory = Path(directory)
        self.max_examples = max_examples
        self.max_bytes = max_bytes
        self.hosts = tuple(hosts)
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServeError(
                f"cannot use {self.directory} for --collect ({error.strerror or error}); "
                "pass a folder this user can write"
            ) from None
        if not self.directory.is_dir():
            raise ServeError(f"{self.directory} is not a folder; pass a folder for --collect")

    def usage(self) -> tuple[int, int]:
        """(examples, bytes) in the folder now; counted afresh, so files moved away free room."""
        count = size = 0
        for entry in self.directory.iterdir():
            if entry.suffix == ".png" and not entry.name.startswith(".") and entry.is_file():
                count += 1
                size += entry.stat().st_size
        return count, size

    def save(self, image: np.ndarray, label: int) -> tuple[str, int]:
        """Write one example; (its file name, examples now in the folder). RequestError 507 when full."""
        data = png_bytes(image)
        name = example_name(label)
        with self._lock:
            try:
                count, size = self.usage()
            except (FileNotFoundError, NotADirectoryError):
                raise self._gone() from None
            if count >= self.max_examples or size + len(data) > self.max_bytes:
                raise RequestError(
                    f"the collection is full ({count:,} examples, {size / 2**20:.1f} MB; the most kept is "
                    f"{self.max_examples:,} or {self.max_bytes / 2**20:.0f} MB); fine-tune on them and "
                    "move them out of the --collect folder to collect more",
                    status=FULL,
                )
            try:
                atomic_write_bytes(self.directory / name, data)
            except OSError as error:
                code = getattr(error.__cause__, "errno", None) or error.errno  # fileio's WriteError wraps it
                if code in (errno.ENOENT, errno.ENOTDIR):
                    raise self._gone() from None
                if code not in (errno.ENOSPC, errno.EDQUOT):
                    raise  # a server fault: logged, answered 500
                raise RequestError(
                    "the server's disk is full; the example was not saved", status=FULL
                ) from None
            return name, count + 1

    def _gone(self) -> RequestError:
        return RequestError(
            f"the server's --collect folder {self.directory} is gone (removed while serving); "
            "the example was not saved: the server's operator must recreate the folder",
            status=GONE,
        )
