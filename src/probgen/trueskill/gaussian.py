"""Gaussians, the closed forms of the two-player model, and truncated-Gaussian moments.

Model: s1 ~ N(mu1, var1), s2 ~ N(mu2, var2), t | s ~ N(s1 - s2 + h, perf_var),
y = sign(t) (a draw, with a margin eps, is |t| < eps). h is an optional
home / White advantage (0 in the base model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats


@dataclass(frozen=True)
class Gaussian:
    """A univariate Gaussian N(mean, var); `var` is the variance, not the standard deviation."""

    mean: float
    var: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.mean):
            raise ValueError(f"Gaussian mean must be finite, got {self.mean!r}")
        if not (np.isfinite(self.var) and self.var > 0):
            raise ValueError(f"Gaussian var must be positive and finite, got {self.var!r}")
        object.__setattr__(self, "mean", float(self.mean))
        object.__setattr__(self, "var", float(self.var))

    @property
    def std(self) -> float:
        return math.sqrt(self.var)

    @property
    def precision(self) -> float:
        return 1.0 / self.var

    def pdf(self, x):
        return stats.norm.pdf(x, self.mean, self.std)

    def __mul__(self, other: "Gaussian") -> "Gaussian":
        """Product of densities (unnormalised): precisions and precision-weighted means add."""
        prec = self.precision + other.precision
        return Gaussian((self.mean * self.precision + other.mean * other.precision) / prec, 1.0 / prec)

    def __truediv__(self, other: "Gaussian") -> "Gaussian":
        """Ratio of densities: precisions subtract (the result must still be a proper Gaussian)."""
        prec = self.precision - other.precision
        if prec <= 0:
            raise ValueError("the ratio of these Gaussians has non-positive precision")
        return Gaussian((self.mean * self.precision - other.mean * other.precision) / prec, 1.0 / prec)


def performance_difference(p1: Gaussian, p2: Gaussian, perf_var: float, advantage: float = 0.0) -> Gaussian:
    """The marginal of t: N(mu1 - mu2 + h, var1 + var2 + perf_var)."""
    _check_perf_var(perf_var)
    return Gaussian(p1.mean - p2.mean + advantage, p1.var + p2.var + perf_var)


def win_probability(p1: Gaussian, p2: Gaussian, perf_var: float, advantage: float = 0.0) -> float:
    """p(y = +1) = Phi((mu1 - mu2 + h) / sqrt(var1 + var2 + perf_var))."""
    t = performance_difference(p1, p2, perf_var, advantage)
    return float(special.ndtr(t.mean / t.std))


def outcome_probabilities(p1: Gaussian, p2: Gaussian, perf_var: float, draw_margin: float = 0.0,
                          advantage: float = 0.0) -> tuple[float, float, float]:
    """(p(player 1 wins), p(draw), p(player 2 wins)) with a draw meaning |t| < draw_margin."""
    if draw_margin < 0:
        raise ValueError(f"draw_margin must be >= 0, got {draw_margin!r}")
    t = performance_difference(p1, p2, perf_var, advantage)
    win1 = float(special.ndtr((t.mean - draw_margin) / t.std))
    win2 = float(special.ndtr((-draw_margin - t.mean) / t.std))
    return win1, max(0.0, 1.0 - win1 - win2), win2


def conditional_skills(t: float, p1: Gaussian, p2: Gaussian, perf_var: float,
                       advantage: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """p(s1, s2 | t, y) = N(m, C): C = (S^-1 + a a^T / perf_var)^-1, m = C (S^-1 mu + a (t - h) / perf_var).

    Returns (m (2,), C (2, 2)). y adds nothing once t is known.
    """
    _check_perf_var(perf_var)
    a = np.array([1.0, -1.0])
    prior_prec = np.diag([p1.precision, p2.precision])
    prec = prior_prec + np.outer(a, a) / perf_var
    cov = _inv_2x2_spd(prec)
    mean = cov @ (prior_prec @ np.array([p1.mean, p2.mean]) + a * (t - advantage) / perf_var)
    return mean, cov


def _inv_2x2_spd(m: np.ndarray) -> np.ndarray:
    # A 2x2 inverse in closed form (the Cholesky route is overkill here and this is exact).
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    return np.array([[m[1, 1], -m[0, 1]], [-m[1, 0], m[0, 0]]]) / det


def truncation_interval(outcome: int, draw_margin: float = 0.0) -> tuple[float, float]:
    """The set of t consistent with an outcome: (eps, inf), (-inf, -eps) or (-eps, eps)."""
    if outcome == 1:
        return draw_margin, math.inf
    if outcome == -1:
        return -math.inf, -draw_margin
    if outcome == 0:
        if draw_margin <= 0:
            raise ValueError("a draw (outcome 0) needs draw_margin > 0")
        return -draw_margin, draw_margin
    raise ValueError(f"outcome must be +1, -1 or 0 (draw), got {outcome!r}")


def margin_interval(margin: int, margin_width: float, margin_cap: int | None = None) -> tuple[float, float]:
    """The set of t consistent with a score margin d in the ordered-probit margin model.

    Margin d (player 1's score minus player 2's) means t in (w (d - 1/2), w (d + 1/2)) with
    w = margin_width: a draw is |t| < w/2, a one-goal win w/2 < t < 3w/2, and so on. With a
    cap c, every margin |d| >= c shares the open-ended bin |t| > w (c - 1/2).
    """
    if not (np.isfinite(margin_width) and margin_width > 0):
        raise ValueError(f"margin_width must be positive and finite, got {margin_width!r}")
    if margin_cap is not None and (int(margin_cap) != margin_cap or margin_cap < 1):
        raise ValueError(f"margin_cap must be a positive integer or None, got {margin_cap!r}")
    if int(margin) != margin:
        raise ValueError(f"margin must be an integer (a score difference), got {margin!r}")
    d = abs(int(margin))
    if margin_cap is not None and d >= margin_cap:
        lo, hi = margin_width * (margin_cap - 0.5), math.inf
    else:
        lo, hi = margin_width * (d - 0.5), margin_width * (d + 0.5)
    if d == 0:
        return lo, hi  # (-w/2, w/2), symmetric
    return (lo, hi) if margin > 0 else (-hi, -lo)


def conditional_t(s1: float, s2: float, outcome: int, perf_var: float, draw_margin: float = 0.0,
                  advantage: float = 0.0):
    """p(t | s1, s2, y): N(s1 - s2 + h, perf_var) truncated to the outcome's interval (a scipy truncnorm)."""
    _check_perf_var(perf_var)
    lo, hi = truncation_interval(outcome, draw_margin)
    mean, std = s1 - s2 + advantage, math.sqrt(perf_var)
    return stats.truncnorm((lo - mean) / std, (hi - mean) / std, loc=mean, scale=std)


