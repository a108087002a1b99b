"""CMA-ES (μ/μ_w, λ) with cumulative step-size adaptation, rank-one and rank-μ covariance updates.

The update equations and default constants are those of N. Hansen, "The CMA
Evolution Strategy: A Tutorial" (arXiv:1604.00772), Table 1, written for
maximisation. The box is handled by optimising g(y) = f(reflect(y)) over all
of R^dim: every evaluated point lies in the box, and g is continuous, so an
optimum on a bound is as reachable as one inside.
"""

from __future__ import annotations

import math

import numpy as np

from .base import (Evaluator, MapFn, Objective, OptimResult, check_positive, check_problem, check_x0, parallel_map,
                   reflect)


def cmaes(objective: Objective, dim: int, budget: int, seed: int = 0, *, sigma0: float = 0.3,
          popsize: int | None = None, x0=None, lower: float = -1.0, upper: float = 1.0,
          map_fn: MapFn | None = None, workers: int = 1) -> OptimResult:
    """Maximise `objective` on the box with CMA-ES; a generation's λ points are evaluated together.

    Args:
        objective: x (dim,) -> float, maximised.
        dim, budget, seed: problem size, objective calls, seed.
        sigma0: initial step size, in units of the box's half-width (0.3: a third of the way to a bound).
        popsize: λ, points per generation; default 4 + floor(3 ln dim) (15 for dim = 40); μ = λ // 2 parents.
        x0: initial mean; None draws it uniformly from the box.
        map_fn, workers: evaluate each generation in parallel, see `parallel_map`.

    Returns:
        `OptimResult`; `info` has popsize, generations, the final step size
        and mean, and "sigma" (the step size of each generation). The last
        generation is cut short (and not used for an update) when the budget
        runs out in the middle of it.
    """
    dim, budget, seed, lower, upper = check_problem(dim, budget, seed, lower, upper)
    sigma = check_positive("sigma0", sigma0) * (upper - lower) / 2
    n = dim
    lam = 4 + int(3 * math.log(n)) if popsize is None else int(popsize)
    if lam < 2:
        raise ValueError(f"popsize={popsize!r} must be at least 2")
    mu = lam // 2
    w = math.log(mu + 0.5) - np.log(np.arange(1, mu + 1))  # (mu,) positive recombination weights
    w /= w.sum()
    mueff = 1.0 / np.sum(w ** 2)
    cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
    cs = (mueff + 2) / (n + mueff + 5)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
    damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n ** 2))  # E||N(0, I)||

    rng = np.random.default_rng(seed)
    mean = check_x0(x0, dim, lower, upper, rng)
    pc, ps = np.zeros(n), np.zeros(n)
    C = np.eye(n)
    B, D = np.eye(n), np.ones(n)  # C = B diag(D^2) B^T
    ev = Evaluator(objective, budget)
    sigmas = []
    generation = 0
    with parallel_map(map_fn, workers) as mapper:
        ev.map_fn = mapper
        while ev.remaining > 0:
            z = rng.standard_normal((lam, n))  # (lam, n)
            y = (z * D) @ B.T  # (lam, n) ~ N(0, C)
            cand = mean + sigma * y  # (lam, n) in the unbounded search space
            k = min(lam, ev.remaining)
            f = ev.many(reflect(cand[:k], lower, upper))
            sigmas.append(sigma)
            if k < lam:
                break
            generation += 1
            order = np.argsort(-f, kind="stable")[:mu]  # best first (maximisation)
            y_sel = y[order]  # (mu, n)
            y_w = w @ y_sel  # (n,)
            mean = mean + sigma * y_w
            # C^(-1/2) y_w = B diag(1/D) B^T y_w
            c_inv_sqrt_y = B @ ((B.T @ y_w) / D)
            ps = (1 - cs) * ps + math.sqrt(cs * (2 - cs) * mueff) * c_inv_sqrt_y
            h_sig = np.linalg.norm(ps) / math.sqrt(1 - (1 - cs) ** (2 * generation)) / chi_n < 1.4 + 2 / (n + 1)
            pc = (1 - cc) * pc + h_sig * math.sqrt(cc * (2 - cc) * mueff) * y_w
            rank_mu = (y_sel.T * w) @ y_sel  # (n, n) sum_i w_i y_i y_i^T
            C = ((1 - c1 - cmu) * C + c1 * (np.outer(pc, pc) + (1 - h_sig) * cc * (2 - cc) * C)
                 + cmu * rank_mu)
            sigma *= math.exp((cs / damps) * (np.linalg.norm(ps) / chi_n - 1))
            C = (C + C.T) / 2
            eigvals, B = np.linalg.eigh(C)
            D = np.sqrt(np.maximum(eigvals, 1e-20))
            # g is periodic (period 2 * width in each coordinate): shift the mean by whole
            # periods into the window centred on the box; this changes nothing evaluated.
            width = upper - lower
            start = (lower + upper) / 2 - width
            mean = start + np.mod(mean - start, 2 * width)
    return ev.result("CMA-ES", seed, popsize=lam, mu=mu, generations=generation, final_sigma=sigma,
                     final_mean=reflect(mean, lower, upper), sigma=np.asarray(sigmas))
