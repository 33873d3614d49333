"""Test accuracy of each network trained with its recipe, mean ± sd over seeds, with training time.

    python benchmarks/accuracy.py                          # seed x3 seeds, expert x1 seed
    python benchmarks/accuracy.py --arch seed --seeds 0 1 2

Prints one JSON object. Model selection never looks at the test set: each run's final
model (the tutorial's recipe: fixed epochs, no early stopping) is what is scored.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

DEFAULT_PLAN = [("seed", [0, 1, 2]), ("expert", [0])]


def run_one(arch: str, seed: int, data, out_root: Path) -> dict:
    from digitnet.config import TrainConfig
    from digitnet.train import train

    started = time.perf_counter()
    result = train(TrainConfig(arch=arch, seed=seed), out_root / f"{arch}-seed{seed}", data)
    return {"arch": arch, "seed": seed, "test_accuracy": result.test_accuracy,
            "validation_accuracy": result.validation_accuracy,
            "train_accuracy": result.train_accuracy, "iterations": result.iterations,
            "train_seconds": round(result.train_seconds, 1),
            "wall_seconds": round(time.perf_counter() - started, 1)}


def summarize(arch: str, rows: list[dict]) -> dict:
    accuracies = [row["test_accuracy"] for row in rows]
    return {"arch": arch, "seeds": [row["seed"] for row in rows],
            "test_accuracy_mean": statistics.mean(accuracies),
            "test_accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
            "train_seconds_median": statistics.median(row["train_seconds"] for row in rows),
            "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", action="append", help="network (repeatable); default seed and expert")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds for every --arch")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temp folder)")
    args = parser.parse_args()
    plan = DEFAULT_PLAN if not args.arch else [(a, args.seeds or [0, 1, 2]) for a in args.arch]
    if args.arch is None and args.seeds:
        plan = [(arch, args.seeds) for arch, _ in DEFAULT_PLAN]

    from digitnet.data import load_mnist

    data = load_mnist()
    with tempfile.TemporaryDirectory() as scratch:
        out_root = args.out or Path(scratch)
        results = []
        for arch, seeds in plan:
            rows = []
            for seed in seeds:
                rows.append(run_one(arch, seed, data, out_root))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            results.append(summarize(arch, rows))
    print(json.dumps({"benchmark": "accuracy", "machine": describe_machine(),
                      "recipe": "each arch's default: batch 50, Adam 1e-4, 18 epochs x 1,100 iterations",
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
