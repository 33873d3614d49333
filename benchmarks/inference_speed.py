"""Inference speed of the seed network: batch-1 latency and batch-1024 throughput, per engine.

    python benchmarks/inference_speed.py                 # an untrained seed network (speed only)
    python benchmarks/inference_speed.py runs/seed-0     # a trained run: also checks predictions

The rows that matter are the ones named "predict path": ProbabilityModel and Predictor, which
`digitnet predict` and `digitnet serve` call, on their default engine (LiteRT). The Keras rows
(model.predict, model(x), tf.function) are the baselines the issue quotes. Prints one JSON object;
each latency is the median (and 90th percentile) over many calls after a warm-up.
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


def latency(call, calls: int) -> dict:
    """Milliseconds per call: median and 90th percentile over `calls`, after 20 warm-up calls."""
    for _ in range(20):
        call()
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "p50_ms": round(statistics.median(seconds) * 1e3, 4),
        "p90_ms": round(seconds[int(0.9 * len(seconds))] * 1e3, 4),
        "calls": calls,
    }


def throughput(call, batch: int, calls: int) -> dict:
    timing = latency(call, calls)
    return {**timing, "images_per_second": round(batch / (timing["p50_ms"] / 1e3))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="run directory (default: untrained seed)")
    parser.add_argument("--calls", type=int, default=2000, help="batch-1 calls per row; default 2000")
    args = parser.parse_args()

    import numpy as np

    from digitnet.reading.engine import logits_function
    from digitnet.reading.predict import Predictor, ProbabilityModel, load_model, resolve_model_path
    from digitnet.training.inference import make_logits_fn
    from digitnet.training.networks import build_model
    from digitnet.util.fileio import atomic_save_keras

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(scratch) / "run"
            atomic_save_keras(build_model("seed", seed=0), model_dir / "model.keras")
        model = load_model(model_dir)
        rng = np.random.default_rng(0)
        one = rng.random((1, 28, 28, 1), dtype=np.float32)
        batch = rng.random((1024, 28, 28, 1), dtype=np.float32)
        keras_fn = make_logits_fn(model)
        litert_fn = logits_function(model, resolve_model_path(model_dir), engine="litert")
        fast_model = ProbabilityModel(model_dir)
        predictor = Predictor(model_dir, use_detector=False)
        many = max(50, args.calls // 10)
        batch_1 = {
            "keras_model_predict": latency(lambda: model.predict(one, verbose=0), many),
            "keras_model_call": latency(lambda: model(one, training=False), many),
            "keras_tf_function": latency(lambda: keras_fn(one), args.calls),
            "litert_logits": latency(lambda: litert_fn(one), args.calls),
            "predict_path_probability_model": latency(lambda: fast_model.predict(one), args.calls),
            "predict_path_predictor": latency(lambda: predictor.predict(one), args.calls),
        }
        batch_1024 = {
            "keras_tf_function": throughput(lambda: keras_fn(batch), 1024, 30),
            "litert_logits": throughput(lambda: litert_fn(batch), 1024, 30),
            "predict_path_probability_model": throughput(lambda: fast_model.predict(batch), 1024, 30),
        }
        agreement = {
            "max_abs_logit_difference_litert_vs_keras": float(
                np.max(np.abs(litert_fn(batch) - keras_fn(batch)))
            ),
            "argmax_differing_of_1024": int(np.sum(litert_fn(batch).argmax(1) != keras_fn(batch).argmax(1))),
        }
    print(
        json.dumps(
            {
                "benchmark": "inference_speed",
                "machine": describe_machine(),
                "model": "seed network"
                + (f" from {args.model}" if args.model else " (untrained: speed does not depend on weights)"),
                "predict_path_engine": fast_model.engine,
                "batch_1": batch_1,
                "batch_1024": batch_1024,
                "agreement": agreement,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
