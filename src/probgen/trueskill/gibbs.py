"""Gibbs sampling of p(s1, s2, t | y) for one match."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .gaussian import Gaussian, conditional_skills, truncation_interval


def gibbs_sample(p1: Gaussian, p2: Gaussian, outcome: int, perf_var: float, n_samples: int, burn_in: int = 0,
                 seed: int | None = 0, *, init: tuple[float, float] | None = None, draw_margin: float = 0.0,
                 advantage: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw from p(s1, s2, t | y) by alternating the two exact conditionals.

    t | s, y is a truncated Gaussian (drawn by inverting its CDF); s | t is the
    2-D Gaussian of `conditional_skills`, whose covariance does not depend on t
    (so its Cholesky factor is computed once).

    Args:
        outcome: +1 (player 1 won), -1 (player 2 won), or 0 (draw; needs draw_margin > 0).
        n_samples: samples kept after `burn_in` discarded iterations.
        init: starting skills (s1, s2); default the prior means.
    Returns:
        (s1, s2, t), each of shape (n_samples,).
    """
    if n_samples < 1 or burn_in < 0:
        raise ValueError(f"need n_samples >= 1 and burn_in >= 0, got {n_samples}, {burn_in}")
    lo, hi = truncation_interval(outcome, draw_margin)
    rng = np.random.default_rng(seed)
    mean_at_zero, cov = conditional_skills(0.0, p1, p2, perf_var, advantage)
    # m(t) = mean_at_zero + gain * t: the conditional mean is linear in t.
    gain = conditional_skills(1.0, p1, p2, perf_var, advantage)[0] - mean_at_zero
    chol = np.linalg.cholesky(cov)
    total = burn_in + n_samples
    normals = rng.standard_normal((total, 2))
    uniforms = rng.random(total)
    t_std = math.sqrt(perf_var)
    s = np.array(init if init is not None else (p1.mean, p2.mean), dtype=float)
    out = np.empty((total, 3))
    for i in range(total):
        # t | s, y: inverse-CDF draw from N(s1 - s2 + h, perf_var) truncated to [lo, hi]
        mu_t = s[0] - s[1] + advantage
        t = _truncated_normal_draw(mu_t, t_std, lo, hi, uniforms[i])
        # s | t: exact Gaussian draw
        s = mean_at_zero + gain * t + chol @ normals[i]
        out[i] = (s[0], s[1], t)
    kept = out[burn_in:]
    return kept[:, 0].copy(), kept[:, 1].copy(), kept[:, 2].copy()


def _truncated_normal_draw(mean: float, std: float, lo: float, hi: float, u: float) -> float:
    """One draw of N(mean, std^2) on [lo, hi] by inverting the CDF, in the upper or lower tail
    whichever keeps the arithmetic accurate."""
    a, b = (lo - mean) / std, (hi - mean) / std
    if a > 0:  # mirror so the interval lies on the lower side, where ndtr has full precision
        return -_truncated_normal_draw(-mean, std, -hi, -lo, u)
    ca, cb = special.ndtr(a), special.ndtr(b)
    if cb - ca > 1e-12:
        z = special.ndtri(ca + u * (cb - ca))
    else:  # far tail: Phi(z) = Phi(b) (r + u (1 - r)) with r = Phi(a) / Phi(b), in log space
        la, lb = special.log_ndtr(a), special.log_ndtr(b)
        r = np.exp(la - lb)
        z = special.ndtri_exp(lb + np.log(r + u * (1.0 - r)))
    return mean + std * float(np.clip(z, a, b))


def gaussian_from_samples(samples) -> Gaussian:
    """The Gaussian with the samples' mean and (unbiased) variance: ADF's projection of a sample."""
    samples = np.asarray(samples, dtype=float)
    if samples.size < 2:
        raise ValueError("need at least two samples to fit a Gaussian")
    return Gaussian(float(samples.mean()), float(samples.var(ddof=1)))
