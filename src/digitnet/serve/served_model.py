"""The one model this service serves, as both protocols' paths name it, and the check of those paths."""

from __future__ import annotations

from digitnet.serve.errors import RequestError

MODEL_NAME = "digitnet"
MODEL_VERSION = "1"  # one model is served; TF Serving versions are int64, written as strings in JSON


def check_model(name: str, version: str | None, unknown: str) -> None:
    """404 unless the path names the served model (and, if given, its version); `unknown` starts
    the message in the protocol's own words."""
    if name != MODEL_NAME or (version is not None and version != MODEL_VERSION):
        wanted = f"{name[:60]!r}" + (f" version {version[:20]!r}" if version is not None else "")
        raise RequestError(
            f'{unknown} {wanted}; this server serves "{MODEL_NAME}" version {MODEL_VERSION}', status=404
        )