def truncated_gaussian_moments(mean: float, var: float, lower: float = -math.inf,
                               upper: float = math.inf) -> tuple[float, float]:
    """Mean and variance of N(mean, var) truncated to [lower, upper], stable far in the tails.

    With a = (lower - m)/s, b = (upper - m)/s and Z = Phi(b) - Phi(a):
    E = m + s (phi(a) - phi(b)) / Z,
    Var = s^2 [1 + (a phi(a) - b phi(b)) / Z - ((phi(a) - phi(b)) / Z)^2].
    The ratios are formed in log space (log_ndtr), so a truncation many standard
    deviations away from the mean still gives finite moments: checked against
    80-digit arithmetic, the variance is accurate to ~1e-7 (relative) at 30
    standard deviations and ~1e-5 at 100; beyond ~1000 it is only a floor
    (cancellation in 1 + a phi(a)/Z - (phi(a)/Z)^2). ADF never gets near there.
    """
    if not var > 0:
        raise ValueError(f"var must be positive, got {var!r}")
    if not lower < upper:
        raise ValueError(f"need lower < upper, got [{lower}, {upper}]")
    s = math.sqrt(var)
    a, b = (lower - mean) / s, (upper - mean) / s
    if a > 0:  # reflect so that the interval is on the left tail side, where log_ndtr is accurate
        m, v = truncated_gaussian_moments(-mean, var, -upper, -lower)
        return -m, v
    log_z = _log_diff_ndtr(b, a)
    # phi(x) / Z in log space; phi(+-inf) = 0
    ra = math.exp(_log_phi(a) - log_z) if math.isfinite(a) else 0.0
    rb = math.exp(_log_phi(b) - log_z) if math.isfinite(b) else 0.0
    mean_std = ra - rb
    a_ra = a * ra if math.isfinite(a) else 0.0
    b_rb = b * rb if math.isfinite(b) else 0.0
    var_std = 1.0 + a_ra - b_rb - mean_std**2
    var_std = max(var_std, 1e-12)  # round-off only; the true value is positive
    return mean + s * mean_std, var * var_std


def _log_phi(x: float) -> float:
    return -0.5 * x * x - 0.5 * math.log(2 * math.pi)


def _log_diff_ndtr(b: float, a: float) -> float:
    """log(Phi(b) - Phi(a)) for a < b, a <= 0."""
    log_b = float(special.log_ndtr(b))
    log_a = float(special.log_ndtr(a))
    if log_a == -math.inf:
        return log_b
    return log_b + math.log1p(-math.exp(log_a - log_b))


def _check_perf_var(perf_var: float) -> None:
    if not (np.isfinite(perf_var) and perf_var > 0):
        raise ValueError(f"perf_var must be positive and finite, got {perf_var!r}")
