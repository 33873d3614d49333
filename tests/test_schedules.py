"""Learning-rate schedules: the one-cycle shape, and the in-graph version matching the reference."""

import math

import numpy as np
import pytest

from digitnet.training.schedules import OneCycle, learning_rate, one_cycle_rate


def test_one_cycle_climbs_to_the_peak_then_falls_to_the_floor():
    total, peak = 1000, 3e-3
    rates = [one_cycle_rate(step, total, peak) for step in range(total + 1)]
    top = int(np.argmax(rates))
    assert top == 250  # the default warm-up is a quarter of training
    assert rates[0] == pytest.approx(peak / 25)
    assert rates[top] == pytest.approx(peak)
    assert rates[-1] == pytest.approx(peak / 1e4)
    assert all(a < b for a, b in zip(rates[:top], rates[1 : top + 1]))  # rising
    assert all(a >= b for a, b in zip(rates[top:], rates[top + 1 :]))  # then never rising
    # Half-way down the cosine, the rate is half-way between peak and floor.
    assert rates[625] == pytest.approx((peak + peak / 1e4) / 2)


def test_one_cycle_stays_at_the_floor_after_the_last_step():
    assert one_cycle_rate(5000, 1000, 1.0) == pytest.approx(1e-4)


def test_graph_schedule_matches_the_reference_at_every_step():
    schedule = OneCycle(total_steps=300, max_rate=0.01)
    steps = np.arange(0, 320)
    graph = np.array([float(schedule(int(step))) for step in steps])
    reference = np.array([one_cycle_rate(int(step), 300, 0.01) for step in steps])
    # float32 in the graph: near the floor (1e-6) the cosine's rounding is about 1e-9 absolute.
    np.testing.assert_allclose(graph, reference, rtol=1e-5, atol=1e-8)


def test_learning_rate_is_a_float_for_constant_and_refuses_unknown_names():
    assert learning_rate("constant", 1e-4, 100) == 1e-4
    assert isinstance(learning_rate("one-cycle", 1e-3, 100), OneCycle)
    with pytest.raises(ValueError, match="one-cycle"):
        learning_rate("triangular", 1e-3, 100)


def test_one_cycle_config_round_trips():
    schedule = OneCycle(total_steps=42, max_rate=0.5)
    again = OneCycle(**schedule.get_config())
    assert math.isclose(float(again(21)), float(schedule(21)))
