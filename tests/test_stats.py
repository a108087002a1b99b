"""`probgen.stats.mean_over_runs` and `proportion_over_runs`: closed forms, its floor, its refusals, and its coverage by simulation."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm, t

from probgen.stats import binomial_estimate, mean_over_runs, proportion_over_runs


def test_the_spread_of_the_runs_gives_a_t_interval():
    est = proportion_over_runs([80, 90, 100], 100)
    sd = 0.1  # of 0.8, 0.9, 1.0
    assert est.value == pytest.approx(0.9, abs=1e-15)
    # value ± 1.96·se is the 95% t interval with 2 degrees of freedom: t = 4.303 instead of z = 1.96
    assert 1.96 * est.se == pytest.approx(t.ppf(0.975, 2) * sd / math.sqrt(3), rel=1e-3)
    assert est.se == pytest.approx(4.302653 / norm.ppf(0.975) * sd / math.sqrt(3), rel=1e-6)


def test_runs_that_agree_fall_back_to_the_pooled_binomial_error():
    est = proportion_over_runs([50, 50, 50], 100)
    assert est.value == 0.5
    assert est.se == binomial_estimate(150, 300).se  # not 0: the runs' samples alone carry this much noise


@given(st.lists(st.integers(0, 200), min_size=2, max_size=8), st.integers(200, 400))
def test_the_error_is_never_below_either_part(correct, n):
    est = proportion_over_runs(correct, n)
    p = np.asarray(correct) / n
    assert est.value == pytest.approx(p.mean(), abs=1e-12)
    assert est.se >= binomial_estimate(sum(correct), n * len(correct)).se
    assert est.se >= p.std(ddof=1) / math.sqrt(len(p)) - 1e-15  # the t factor only widens


@pytest.mark.parametrize("correct, n, match", [([3], 10, "at least 2 runs"), ([3.0, 4.0], 10, "integer"),
                                               ([3, 11], 10, "correct ≤ n"), ([3, 4], 0, "n ≥ 1")])
def test_bad_runs_are_refused(correct, n, match):
    with pytest.raises(ValueError, match=match):
        proportion_over_runs(correct, n)


@pytest.mark.parametrize("between_runs_sd", [0.0, 0.025])
def test_the_interval_covers_the_true_mean_at_least_95_percent_of_the_time(between_runs_sd):
    # Three runs of n = 1000 samples at a true accuracy of 0.8, each run shifted by its own training noise.
    # A normal interval from three runs (1.96·sd/√3) covers only about 85% when that noise dominates.
    rng = np.random.default_rng(0)
    reps, runs, n, p = 2000, 3, 1000, 0.8
    p_runs = np.clip(p + between_runs_sd * rng.standard_normal((reps, runs)), 0, 1)
    correct = rng.binomial(n, p_runs)
    covered = [abs(e.value - p) <= 1.96 * e.se for e in (proportion_over_runs(list(k), n) for k in correct)]
    # the binomial error of 2000 coverage indicators at 0.95 is 0.005: 0.93 is four of them below
    assert np.mean(covered) >= 0.93


def test_mean_over_runs_is_a_t_interval_with_a_floor():
    est = mean_over_runs([1.0, 2.0, 3.0, 4.0, 5.0])  # sd √2.5, 4 degrees of freedom
    assert est.value == 3.0
    assert norm.ppf(0.975) * est.se == pytest.approx(t.ppf(0.975, 4) * math.sqrt(2.5) / math.sqrt(5), rel=1e-12)
    assert mean_over_runs([1.0, 1.0], floor=0.3).se == 0.3  # runs that agree: the floor from elsewhere
    assert mean_over_runs([1.0, 3.0], level=0.5).se == pytest.approx(
        t.ppf(0.75, 1) / norm.ppf(0.75) * 1.0, rel=1e-12)  # sd √2 over √2 = 1
    for bad, match in [(dict(values=[1.0]), "at least 2"), (dict(values=[1.0, float("nan")]), "finite"),
                       (dict(values=[1.0, 2.0], level=1.0), "level"), (dict(values=[1.0, 2.0], floor=-1.0), "floor")]:
        with pytest.raises(ValueError, match=match):
            mean_over_runs(bad.pop("values"), **bad)
