"""The doubly truncated updates (a draw, a score margin) against numerical integration of the exact posterior.

p(s1 | t in (a, b)) ∝ N(s1; mu1, var1) [Phi((b - m(s1)) / s) - Phi((a - m(s1)) / s)], m(s1) = s1 - mu2 + h,
s^2 = var2 + perf_var (t and s2 integrated out in closed form), and symmetrically for s2. The remaining 1-D
integrals are done with composite Simpson on a grid of +-12 prior standard deviations; the tolerance is
the grid's own error estimate (Richardson: |S_h - S_2h| / 15 bounds the error of S_h for a smooth integrand,
taken with a factor 10 of margin) plus float64 rounding of the sums.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from probgen.trueskill import (Gaussian, adf, interval_update, margin_interval, margin_update,
                               moment_matching_update)
from tests.tolerances import rounding_tol

PERF_VAR = (25 / 6) ** 2
PRIOR = Gaussian(25.0, (25 / 3) ** 2)


def _posterior_moments_on_grid(p_own, p_other, lo, hi, perf_var, h, sign, n_intervals):
    """Mean and variance of one player's skill given t in (lo, hi), by Simpson on n_intervals intervals.

    sign = +1 for player 1 (t = s1 - s2 + h + noise), -1 for player 2.
    """
    x = np.linspace(p_own.mean - 12 * p_own.std, p_own.mean + 12 * p_own.std, n_intervals + 1)
    s = math.sqrt(p_other.var + perf_var)
    m = sign * x - sign * p_other.mean + h  # E[t | own skill]: s1 - mu2 + h or mu1 - s2 + h
    upper = special.ndtr((hi - m) / s) if math.isfinite(hi) else 1.0
    lower = special.ndtr((lo - m) / s) if math.isfinite(lo) else 0.0
    dens = p_own.pdf(x) * (upper - lower)
    z = integrate.simpson(dens, x=x)
    mean = integrate.simpson(x * dens, x=x) / z
    var = integrate.simpson((x - mean) ** 2 * dens, x=x) / z
    return mean, var


def _check_against_quadrature(post, p_own, p_other, lo, hi, h, sign):
    n = 120  # intervals of 0.2 prior std: the Richardson estimate below is then 1e-6 .. 1e-16
    fine = np.array(_posterior_moments_on_grid(p_own, p_other, lo, hi, PERF_VAR, h, sign, n))
    coarse = np.array(_posterior_moments_on_grid(p_own, p_other, lo, hi, PERF_VAR, h, sign, n // 2))
    grid_error = np.abs(fine - coarse) / 15
    # float64 rounding: n terms of size up to (|mu| + 12 std)^2 (the x^2 terms) summed, one rounding each
    rounding = rounding_tol(torch.float64, (abs(p_own.mean) + 12 * p_own.std) ** 2, ops=n)
    tol = 10 * grid_error + rounding
    assert abs(post.mean - fine[0]) <= tol[0], (post.mean, fine[0], tol[0])
    assert abs(post.var - fine[1]) <= tol[1], (post.var, fine[1], tol[1])
    # the tolerance is far below the size of the update, so the check has teeth
    assert tol[0] < 1e-3 * max(abs(post.mean - p_own.mean), 1e-3)
    assert tol[1] < 1e-3 * (p_own.var - post.var)


@pytest.mark.parametrize("p1, p2, eps, h", [
    (PRIOR, PRIOR, 1.0, 0.0),                       # equal players: means stay, variances shrink
    (Gaussian(30.0, 20.0), Gaussian(20.0, 40.0), 2.0, 0.0),
    (Gaussian(22.0, 9.0), Gaussian(27.0, 60.0), 0.5, 1.5),
    (Gaussian(40.0, 4.0), Gaussian(15.0, 4.0), 3.0, 0.0),  # a draw the model thought very unlikely
])
def test_draw_update_equals_quadrature_of_the_truncated_posterior(p1, p2, eps, h):
    q1, q2 = moment_matching_update(p1, p2, 0, PERF_VAR, draw_margin=eps, advantage=h)
    _check_against_quadrature(q1, p1, p2, -eps, eps, h, +1)
    _check_against_quadrature(q2, p2, p1, -eps, eps, h, -1)


@pytest.mark.parametrize("margin, width, cap, h", [(2, 3.0, None, 0.0), (-1, 4.0, 3, 1.0), (5, 3.0, 3, 0.5),
                                                   (0, 2.0, 3, 0.0), (-4, 2.5, None, 1.0)])
def test_margin_update_equals_quadrature(margin, width, cap, h):
    p1, p2 = Gaussian(27.0, 30.0), Gaussian(23.0, 45.0)
    q1, q2 = margin_update(p1, p2, margin, PERF_VAR, margin_width=width, margin_cap=cap, advantage=h)
    lo, hi = margin_interval(margin, width, cap)
    _check_against_quadrature(q1, p1, p2, lo, hi, h, +1)
    _check_against_quadrature(q2, p2, p1, lo, hi, h, -1)


def test_margin_intervals_by_hand():
    assert margin_interval(0, 2.0) == (-1.0, 1.0)
    assert margin_interval(1, 2.0) == (1.0, 3.0)
    assert margin_interval(-2, 2.0) == (-5.0, -3.0)
    assert margin_interval(4, 2.0, margin_cap=3) == (5.0, math.inf)
    assert margin_interval(-3, 2.0, margin_cap=3) == (-math.inf, -5.0)
    assert margin_interval(2, 2.0, margin_cap=3) == (3.0, 5.0)
    for bad, message in [(dict(margin=1, margin_width=0.0), "margin_width must be positive"),
                         (dict(margin=1.5, margin_width=1.0), "margin must be an integer"),
                         (dict(margin=1, margin_width=1.0, margin_cap=0), "margin_cap must be")]:
        with pytest.raises(ValueError, match=message):
            margin_interval(**bad)


def test_margin_update_reduces_to_the_draw_and_win_updates():
    p1, p2, w = Gaussian(28.0, 35.0), Gaussian(24.0, 50.0), 3.0
    # margin 0 is the draw with eps = w/2; a capped margin is a win with eps = w (cap - 1/2)
    pairs = [(margin_update(p1, p2, 0, PERF_VAR, margin_width=w),
              moment_matching_update(p1, p2, 0, PERF_VAR, draw_margin=w / 2)),
             (margin_update(p1, p2, -7, PERF_VAR, margin_width=w, margin_cap=2, advantage=0.7),
              moment_matching_update(p1, p2, -1, PERF_VAR, draw_margin=1.5 * w, advantage=0.7))]
    for got, want in pairs:
        for g, r in zip(got, want):
            assert (g.mean, g.var) == (r.mean, r.var)
    # and interval_update with (0, inf) is the base model's win update
    for g, r in zip(interval_update(p1, p2, 0.0, math.inf, PERF_VAR), moment_matching_update(p1, p2, 1, PERF_VAR)):
        assert (g.mean, g.var) == (r.mean, r.var)


@settings(max_examples=40, deadline=None)
@given(m1=st.floats(10, 40), m2=st.floats(10, 40), v1=st.floats(1, 80), v2=st.floats(1, 80),
       width=st.floats(0.5, 8), d=st.integers(0, 5))
def test_a_bigger_margin_moves_the_winner_further_up(m1, m2, v1, v2, width, d):
    p1, p2 = Gaussian(m1, v1), Gaussian(m2, v2)
    q1, q2 = margin_update(p1, p2, d, PERF_VAR, margin_width=width)
    r1, r2 = margin_update(p1, p2, d + 1, PERF_VAR, margin_width=width)
    # E[t | t in bin d] increases with d, and E[s1] increases with E[t] (E[s2] decreases)
    slack = rounding_tol(torch.float64, max(m1, m2) + 8 * math.sqrt(max(v1, v2)), ops=8)
    assert r1.mean >= q1.mean - slack and r2.mean <= q2.mean + slack
    assert q1.var <= p1.var and q2.var <= p2.var and r1.var <= p1.var


def _games(rows):
    return pd.DataFrame(rows, columns=["player1", "player2", "outcome", "margin"])


def test_adf_margin_model_uses_the_margin():
    narrow = adf(_games([("A", "B", 1, 1), ("A", "B", 1, 1)]), margin_width=2.0, skip_draws=False)
    wide = adf(_games([("A", "B", 1, 4), ("A", "B", 1, 1)]), margin_width=2.0, skip_draws=False)
    assert wide.ratings["A"].mean > narrow.ratings["A"].mean
    assert wide.predictions.p_win1.iloc[1] > narrow.predictions.p_win1.iloc[1]
    # the draw probability is that of the draw bin |t| < w/2
    first = narrow.predictions.iloc[0]
    assert first.p_draw == pytest.approx(special.ndtr(1.0 / math.sqrt(2 * PRIOR.var + PERF_VAR)) * 2 - 1, rel=1e-12)
    draw = adf(_games([("A", "B", 0, 0)]), margin_width=2.0, skip_draws=False)
    assert draw.ratings["A"].var < PRIOR.var  # draws update in the margin model


@pytest.mark.parametrize("kwargs, rows, message", [
    (dict(margin_width=2.0), [("A", "B", 1, 1)], "pass skip_draws=False"),
    (dict(margin_width=2.0, skip_draws=False, draw_margin=1.0), [("A", "B", 1, 1)], "leave draw_margin at 0"),
    (dict(margin_width=2.0, skip_draws=False, method="gibbs"), [("A", "B", 1, 1)], "moment_matching' only"),
    (dict(margin_width=2.0, skip_draws=False), [("A", "B", 1, -2)], "disagrees with outcome"),
    (dict(margin_width=-1.0, skip_draws=False), [("A", "B", 1, 1)], "margin_width must be"),
    (dict(margin_width=2.0, skip_draws=False, margin_cap=0), [("A", "B", 1, 1)], "margin_cap must be"),
])
def test_adf_margin_model_rejects_bad_input(kwargs, rows, message):
    with pytest.raises(ValueError, match=message):
        adf(_games(rows), **kwargs)
    with pytest.raises(ValueError, match="needs a 'margin' column"):
        adf(pd.DataFrame({"player1": ["A"], "player2": ["B"], "outcome": [1]}), margin_width=2.0, skip_draws=False)
