"""Cold start of the reader, beside the floor of a bare Python process: prints JSON.

    python benchmarks/startup.py [--runs 5] [--python PATH] [--images 1000]

Each round runs, one after another (side by side, so load on the machine hits all alike):

- floor: `python -c "import numpy, PIL, ai_edge_litert"` (what any LiteRT reader must import);
- predict_one: `python -m digitnet predict one.png` with the shipped model;
- predict_1000: the same over a folder of 1,000 PNGs (MNIST test digits when cached, else drawn);
- serve_ready: `python -m digitnet serve --port P` until GET /v2/health/ready answers 200;
- onnxruntime_one (with --onnx MODEL.onnx, e.g. `digitnet export default --format onnx`): what an
  onnxruntime user's script does for one image: import onnxruntime, numpy and PIL, scale the PNG to
  28x28 and invert it (no centring by mass, no doubt), run the session (--onnx-python: the Python
  that has onnxruntime).

Each figure is the median over `--runs` rounds of a fresh process: wall seconds, and peak RSS
(GNU time's %M of that very process; /usr/bin/time must be installed). Run it with the Python of
the install to measure (--python; default this one): the plain install's is the reader's figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

FLOOR = "import numpy, PIL, ai_edge_litert"
ONNX_READ = (
    "import sys, numpy as np, onnxruntime as ort; from PIL import Image; "
    "x = 1 - np.asarray(Image.open(sys.argv[2]).convert('L').resize((28, 28)), np.float32) / 255; "
    "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); "
    "print(int(s.run(None, {s.get_inputs()[0].name: x.reshape(1, 28, 28, 1)})[0].argmax()))"
)
TIME = "/usr/bin/time"  # GNU time: the peak RSS of exactly the measured process


def run_timed(argv: list[str], until=None, timeout: float = 300) -> dict:
    """Wall seconds and peak RSS (MB) of one process; `until` (polled) ends a server once true.

    Peak RSS comes from GNU time (%M) around the process: a child forked from this benchmark would
    report this process's own memory as its peak (Linux keeps the high-water mark across exec).
    """
    with tempfile.NamedTemporaryFile(prefix="digitnet-rss-", suffix=".txt") as rss_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [TIME, "-f", "%M", "-o", rss_file.name, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        seconds = None
        if until is not None:
            seconds = _wait_until_ready(process, until, started, timeout, argv)
            for child in _children(process.pid):  # the server under time: SIGTERM, as Ctrl+C ends it
                os.kill(child, signal.SIGTERM)
        code = process.wait(timeout=timeout)
        if seconds is None:
            seconds = time.perf_counter() - started
            if code != 0:
                raise RuntimeError(f"{argv} failed: {process.stderr.read().decode()[-500:]}")
        process.stderr.close()
        peak_kib = int(Path(rss_file.name).read_text().split()[-1])
    return {"seconds": seconds, "peak_rss_mb": peak_kib / 1024}


def _wait_until_ready(process, until, started: float, timeout: float, argv) -> float:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{argv} ended early: {process.stderr.read().decode()[-500:]}")
        if until():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            process.kill()
            raise RuntimeError(f"{argv} not ready in {timeout} s")
        time.sleep(0.005)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(word) for word in text.split()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ready(url: str):
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as answer:
                return answer.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    return check


def write_images(folder: Path, count: int) -> str:
    """`count` PNGs, dark ink on white as scans are; MNIST test digits when cached, else drawn strokes."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        from digitnet.data.mnist import load_mnist

        digits, source = load_mnist().test.images[:count, ..., 0], "MNIST test"
    except Exception:  # no data here: strokes stand in (speed does not depend on the digit)
        rng = np.random.default_rng(0)
        digits = np.zeros((count, 28, 28), np.float32)
        for image in digits:
            column = rng.integers(8, 20)
            image[4:24, column : column + 3] = 1.0
        source = "drawn strokes"
    for index, digit in enumerate(digits):
        pixels = np.round(255 - digit * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((112, 112)).save(folder / f"{index:04d}.png")
    return source


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def summary(samples: list[dict]) -> dict:
    return {
        "median_seconds": round(statistics.median(s["seconds"] for s in samples), 3),
        "median_peak_rss_mb": round(statistics.median(s["peak_rss_mb"] for s in samples), 1),
        "seconds": [round(s["seconds"], 3) for s in samples],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--python", default=sys.executable, help="the install to measure")
    parser.add_argument("--onnx", type=Path, help="an exported model: also time onnxruntime reading one")
    parser.add_argument("--onnx-python", default=sys.executable, help="a Python with onnxruntime")
    args = parser.parse_args()

    python = args.python
    with tempfile.TemporaryDirectory(prefix="digitnet-startup-") as scratch:
        folder = Path(scratch) / "images"
        source = write_images(folder, args.images)
        one = folder / "0000.png"
        many = f"predict_{args.images}"
        samples = {name: [] for name in ("floor", "predict_one", many, "serve_ready")}
        if args.onnx:
            samples["onnxruntime_one"] = []
        run_timed([python, "-m", "digitnet", "predict", str(one)])  # page caches warm, not counted
        for _ in range(args.runs):
            samples["floor"].append(run_timed([python, "-c", FLOOR]))
            samples["predict_one"].append(run_timed([python, "-m", "digitnet", "predict", str(one)]))
            samples[f"predict_{args.images}"].append(
                run_timed([python, "-m", "digitnet", "predict", str(folder)])
            )
            port = free_port()
            serve = [python, "-m", "digitnet", "serve", "--port", str(port)]
            samples["serve_ready"].append(
                run_timed(serve, until=ready(f"http://127.0.0.1:{port}/v2/health/ready"))
            )
            if args.onnx:
                onnx = [args.onnx_python, "-c", ONNX_READ, str(args.onnx), str(one)]
                samples["onnxruntime_one"].append(run_timed(onnx))
    results = {name: summary(runs) for name, runs in samples.items()}
    floor = results["floor"]["median_seconds"]
    report = {
        "what": "cold processes, median of each; peak RSS of that process (GNU time %M)",
        "python": python,
        "python_version": subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
        ).stdout.strip(),
        "tensorflow_installed": subprocess.run(
            [python, "-c", "import importlib.util as u; print(u.find_spec('tensorflow') is not None)"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        == "True",
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
        "runs": args.runs,
        "images": {"count": args.images, "source": source, "size": "112x112 PNG, dark ink on white"},
        "results": results,
        "predict_one_over_floor": round(results["predict_one"]["median_seconds"] / floor, 2),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
