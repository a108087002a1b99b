import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from probgen.trueskill import (Gaussian, conditional_skills, conditional_t, outcome_probabilities,
                               truncated_gaussian_moments, win_probability)

PERF_VAR = (25 / 6) ** 2


@pytest.mark.parametrize("advantage", [0.0, 2.5])
def test_win_probability_against_monte_carlo(advantage):
    p1, p2 = Gaussian(27.0, 30.0), Gaussian(24.0, 60.0)
    rng = np.random.default_rng(1)
    n = 400_000
    s1, s2 = rng.normal(p1.mean, p1.std, n), rng.normal(p2.mean, p2.std, n)
    t = rng.normal(s1 - s2 + advantage, math.sqrt(PERF_VAR))
    mc = np.mean(t > 0)
    se = math.sqrt(mc * (1 - mc) / n)
    assert abs(win_probability(p1, p2, PERF_VAR, advantage) - mc) < 4 * se


def test_outcome_probabilities_sum_to_one_and_reduce_without_draws():
    p1, p2 = Gaussian(26.0, 20.0), Gaussian(24.0, 20.0)
    w1, d, w2 = outcome_probabilities(p1, p2, PERF_VAR, draw_margin=1.5)
    assert w1 + d + w2 == pytest.approx(1.0) and d > 0 and w1 > w2
    w1, d, w2 = outcome_probabilities(p1, p2, PERF_VAR)
    assert d == pytest.approx(0.0, abs=1e-12) and w1 == pytest.approx(win_probability(p1, p2, PERF_VAR))


@pytest.mark.parametrize("mean, var, lo, hi", [(0.0, 1.0, 0.0, math.inf), (2.0, 4.0, -math.inf, 0.0),
                                               (1.0, 2.0, -0.5, 0.5), (-3.0, 1.0, 0.0, math.inf)])
def test_truncated_moments_against_scipy(mean, var, lo, hi):
    s = math.sqrt(var)
    ref = stats.truncnorm((lo - mean) / s, (hi - mean) / s, loc=mean, scale=s)
    m, v = truncated_gaussian_moments(mean, var, lo, hi)
    assert m == pytest.approx(ref.mean(), rel=1e-9, abs=1e-12)
    assert v == pytest.approx(ref.var(), rel=1e-7)


def test_truncated_moments_far_in_the_tail_are_finite_and_right():
    # N(-40, 1) truncated to t > 0: mean ~ 1/40 (Mills ratio), variance ~ 1/40^2
    m, v = truncated_gaussian_moments(-40.0, 1.0, 0.0, math.inf)
    assert m == pytest.approx(1 / 40, rel=2e-3) and v == pytest.approx(1 / 1600, rel=5e-3)
    m2, v2 = truncated_gaussian_moments(40.0, 1.0, -math.inf, 0.0)
    assert (m2, v2) == pytest.approx((-m, v))


def test_conditional_skills_equals_gaussian_conditioning_of_the_joint():
    p1, p2, t0, h = Gaussian(27.0, 30.0), Gaussian(22.0, 50.0), 3.0, 1.0
    # joint of (s1, s2, t): covariance of a linear-Gaussian model
    mu = np.array([p1.mean, p2.mean, p1.mean - p2.mean + h])
    cov = np.array([[p1.var, 0.0, p1.var], [0.0, p2.var, -p2.var],
                    [p1.var, -p2.var, p1.var + p2.var + PERF_VAR]])
    m_ref = mu[:2] + cov[:2, 2] / cov[2, 2] * (t0 - mu[2])
    c_ref = cov[:2, :2] - np.outer(cov[:2, 2], cov[2, :2]) / cov[2, 2]
    m, c = conditional_skills(t0, p1, p2, PERF_VAR, advantage=h)
    np.testing.assert_allclose(m, m_ref, rtol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-12)


def test_conditional_t_respects_the_outcome():
    assert conditional_t(20.0, 25.0, +1, PERF_VAR).rvs(1000, random_state=0).min() > 0
    assert conditional_t(25.0, 20.0, -1, PERF_VAR).rvs(1000, random_state=0).max() < 0
    draws = conditional_t(25.0, 20.0, 0, PERF_VAR, draw_margin=1.0).rvs(1000, random_state=0)
    assert np.abs(draws).max() < 1.0
    with pytest.raises(ValueError, match="needs draw_margin > 0"):
        conditional_t(25.0, 20.0, 0, PERF_VAR)
    with pytest.raises(ValueError, match="outcome must be"):
        conditional_t(25.0, 20.0, 2, PERF_VAR)


def test_gaussian_validation_and_algebra():
    with pytest.raises(ValueError, match="var must be positive"):
        Gaussian(0.0, -1.0)
    with pytest.raises(ValueError, match="mean must be finite"):
        Gaussian(float("nan"), 1.0)
    a, b = Gaussian(1.0, 2.0), Gaussian(3.0, 4.0)
    prod = a * b
    assert prod.var == pytest.approx(1 / (1 / 2 + 1 / 4)) and prod.mean == pytest.approx(prod.var * (1 / 2 + 3 / 4))
    back = prod / b
    assert (back.mean, back.var) == pytest.approx((a.mean, a.var))


@settings(max_examples=50, deadline=None)
@given(m1=st.floats(0, 50), m2=st.floats(0, 50), v1=st.floats(0.1, 100), v2=st.floats(0.1, 100))
def test_win_probability_is_a_probability_and_symmetric(m1, m2, v1, v2):
    p1, p2 = Gaussian(m1, v1), Gaussian(m2, v2)
    p = win_probability(p1, p2, PERF_VAR)
    assert 0.0 <= p <= 1.0
    assert p + win_probability(p2, p1, PERF_VAR) == pytest.approx(1.0)
