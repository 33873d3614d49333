"""Training speed of the tutorial's recipe: digitnet's training path against plain `model.fit`.

Same network, same data, batch 50, Adam 1e-4, measured side by side in one process.
Each contender runs one warm-up epoch (tracing, allocation) and then --epochs timed
epochs of 1,100 steps; steps/s is the median over timed epochs. Prints JSON.
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

TUTORIAL_ITERATIONS = 19_800


def time_model_fit(data, config, epochs: int, steps_per_execution: int = 1) -> list[float]:
    """Seconds per epoch of plain Keras `fit` (first, warm-up epoch dropped)."""
    import keras

    from digitnet.training.networks import build_model

    model = build_model(config.arch, dropout=config.dropout, seed=config.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, epsilon=config.adam_epsilon),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    marks = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            marks.append(time.perf_counter())

    model.fit(
        data.train.images,
        data.train.labels,
        batch_size=config.batch_size,
        epochs=epochs + 1,
        shuffle=True,
        verbose=0,
        callbacks=[EpochClock()],
    )
    return [marks[i + 1] - marks[i] for i in range(2, len(marks), 2)]


def time_digitnet(data, config, epochs: int) -> list[float]:
    """Seconds per epoch of digitnet's default training path (the one `digitnet train` runs)."""
    from digitnet.training import loop
    from digitnet.training.training_set import epoch_order

    model, optimizer = loop.new_model_and_optimizer(
        config, (epochs + 1) * config.steps_per_epoch(len(data.train))
    )
    steps = loop.CompiledSteps(model, optimizer, data.train, config.batch_size)
    steps_per_epoch = config.steps_per_epoch(len(data.train))
    seconds = []
    for epoch in range(epochs + 1):
        order = epoch_order(config.seed, epoch, len(data.train))
        started = time.perf_counter()
        for start in range(0, steps_per_epoch, config.steps_per_call):
            steps(order, start, min(config.steps_per_call, steps_per_epoch - start))
        seconds.append(time.perf_counter() - started)
    return seconds[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per contender")
    args = parser.parse_args()

    from digitnet.data.mnist import load_mnist
    from digitnet.training.config import TrainConfig

    data = load_mnist()
    config = TrainConfig()
    steps_per_epoch = config.steps_per_epoch(len(data.train))
    contenders = {
        "model_fit": lambda: time_model_fit(data, config, args.epochs),
        "model_fit_steps_per_execution_100": lambda: time_model_fit(
            data, config, args.epochs, steps_per_execution=100
        ),
        "digitnet": lambda: time_digitnet(data, config, args.epochs),
    }
    results = {}
    for name, measure in contenders.items():
        epoch_seconds = measure()
        rate = steps_per_epoch / statistics.median(epoch_seconds)
        results[name] = {
            "epoch_seconds": [round(s, 2) for s in epoch_seconds],
            "steps_per_second": round(rate, 1),
            "seconds_for_19800_iterations": round(TUTORIAL_ITERATIONS / rate, 1),
        }
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "benchmark": "train_speed",
                "machine": describe_machine(),
                "recipe": "seed network, batch 50, Adam 1e-4; median over timed epochs",
                "results": results,
                "digitnet_vs_model_fit": round(
                    results["digitnet"]["steps_per_second"] / results["model_fit"]["steps_per_second"], 2
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
