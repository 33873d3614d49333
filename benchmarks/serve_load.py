"""Load on the HTTP service: concurrent clients, a fifth of the requests malformed, every answer checked.

Starts `python -m digitnet.serve MODEL` on 127.0.0.1 (or drives --url), then --clients threads
send requests back to back for --seconds. Valid requests are single-image
POST /v1/models/digitnet:predict calls - half as 28x28 pixel arrays (MNIST test images), half
as {"b64": PNG} of the same digit drawn dark on white and enlarged, so preprocessing runs too.
Each answer is compared with the same Predictor called directly in this process. Malformed
requests rotate through the kinds of bad input the service must refuse with a 4xx.

Passes when there is no 5xx, no dropped connection, no wrong answer, no unexpected status, and
the server it started exits cleanly on Ctrl+C. Prints JSON (throughput, latency percentiles,
counts); exits 1 on failure.

    python benchmarks/serve_load.py runs/seed-... --seconds 60
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from machine import describe_machine  # noqa: E402

PREDICT = "/v1/models/digitnet:predict"
PROBABILITY_TOLERANCE = 1e-4  # batched and single-image runs of the model differ in rounding only
VALID_INPUTS = 200


@dataclass
class Valid:
    body: bytes
    digit: int
    probabilities: np.ndarray
    uncertain: bool


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, every request
    valid_latencies: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # the first few, for the report

    def count(self, name: str, kind: str | None = None) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        if kind is not None:
            per_kind = self.by_kind.setdefault(kind, {})
            per_kind[name] = per_kind.get(name, 0) + 1

    def fail(self, name: str, kind: str, detail: str) -> None:
        self.count(name, kind)
        if len(self.failures) < 10:
            self.failures.append(f"{kind}: {name}: {detail[:200]}")


# ---------------------------------------------------------------- requests


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def paper_png(image: np.ndarray, scale: int = 4) -> bytes:
    """An MNIST image as a user would send it: dark ink on white paper, enlarged."""
    paper = 255 - np.round(image * 255)
    return png_bytes(np.kron(paper, np.ones((scale, scale))))


def valid_requests(model: Path, count: int, seed: int) -> list[Valid]:
    """Single-image :predict bodies and the answers the Predictor gives for them directly."""
    from digitnet.data.mnist import load_mnist
    from digitnet.data.preprocess import image_to_mnist
    from digitnet.reading.predict import Predictor

    test = load_mnist().test
    picks = np.random.default_rng(seed).choice(len(test), size=count, replace=False)
    bodies, seen = [], []
    for index, pick in enumerate(picks):
        image = test.images[pick, :, :, 0]
        if index % 2 == 0:
            bodies.append(json.dumps({"instances": [image.tolist()]}).encode())
            seen.append(image)
        else:
            data = paper_png(image)
            bodies.append(json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode())
            seen.append(image_to_mnist(data))
    predictions = Predictor(model).predict(np.stack(seen))
    return [
        Valid(body, p.digit, np.array(p.probabilities), p.uncertain) for body, p in zip(bodies, predictions)
    ]


def _png_header_only(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def malformed_requests(max_body_bytes: int, max_batch: int) -> dict[str, tuple[object, int]]:
    """kind -> (body, or a callable making a chunked body; the status the service must answer)."""
    blank = np.zeros((28, 28)).tolist()

    def b64(data: bytes) -> bytes:
        return json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode()

    def chunked_oversize():  # no Content-Length: only counting the bytes can stop it
        for _ in range(max_body_bytes // 65536 + 2):
            yield b" " * 65536

    return {
        "not json": (b"instances: [1, 2, 3]", 400),
        "empty body": (b"", 400),
        "nan": (b'{"instances": [[' + b"0, " * 783 + b"NaN]]}", 400),
        "out of range": (json.dumps({"instances": [[[2.0] * 28] * 28]}).encode(), 400),
        "wrong shape": (json.dumps({"instances": [[[0.5] * 27] * 28]}).encode(), 400),
        "strings": (json.dumps({"instances": [["0"] * 784]}).encode(), 400),
        "too many instances": (json.dumps({"instances": [blank] * (max_batch + 1)}).encode(), 400),
        "not an image": (b64(b"GIF89a but not really"), 400),
        "decompression bomb": (b64(_png_header_only(60_000, 60_000)), 400),
        "oversize body": (b" " * (max_body_bytes + 1), 413),
        "oversize chunked body": (chunked_oversize, 413),
    }


# ---------------------------------------------------------------- clients


def client_loop(
    url: str,
    deadline: float,
    valid: list[Valid],
    malformed: dict,
    bad_fraction: float,
    seed: int,
    tally: Tally,
    lock: threading.Lock,
) -> None:
    import httpx

    rng = random.Random(seed)
    kinds = sorted(malformed)
    http = httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"})
    try:
        while time.monotonic() < deadline:
            bad = rng.random() < bad_fraction
            kind = rng.choice(kinds) if bad else "valid"
            body, expected_status = malformed[kind] if bad else (None, 200)
            request = None if bad else rng.choice(valid)
            content = body() if callable(body) else body if bad else request.body
            started = time.perf_counter()
            try:
                response = http.post(PREDICT, content=content)
            except httpx.TransportError as error:  # reset, closed, timed out: a dropped connection
                with lock:
                    tally.fail("dropped", kind, f"{type(error).__name__}: {error}")
                http.close()
                http = httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"})
                continue
            elapsed = time.perf_counter() - started
            with lock:
                tally.latencies.append(elapsed)
                if not bad:
                    tally.valid_latencies.append(elapsed)
                check(response, kind, expected_status, request, tally)
    finally:
        http.close()


def check(response, kind: str, expected_status: int, request: Valid | None, tally: Tally) -> None:
    if response.status_code >= 500:
        return tally.fail("5xx", kind, f"{response.status_code} {response.text}")
    if response.status_code != expected_status:
        return tally.fail("unexpected status", kind, f"{response.status_code} {response.text}")
    try:
        body = response.json()
    except ValueError:
        return tally.fail("not json", kind, response.text)
    if request is None:
        if not isinstance(body.get("error"), str):
            return tally.fail("error without message", kind, response.text)
        return tally.count("rejected as expected", kind)
    [answer] = body["predictions"]
    difference = float(np.max(np.abs(np.array(answer["probabilities"]) - request.probabilities)))
    if (
        answer["digit"] != request.digit
        or answer["uncertain"] != request.uncertain
        or difference > PROBABILITY_TOLERANCE
    ):
        return tally.fail(
            "wrong answer",
            kind,
            f"got {answer['digit']} (max difference {difference:.2g}), expected {request.digit}",
        )
    tally.count("answered correctly", kind)


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, max_body_bytes: int, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digitnet.serve",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max-body-bytes",
            str(max_body_bytes),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(url: str, process: subprocess.Popen | None, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
        try:
            if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} was not ready after {timeout:.0f} s")


def percentile_ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 2) if values else None


def main() -> int:
    from digitnet.serve.app import DEFAULT_MAX_BATCH

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="run directory (or model.keras / ensemble) to serve")
    parser.add_argument("--url", help="drive this running server (serving MODEL) instead of starting one")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--bad-fraction", type=float, default=0.2)
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=1024 * 1024,
        help="the server's body limit (given to the server this starts)",
    )
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="the server's image limit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    valid = valid_requests(args.model, VALID_INPUTS, args.seed)
    malformed = malformed_requests(args.max_body_bytes, args.max_batch)
    log = tempfile.TemporaryFile()
    if args.url:
        process, url = None, args.url.rstrip("/")
    else:
        process, url = start_server(args.model, args.max_body_bytes, log)
    tally, lock = Tally(), threading.Lock()
    try:
        wait_ready(url, process)
        deadline = time.monotonic() + args.seconds
        started = time.perf_counter()
        threads = [
            threading.Thread(
                target=client_loop,
                args=(
                    url,
                    deadline,
                    valid,
                    malformed,
                    args.bad_fraction,
                    args.seed * 1000 + index,
                    tally,
                    lock,
                ),
            )
            for index in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        server_exit = stop_server(process)
    failing = ("5xx", "dropped", "wrong answer", "unexpected status", "not json", "error without message")
    failures = sum(tally.counts.get(name, 0) for name in failing)
    passed = failures == 0 and server_exit in (0, None)  # None: --url, someone else's server
    requests = len(tally.latencies) + tally.counts.get("dropped", 0)
    report = {
        "benchmark": "serve_load",
        "url": url,
        "server_started_here": process is not None,
        "server_exit_status": server_exit,
        "seconds": round(wall, 2),
        "clients": args.clients,
        "bad_fraction": args.bad_fraction,
        "requests": requests,
        "requests_per_second": round(requests / wall, 1),
        "latency_ms": {"p50": percentile_ms(tally.latencies, 50), "p99": percentile_ms(tally.latencies, 99)},
        "valid_latency_ms": {
            "p50": percentile_ms(tally.valid_latencies, 50),
            "p99": percentile_ms(tally.valid_latencies, 99),
        },
        "counts": dict(sorted(tally.counts.items())),
        "by_kind": dict(sorted(tally.by_kind.items())),
        "failures": tally.failures,
        "passed": passed,
        "machine": describe_machine(),
    }
    if process is not None and not passed:
        log.seek(0)
        report["server_log_tail"] = log.read().decode(errors="replace").splitlines()[-20:]
    print(json.dumps(report, indent=2))
    return 0 if passed else 1


def stop_server(process: subprocess.Popen | None) -> int | None:
    if process is None:
        return None
    import signal

    process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on Ctrl+C
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


if __name__ == "__main__":
    sys.exit(main())
