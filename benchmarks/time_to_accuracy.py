"""Time to 99.2%: the fast recipe over several seeds, with start-up and data loading timed apart.

    python benchmarks/time_to_accuracy.py                  # recipe fast, seeds 0-4
    python benchmarks/time_to_accuracy.py --recipe fast --seeds 0 1 2

Training time is what `digitnet train` reports: the training steps plus the per-epoch validation
(the recipe's fixed epochs; nothing looks at the test set until the end). Start-up is measured
in fresh processes: `digitnet --help` (no TensorFlow), importing TensorFlow and Keras, and loading
MNIST from the cache. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

TARGET = 0.992


def seconds_in_fresh_process(code: str, repeats: int = 3) -> float:
    """Median wall seconds of `python -c code`, process start included."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 2)


def start_up() -> dict:
    return {
        "digitnet_help_seconds": seconds_in_fresh_process(
            "import sys; sys.argv = ['digitnet', '--help']\n"
            "from digitnet.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
        ),
        "import_tensorflow_and_keras_seconds": seconds_in_fresh_process("import tensorflow, keras"),
        "load_mnist_from_cache_seconds": seconds_in_fresh_process(
            "import time; from digitnet.data.mnist import load_mnist; t = time.perf_counter(); "
            "load_mnist(); print(time.perf_counter() - t)"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast", help="a recipe of digitnet.training.config; default fast")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.training.config import recipe_config
    from digitnet.training.loop import train

    data = load_mnist()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            config = recipe_config(args.recipe, seed=seed)
            started = time.perf_counter()
            result = train(config, Path(scratch) / f"seed{seed}", data)
            runs.append(
                {
                    "seed": seed,
                    "test_accuracy": result.test_accuracy,
                    "validation_accuracy": result.validation_accuracy,
                    "epochs": result.epochs,
                    "train_seconds": round(result.train_seconds, 2),
                    "wall_seconds_with_final_scoring": round(time.perf_counter() - started, 2),
                }
            )
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    accuracies = [run["test_accuracy"] for run in runs]
    print(
        json.dumps(
            {
                "benchmark": "time_to_accuracy",
                "machine": describe_machine(),
                "recipe": args.recipe,
                "config": recipe_config(args.recipe).to_dict(),
                "target": TARGET,
                "median_test_accuracy": statistics.median(accuracies),
                "reaches_target": statistics.median(accuracies) >= TARGET,
                "median_train_seconds": statistics.median(run["train_seconds"] for run in runs),
                "start_up": start_up(),
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
