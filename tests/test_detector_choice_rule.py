"""The rules benchmarks/detector_choice.py chooses a detector by (fixed before each candidate trained)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "detector_choice.py"


@pytest.fixture(scope="module")
def choice():
    spec = importlib.util.spec_from_file_location("detector_choice", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shares(writers, letters, doodles, raw_noise):
    return {
        "digits: training writers": writers,
        "validation families: validation_letters": letters,
        "validation families: doodles": doodles,
        "negatives: raw_noise": raw_noise,
    }


def test_the_families_rule_takes_the_best_mean_among_those_flagging_no_more_digits(choice):
    results = {
        "shipped": shares(0.007, 0.80, 0.80, 0.5),
        "better": shares(0.006, 0.90, 0.85, 0.1),
        "best_but_costly": shares(0.008, 0.99, 0.99, 1.0),
    }
    assert choice.choose(results, "families") == "better"


def test_the_noise_rule_allows_at_most_a_point_less_over_the_families(choice):
    shipped = shares(0.007, 0.80, 0.80, 0.5)
    within = shares(0.007, 0.80, 0.785, 0.9)  # mean 0.75 point lower
    assert choice.choose({"shipped": shipped, "c": within}, "noise") == "c"
    below = shares(0.007, 0.80, 0.77, 0.99)  # 1.5 points lower
    assert choice.choose({"shipped": shipped, "c": below}, "noise") == "shipped"
    no_better = shares(0.006, 0.85, 0.85, 0.5)  # flags no more noise: the shipped one stays
    assert choice.choose({"shipped": shipped, "c": no_better}, "noise") == "shipped"
