import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from probgen.trueskill import (Gaussian, gaussian_from_samples, gibbs_sample, moment_matching_update,
                               moment_matching_update_by_messages, win_probability)

PERF_VAR = (25 / 6) ** 2
PRIOR = Gaussian(25.0, (25 / 3) ** 2)


def exact_posterior_moments(p1, p2, outcome, perf_var):
    """Moments of s1 under p(s1 | y) by 1-D quadrature: p(s1 | y) ∝ N(s1) Phi(outcome (s1 - mu2) / sqrt(var2 + perf_var))."""
    s = math.sqrt(p2.var + perf_var)
    dens = lambda x: p1.pdf(x) * stats.norm.cdf(outcome * (x - p2.mean) / s)
    lo, hi = p1.mean - 12 * p1.std, p1.mean + 12 * p1.std
    z = integrate.quad(dens, lo, hi, epsabs=1e-13)[0]
    m = integrate.quad(lambda x: x * dens(x), lo, hi, epsabs=1e-13)[0] / z
    v = integrate.quad(lambda x: (x - m) ** 2 * dens(x), lo, hi, epsabs=1e-13)[0] / z
    return m, v


@pytest.mark.parametrize("p1, p2, y", [(PRIOR, PRIOR, 1), (Gaussian(30, 4), Gaussian(20, 25), -1),
                                       (Gaussian(18, 9), Gaussian(31, 2), 1)])
def test_moment_matching_gives_exact_posterior_moments(p1, p2, y):
    post1, _ = moment_matching_update(p1, p2, y, PERF_VAR)
    m, v = exact_posterior_moments(p1, p2, y, PERF_VAR)
    assert post1.mean == pytest.approx(m, rel=1e-7) and post1.var == pytest.approx(v, rel=1e-6)


def test_message_form_equals_regression_form():
    for p1, p2, y, eps, h in [(PRIOR, PRIOR, 1, 0.0, 0.0), (Gaussian(30, 4), Gaussian(20, 25), -1, 0.5, 1.0),
                              (Gaussian(27, 10), Gaussian(23, 12), 0, 1.0, 0.3)]:
        a = moment_matching_update(p1, p2, y, PERF_VAR, draw_margin=eps, advantage=h)
        b = moment_matching_update_by_messages(p1, p2, y, PERF_VAR, draw_margin=eps, advantage=h)
        for ga, gb in zip(a, b):
            assert (ga.mean, ga.var) == pytest.approx((gb.mean, gb.var), rel=1e-9)


def test_gibbs_moments_match_moment_matching_on_one_match():
    p1, p2 = Gaussian(26.0, 40.0), Gaussian(24.0, 60.0)
    s1, s2, t = gibbs_sample(p1, p2, -1, PERF_VAR, n_samples=40_000, burn_in=50, seed=3)
    post1, post2 = moment_matching_update(p1, p2, -1, PERF_VAR)
    # lag-1 autocorrelation is small here, so the naive standard error with a 2x margin is a safe bound
    for s, post in [(s1, post1), (s2, post2)]:
        assert abs(s.mean() - post.mean) < 2 * 4 * post.std / math.sqrt(len(s))
        assert s.var() == pytest.approx(post.var, rel=0.05)
    assert (t < 0).all()


def test_gibbs_is_reproducible_and_starts_where_told():
    a = gibbs_sample(PRIOR, PRIOR, 1, PERF_VAR, n_samples=100, burn_in=0, seed=7)
    b = gibbs_sample(PRIOR, PRIOR, 1, PERF_VAR, n_samples=100, burn_in=0, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    far = gibbs_sample(PRIOR, PRIOR, 1, PERF_VAR, n_samples=1, burn_in=0, seed=7, init=(500.0, -500.0))
    assert far[2][0] > 100  # t drawn around s1 - s2 = 1000 in the first iteration
    with pytest.raises(ValueError):
        gibbs_sample(PRIOR, PRIOR, 1, PERF_VAR, n_samples=0)


def test_gibbs_far_tail_truncation_is_finite():
    # the loser is far stronger: t | s is truncated ~50 standard deviations from its mean
    s1, s2, t = gibbs_sample(Gaussian(0.0, 1.0), Gaussian(200.0, 1.0), 1, 1.0, n_samples=200, seed=0)
    assert np.isfinite(t).all() and (t > 0).all()


def test_draw_update_pulls_means_together():
    p1, p2 = Gaussian(30.0, 20.0), Gaussian(20.0, 20.0)
    q1, q2 = moment_matching_update(p1, p2, 0, PERF_VAR, draw_margin=1.0)
    assert q1.mean - q2.mean < p1.mean - p2.mean and q1.var < p1.var and q2.var < p2.var


def test_gaussian_from_samples():
    g = gaussian_from_samples([1.0, 2.0, 3.0])
    assert (g.mean, g.var) == (2.0, 1.0)
    with pytest.raises(ValueError):
        gaussian_from_samples([1.0])


@settings(max_examples=60, deadline=None)
@example(m1=38.0, m2=0.0, v1=1.0, v2=1.0, y=1)  # found by Hypothesis: a near-certain win
@given(m1=st.floats(0, 50), m2=st.floats(0, 50), v1=st.floats(0.5, 100), v2=st.floats(0.5, 100),
       y=st.sampled_from([-1, 1]))
def test_update_shrinks_variances_and_moves_means_toward_the_winner(m1, m2, v1, v2, y):
    p1, p2 = Gaussian(m1, v1), Gaussian(m2, v2)
    q1, q2 = moment_matching_update(p1, p2, y, PERF_VAR)
    assert q1.var <= p1.var and q2.var <= p2.var
    assert y * (q1.mean - p1.mean) >= 0 and y * (q2.mean - p2.mean) <= 0
    # When the observed outcome was all but certain (here above 1 - 1e-6), the exact change
    # is below double precision; everywhere else it must be strict.
    p_observed = win_probability(p1, p2, PERF_VAR) if y == 1 else win_probability(p2, p1, PERF_VAR)
    if p_observed < 1 - 1e-6:
        assert q1.var < p1.var and q2.var < p2.var
        assert y * (q1.mean - p1.mean) > 0 and y * (q2.mean - p2.mean) < 0
    # symmetry: swapping the players and the outcome swaps the posteriors
    r2, r1 = moment_matching_update(p2, p1, -y, PERF_VAR)
    assert (r1.mean, r1.var, r2.mean, r2.var) == pytest.approx((q1.mean, q1.var, q2.mean, q2.var), rel=1e-9)
