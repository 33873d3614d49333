"""What a not-a-digit detector's LiteRT file costs to load and to run, beside another's: JSON.

    python benchmarks/detector_speed.py [--other PATH] [--rounds 40] [--calls 50] [--out JSON]

The shipped detector (src/digitnet/default_model/detector/detector.tflite) and, with --other,
another detector's LiteRT file (e.g. the one shipped before, from git:
`git show REV:src/digitnet/default_model/detector/detector.tflite > old.tflite`), measured side by
side in one process, alternating, so that a busy machine slows both alike: each round builds the
interpreter from the file's bytes and reads one image (what a cold `predict` pays once), then
reads one image `--calls` times (what each further image costs). Medians over the rounds. Runs on
the reading side only (numpy and ai-edge-litert: the reader venv is enough).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402
from report import emit_json  # noqa: E402


def shipped_detector_file() -> Path:
    from digitnet.reading.model_source import default_model_dir

    return default_model_dir() / "detector" / "detector.tflite"


def measure(files: dict[str, Path], rounds: int, calls: int) -> dict:
    from digitnet.reading.engine import LiteRTLogits

    flatbuffers = {name: path.read_bytes() for name, path in files.items()}
    image = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    loads = {name: [] for name in files}
    per_call = {name: [] for name in files}
    for _ in range(rounds):
        for name, flatbuffer in flatbuffers.items():
            started = time.perf_counter()
            logits = LiteRTLogits(flatbuffer)
            logits(image)
            loads[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(calls):
                logits(image)
            per_call[name].append((time.perf_counter() - started) / calls)
    return {
        name: {
            "file": str(files[name]),
            "bytes": len(flatbuffers[name]),
            "load_and_first_call_ms": round(1e3 * statistics.median(loads[name]), 3),
            "call_ms": round(1e3 * statistics.median(per_call[name]), 4),
        }
        for name in files
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, help="another detector's LiteRT file, measured beside it")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=50, help="one-image calls timed each round")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    files = {"shipped": shipped_detector_file()}
    if args.other:
        files["other"] = args.other
    payload = {
        "benchmark": "detector_speed",
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "rounds": args.rounds,
        "calls": args.calls,
        "detectors": measure(files, args.rounds, args.calls),
    }
    emit_json(payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
