"""The verdict helpers of probgen.reporting: the sentence follows the numbers, and flips when they do."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probgen.reporting import compare, compare_across, join_words, rank, versus_reference
from probgen.stats import Difference, Estimate, binomial_estimate

finite = st.floats(-1e3, 1e3, allow_nan=False)
spread = st.floats(0.0, 50.0, allow_nan=False)


def test_a_resolved_difference_names_the_winner_with_its_margin():
    v = compare(Estimate(12.4, 0.4), Estimate(15.5, 0.45), names=("A", "B"), quantity="FID", better="lower")
    assert v.sign == 1 and v.word == "better"
    assert v.sentence.startswith("A is better than B in FID by 3.10 ± ")
    assert math.isclose(v.difference.se, math.hypot(0.4, 0.45))


def test_a_difference_inside_the_noise_is_a_tie():
    v = compare(Estimate(12.4, 2.0), Estimate(13.5, 2.0), names=("A", "B"), quantity="FID", better="lower")
    assert v.sign == 0 and v.word == "equal"
    assert "A and B cannot be told apart in FID at this N" in v.sentence
    assert "difference −1.10" in v.sentence


def test_the_same_numbers_read_the_other_way_when_lower_is_better():
    a, b = Estimate(3.0, 0.1), Estimate(1.0, 0.1)
    assert compare(a, b, names=("A", "B"), quantity="q").sentence.startswith("A is better than B")
    assert compare(a, b, names=("A", "B"), quantity="q", better="lower").sentence.startswith("B is better than A")
    # the parenthesis lists the values in the order the sentence names them
    assert compare(a, b, names=("A", "B"), quantity="q", better="lower").sentence.endswith("(1.00 ± 0.20 against 3.00 ± 0.20)")


def test_a_quantity_without_a_direction_says_which_is_higher():
    v = compare(Estimate(1.0, 0.01), Estimate(2.0, 0.01), names=("A", "B"), quantity="scale", better=None)
    assert v.sign == -1 and v.sentence.startswith("B's scale is higher than A's by 1.00 ± ")
    tie = compare(Estimate(1.0, 1.0), Estimate(1.1, 1.0), names=("A", "B"), quantity="scale", better=None, tie="")
    assert tie.sign == 0 and "cannot be told apart in scale (" in tie.sentence


def test_the_winners_value_comes_first_and_the_verdict_stays_a_against_b():
    E = Estimate
    v = compare(E(20.0, 1.0), E(10.0, 1.0), names=("A", "B"), quantity="FID", better="lower")
    assert v.sign == -1 and v.difference.value == 10.0  # the verdict stays A's against B's
    assert v.sentence == "B is better than A in FID by 10.00 ± 2.77 (10.00 ± 1.96 against 20.00 ± 1.96)"
    w = compare(E(10.0, 1.0), E(20.0, 1.0), names=("A", "B"), quantity="FID", better="lower")
    assert w.sign == 1
    assert w.sentence == "A is better than B in FID by 10.00 ± 2.77 (10.00 ± 1.96 against 20.00 ± 1.96)"
    paired = compare(E(20.0, 1.0), E(10.0, 1.0), names=("A", "B"), quantity="FID", better="lower",
                                   difference=E(10.0, 0.5))
    assert paired.sign == -1 and paired.sentence.startswith("B is better than A in FID by 10.00 ± 0.98 (10.00")


def test_a_paired_difference_replaces_the_independent_one():
    a, b = Estimate(-88.0, 0.5), Estimate(-88.3, 0.5)  # independent: a tie
    assert compare(a, b, names=("A", "B"), quantity="ELBO").sign == 0
    paired = Estimate(0.3, 0.05)  # the same test images: the difference is resolved
    assert compare(a, b, names=("A", "B"), quantity="ELBO", difference=paired).sign == 1


@given(finite, spread, finite, spread, st.sampled_from(["higher", "lower"]))
def test_swapping_a_and_b_flips_the_verdict(va, sa, vb, sb, better):
    a, b = Estimate(va, sa), Estimate(vb, sb)
    ab = compare(a, b, names=("A", "B"), quantity="q", better=better)
    ba = compare(b, a, names=("B", "A"), quantity="q", better=better)
    assert ab.sign == -ba.sign
    other = "lower" if better == "higher" else "higher"
    assert compare(a, b, names=("A", "B"), quantity="q", better=other).sign == -ab.sign
    assert ab.sign == Difference(a, b).sign * (1 if better == "higher" else -1)


def test_across_settings_states_the_rule_and_its_exceptions():
    E = Estimate
    a = {10: E(1.0, 0.1), 20: E(2.0, 0.1), 50: E(3.0, 0.1)}
    text, verdicts = compare_across(a, {10: E(0.0, 0.1), 20: E(1.0, 0.1), 50: E(2.0, 0.1)},
                                    names=("A", "B"), quantity="accuracy", label="step count")
    assert text == "A is better than B in accuracy at every step count"
    assert set(verdicts) == {10, 20, 50}
    text, _ = compare_across(a, {10: E(0.0, 0.1), 20: E(1.0, 0.1), 50: E(3.0, 0.1)},
                             names=("A", "B"), quantity="accuracy", label="step count")
    assert text == "A is better than B in accuracy at every step count except 50, where they cannot be told apart"
    text, _ = compare_across(a, a, names=("A", "B"), quantity="accuracy", label="step count")
    assert text == "A and B cannot be told apart in accuracy at any step count at this N"
    text, _ = compare_across(a, a, names=("A", "B"), quantity="accuracy", label="seed", tie="over these seeds")
    assert text == "A and B cannot be told apart in accuracy at any seed over these seeds"
    text, _ = compare_across(a, {10: E(0.0, 0.1), 20: E(3.0, 0.1), 50: E(3.0, 0.1)},
                             names=("A", "B"), quantity="accuracy", label="step count")
    assert text == "A is better than B in accuracy at step count 10; B is better at 20; they cannot be told apart at 50"


def test_settings_that_name_themselves():
    E = Estimate
    a = {1: E(5.0, 0.1), 2: E(1.0, 0.1), 3: E(1.0, 0.1)}
    b = {1: E(1.0, 0.1), 2: E(5.0, 0.1), 3: E(1.0, 0.1)}
    text, _ = compare_across(a, b, names=("A", "B"), quantity="FID", label="β", key_fmt="β = {:g}", better="lower")
    assert text == "A is better than B in FID at β = 2; B is better at β = 1; they cannot be told apart at β = 3"


def test_across_settings_flips_with_the_data():
    E = Estimate
    a = {1: E(5.0, 0.1), 2: E(6.0, 0.1)}
    b = {1: E(1.0, 0.1), 2: E(2.0, 0.1)}
    forward, _ = compare_across(a, b, names=("A", "B"), quantity="FID", label="family", better="lower")
    backward, _ = compare_across(b, a, names=("B", "A"), quantity="FID", label="family", better="lower")
    assert forward == backward == "B is better than A in FID at every family"
    with pytest.raises(ValueError, match="share no family"):
        compare_across({1: E(1.0)}, {2: E(1.0)}, names=("A", "B"), quantity="FID", label="family")


def test_rank_names_the_best_and_what_it_is_told_apart_from():
    E = Estimate
    best, text = rank({"A": E(1.0, 0.1), "B": E(2.0, 0.1), "C": E(2.1, 0.1)}, quantity="ELBO")
    assert best == "C"
    assert text.startswith("C has the best ELBO (2.10 ± 0.20): not told apart from B")
    assert "better than A by 1.10" in text
    best, text = rank({"A": E(1.0, 1.0), "B": E(2.0, 1.0)}, quantity="FID", better="lower")
    assert best == "A" and text.startswith("A and B cannot be told apart in FID at this N")


def test_rank_of_exact_values_and_a_tie_over_seeds():
    best, text = rank({"A": 3.0, "B": 1.0}, quantity="count")
    assert best == "A" and text == "A has the best count (3.00): better than B by 2.00"
    _, text = rank({"A": Estimate(1.0, 1.0), "B": Estimate(1.5, 1.0)}, quantity="distance", tie="over these seeds")
    assert text.startswith("B and A cannot be told apart in distance over these seeds; B has the best value")


def test_versus_reference_words_and_exact_values():
    assert versus_reference(Estimate(-88.5, 0.2), -88.8, quantity="ELBO").word == "equal"
    assert versus_reference(Estimate(-87.0, 0.2), -88.8, quantity="ELBO").word == "better"
    assert versus_reference(Estimate(45.0, 1.0), 37.0, quantity="FID", better="lower").word == "worse"
    assert versus_reference(3, 3, quantity="count").word == "equal"  # exact numbers compare exactly


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="'higher', 'lower' or None"):
        compare(1.0, 2.0, names=("A", "B"), quantity="q", better="bigger")
    with pytest.raises(ValueError, match="finite value"):
        Estimate(float("nan"), 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        Estimate.of_mean([1.0])
    with pytest.raises(ValueError, match="nothing to join"):
        join_words([])


def test_estimates_of_a_mean_and_of_a_proportion():
    e = Estimate.of_mean([1.0, 2.0, 3.0, 4.0])
    assert e.value == 2.5 and math.isclose(e.se, math.sqrt(5 / 3) / 2)
    p = binomial_estimate(30, 40)
    assert p.value == 0.75 and math.isclose(p.se, math.sqrt((31 / 42) * (11 / 42) / 42))
