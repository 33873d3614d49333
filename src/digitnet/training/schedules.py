"""Learning-rate schedules, evaluated in-graph at the optimizer's iteration count.

One-cycle (Smith & Topin, 2018): the rate climbs from max/div to max over the first part of
training, then falls along a half cosine to max/final_div. The climb lets a high peak rate be
reached without early divergence; the long fall settles the weights, much as weight averaging would.
"""

from __future__ import annotations

import math

import keras

from digitnet.training.config import SCHEDULES


def one_cycle_rate(
    step: float,
    total_steps: int,
    max_rate: float,
    warmup_fraction: float = 0.25,
    div: float = 25.0,
    final_div: float = 1e4,
) -> float:
    """The one-cycle rate at `step` (0-based), as a plain float: the reference for the graph version."""
    start, end = max_rate / div, max_rate / final_div
    warmup = max(1.0, warmup_fraction * total_steps)
    if step < warmup:
        return start + (max_rate - start) * step / warmup
    progress = min(1.0, (step - warmup) / max(1.0, total_steps - warmup))
    return end + (max_rate - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """one_cycle_rate written with keras.ops, so it runs inside the compiled training step."""

    def __init__(
        self,
        total_steps: int,
        max_rate: float,
        warmup_fraction: float = 0.25,
        div: float = 25.0,
        final_div: float = 1e4,
    ):
        self.total_steps = int(total_steps)
        self.max_rate = float(max_rate)
        self.warmup_fraction = float(warmup_fraction)
        self.div = float(div)
        self.final_div = float(final_div)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        start, end = self.max_rate / self.div, self.max_rate / self.final_div
        warmup = max(1.0, self.warmup_fraction * self.total_steps)
        rising = start + (self.max_rate - start) * step / warmup
        progress = ops.minimum(1.0, (step - warmup) / max(1.0, self.total_steps - warmup))
        falling = end + (self.max_rate - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, rising, falling)

    def get_config(self) -> dict:
        return {
            "total_steps": self.total_steps,
            "max_rate": self.max_rate,
            "warmup_fraction": self.warmup_fraction,
            "div": self.div,
            "final_div": self.final_div,
        }


def learning_rate(schedule: str, rate: float, total_steps: int):
    """What to hand Keras's optimizer: a float for "constant", a schedule object otherwise."""
    if schedule == "constant":
        return rate
    if schedule == "one-cycle":
        return OneCycle(total_steps, rate)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
