"""What Ray costs on one machine: a seed ensemble trained as local processes (`--jobs`) and as Ray
tasks on a Ray cluster started by the command (`--ray local`), plus a small `digitnet sweep`.

Each case is one `python -m digitnet ...` subprocess on the real MNIST data, timed end to end (so
Ray's start-up is in the Ray figures). Prints one JSON object.

    PYTHONPATH=src python benchmarks/cluster.py --members 4 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"


def timed_digitnet(args: list[str]) -> float:
    """Seconds one `python -m digitnet ARGS` takes; a failure stops the benchmark with its output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "digitnet", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"digitnet {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return round(seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2, help="local members at once, and Ray's CPUs")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per ensemble member")
    parser.add_argument("--sweep-epochs", type=int, default=1)
    parser.add_argument("--search", default="learning_rate=1e-3,3e-3,1e-2,3e-2")
    args = parser.parse_args()
    common = [
        "ensemble",
        "train",
        "--members",
        str(args.members),
        "--recipe",
        "fast",
        "--epochs",
        str(args.epochs),
    ]
    with tempfile.TemporaryDirectory(prefix="digitnet-cluster-bench-") as scratch:
        local = timed_digitnet([*common, "--jobs", str(args.jobs), "--out", f"{scratch}/local"])
        ray = timed_digitnet([*common, "--ray", "local", "--out", f"{scratch}/ray"])
        trials = len(args.search.split("=", 1)[1].split(","))
        sweep = timed_digitnet(
            ["sweep", "--recipe", "fast", "--epochs", str(args.sweep_epochs), "--search", args.search]
            + ["--trials", str(trials), "--out", f"{scratch}/sweep"]
        )
    result = {
        "benchmark": "cluster",
        "machine": describe_machine(),
        "ensemble": f"{args.members} seed members, --recipe fast --epochs {args.epochs}, real MNIST",
        "seconds": {f"local_jobs_{args.jobs}": local, "ray_local": ray},
        "ray_overhead_seconds": round(ray - local, 1),
        "sweep": {"search": args.search, "trials": trials, "epochs": args.sweep_epochs, "seconds": sweep},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
