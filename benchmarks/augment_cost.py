"""What augmentation costs: `augment_batch` alone, each style change alone, and a `lean` training step.

Batch 128 of 28x28 (the strong recipe's batch), everything under tf.function after a warm-up call.
Each figure is the median over --repeats timed calls of --steps batches, contenders interleaved so
a busy machine slows them alike. Prints JSON: milliseconds per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

BATCH = 128
# Every style change on, at amounts that keep a digit readable (see `digitnet augment-preview`).
ALL_STYLE = dict(
    elastic_alpha=1.5,
    elastic_sigma=4.0,
    stroke_pixels=1.0,
    blur_sigma=1.0,
    low_res_probability=0.3,
    ink_fraction=0.3,
    occlusion_fraction=0.4,
)


def augment_contenders(images):
    """name -> a callable that augments `steps` batches in one compiled call, returning a checksum."""
    import tensorflow as tf

    from digitnet.training.augment import AffineRanges, StyleRanges, augment_batch

    settings = {
        "affine_only": (AffineRanges(), StyleRanges()),
        "all_style_no_affine": (AffineRanges(0.0, 0.0, 0.0, 0.0), StyleRanges(**ALL_STYLE)),
        "affine_and_all_style": (AffineRanges(), StyleRanges(**ALL_STYLE)),
    }
    for field, value in ALL_STYLE.items():
        if field != "elastic_sigma":
            settings[f"only_{field}"] = (AffineRanges(0.0, 0.0, 0.0, 0.0), StyleRanges(**{field: value}))
    batch = tf.constant(images)
    contenders = {}
    for name, (affine, style) in settings.items():

        def run(steps, affine=affine, style=style):
            total = tf.constant(0.0)
            for step in tf.range(steps):
                seed = tf.stack([tf.constant(0, tf.int64), tf.cast(step, tf.int64)])
                total += tf.reduce_sum(augment_batch(batch, seed, affine, style))
            return total

        compiled = tf.function(run)
        contenders[name] = lambda count, compiled=compiled: float(compiled(tf.constant(count)))
    return contenders


def training_contenders(data):
    """name -> a callable running `steps` lean-network training steps, batch 128."""
    from digitnet.training import loop
    from digitnet.training.config import TrainConfig
    from digitnet.training.training_set import epoch_order

    contenders = {}
    for name, style in (("train_step_affine_only", {}), ("train_step_affine_and_all_style", ALL_STYLE)):
        config = TrainConfig(arch="lean", batch_size=BATCH, learning_rate=3e-3, augment=True, **style)
        model, optimizer = loop.new_model_and_optimizer(config, total_iterations=10_000)
        steps = loop.CompiledSteps(
            model, optimizer, data.train, BATCH, augment=config.affine_ranges(), style=config.style_ranges()
        )
        order = epoch_order(0, 0, len(data.train))
        contenders[name] = lambda count, steps=steps, order=order: steps(order, 0, count)
    return contenders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="batches per timed call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per contender")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist

    data = load_mnist()
    contenders = {**augment_contenders(data.train.images[:BATCH]), **training_contenders(data)}
    for run in contenders.values():  # warm-up: tracing and allocation
        run(2)
    timings = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, run in contenders.items():
            started = time.perf_counter()
            run(args.steps)  # returns Python numbers: the work is done
            timings[name].append((time.perf_counter() - started) * 1000.0 / args.steps)
    results = {name: round(statistics.median(values), 2) for name, values in timings.items()}
    print(
        json.dumps(
            {
                "benchmark": "augment_cost",
                "machine": describe_machine(),
                "batch": BATCH,
                "style": ALL_STYLE,
                "ms_per_batch": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
