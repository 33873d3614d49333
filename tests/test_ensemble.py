"""Combination rules on small hand-computed probability arrays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from digitnet.reading.ensemble_rules import (
    RULES,
    UnknownRuleError,
    combine,
    combine_majority_vote,
    combine_mean_probability,
    combine_most_confident,
    softmax,
)


def members(*rows_per_member: list[dict[int, float]]) -> np.ndarray:
    """probs[m, n] from sparse rows: members({3: .7, 5: .3}, ...) per image, per member."""
    probs = np.zeros((len(rows_per_member), len(rows_per_member[0]), 10))
    for m, rows in enumerate(rows_per_member):
        for n, row in enumerate(rows):
            for label, value in row.items():
                probs[m, n, label] = value
    return probs


# One image: member 0 is sure-ish of 3 (0.7); members 1 and 2 lean to 5 (0.65).
# mean: class 3 = (0.7 + 0.35 + 0.35) / 3 = 0.4667, class 5 = (0.3 + 0.65 + 0.65) / 3 = 0.5333 -> 5
# most confident: member 0 (0.7 > 0.65) -> 3;  vote: 5 has two votes of three -> 5
CONFIDENT_VS_LUKEWARM = members([{3: 0.7, 5: 0.3}], [{5: 0.65, 3: 0.35}], [{5: 0.65, 3: 0.35}])


def test_mean_averages_members_and_takes_argmax():
    predicted, combined = combine_mean_probability(CONFIDENT_VS_LUKEWARM)
    assert predicted.tolist() == [5]
    expected = np.zeros((1, 10))
    expected[0, 3], expected[0, 5] = 1.4 / 3, 1.6 / 3
    np.testing.assert_allclose(combined, expected)


def test_most_confident_member_decides_against_two_lukewarm_ones():
    predicted, combined = combine_most_confident(CONFIDENT_VS_LUKEWARM)
    assert predicted.tolist() == [3]
    np.testing.assert_allclose(combined, CONFIDENT_VS_LUKEWARM[0])


def test_mean_and_most_confident_differ_on_the_constructed_case():
    assert combine("mean", CONFIDENT_VS_LUKEWARM)[0] != combine("most_confident", CONFIDENT_VS_LUKEWARM)[0]


def test_most_confident_chooses_per_image_and_lowest_member_on_ties():
    probs = members(
        [{1: 0.9, 2: 0.1}, {4: 0.8, 6: 0.2}],  # member 0: confident on image 0; 0.8 on image 1
        [{2: 0.6, 1: 0.4}, {6: 0.8, 4: 0.2}],  # member 1: ties member 0 on image 1 (0.8)
        [{3: 0.5, 2: 0.5}, {7: 0.3, 6: 0.7}],
    )
    predicted, combined = combine_most_confident(probs)
    assert predicted.tolist() == [1, 4]  # image 1: tie 0.8 vs 0.8 -> member 0 -> class 4
    np.testing.assert_allclose(combined, probs[0])


def test_vote_clear_majority_beats_one_very_confident_member():
    probs = members([{6: 0.55, 0: 0.45}], [{6: 0.6, 0: 0.4}], [{0: 0.99, 6: 0.01}])
    predicted, combined = combine_majority_vote(probs)
    assert predicted.tolist() == [6]
    expected = np.zeros((1, 10))
    expected[0, 6], expected[0, 0] = 2 / 3, 1 / 3
    np.testing.assert_allclose(combined, expected)
    assert combine_mean_probability(probs)[0].tolist() == [0]  # (0.45+0.4+0.99)/3 > (0.55+0.6+0.01)/3


def test_vote_two_members_disagreeing_goes_to_larger_mean_probability():
    # votes 2:1, 7:1; mean of class 2 = (0.6 + 0.1) / 2 = 0.35, class 7 = (0.4 + 0.9) / 2 = 0.65
    probs = members([{2: 0.6, 7: 0.4}], [{7: 0.9, 2: 0.1}])
    predicted, combined = combine_majority_vote(probs)
    assert predicted.tolist() == [7]  # not member 0's class, not the lower class
    assert combined[0, 2] == combined[0, 7] == 0.5


def test_vote_four_members_split_two_two_goes_to_larger_mean_probability():
    # votes 4:2, 1:2; mean of class 4 = (0.6+0.55+0.05+0.1)/4 = 0.325, class 1 = (0.4+0.45+0.95+0.9)/4 = 0.675
    probs = members([{4: 0.6, 1: 0.4}], [{4: 0.55, 1: 0.45}], [{1: 0.95, 4: 0.05}], [{1: 0.9, 4: 0.1}])
    predicted, combined = combine_majority_vote(probs)
    assert predicted.tolist() == [1]
    assert combined[0, 1] == combined[0, 4] == 0.5


def test_vote_tie_break_looks_only_at_the_tied_classes():
    # votes 0:1, 1:1; class 9 has the largest mean (0.3) but no votes, so it cannot win.
    # means of the tied classes: 0 -> 0.2, 1 -> 0.225
    probs = members([{0: 0.4, 9: 0.3, 8: 0.3}], [{1: 0.45, 9: 0.3, 8: 0.25}])
    assert combine_majority_vote(probs)[0].tolist() == [1]


def test_combine_dispatches_by_name():
    assert set(RULES) == {"mean", "most_confident", "vote"}
    for name, rule in RULES.items():
        np.testing.assert_array_equal(combine(name, CONFIDENT_VS_LUKEWARM)[0], rule(CONFIDENT_VS_LUKEWARM)[0])


def test_unknown_rule_names_the_valid_ones():
    with pytest.raises(UnknownRuleError) as caught:
        combine("median", CONFIDENT_VS_LUKEWARM)
    message = str(caught.value)
    assert isinstance(caught.value, KeyError)
    assert "\n" not in message and "'median'" in message
    for name in ("mean", "most_confident", "vote"):
        assert name in message


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((2, 10)), "shape"),  # not 3-D
        (np.zeros((2, 3, 9)), "shape"),  # not 10 classes
        (np.zeros((0, 3, 10)), "zero members"),  # no members
        (np.full((1, 1, 10), np.nan), "NaN"),
        (np.full((1, 1, 10), np.inf), "infinity"),
    ],
)
@pytest.mark.parametrize("rule", sorted(RULES))
def test_bad_input_raises_value_error(bad, words, rule):
    with pytest.raises(ValueError, match=words):
        combine(rule, bad)


def test_one_member_gives_that_members_prediction_for_every_rule():
    probs = members([{2: 0.7, 3: 0.3}, {8: 0.9, 1: 0.1}])
    for rule in RULES:
        assert combine(rule, probs)[0].tolist() == [2, 8]


def test_softmax_known_values_and_rows_sum_to_one():
    np.testing.assert_allclose(softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]])
    logits = np.random.default_rng(0).normal(size=(3, 4, 10)) * 5
    probs = softmax(logits)
    assert probs.shape == (3, 4, 10)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    np.testing.assert_allclose(softmax(logits + 1000.0), probs)  # shift-invariant


def test_softmax_survives_huge_logits():
    logits = np.zeros((2, 10))
    logits[0, 4] = 1e4
    logits[1] = -1e4
    logits[1, 9] = 1e4
    probs = softmax(logits)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[0, 4] == 1.0 and probs[1, 9] == 1.0


def test_import_pulls_in_neither_keras_nor_matplotlib():
    code = (
        "import sys, digitnet.reading.ensemble_rules, digitnet.jobs.plots; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
