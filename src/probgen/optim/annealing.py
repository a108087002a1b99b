"""Simulated annealing: Metropolis moves at a temperature that decreases geometrically."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .base import Evaluator, Objective, OptimResult, check_positive, check_problem, check_x0, reflect

FINAL_TEMPERATURE_RATIO = 1e-3  # default schedule: T falls from T0 to T0 / 1000 over the budget


def simulated_annealing(objective: Objective, dim: int, budget: int, seed: int = 0, *,
                        t0: float | str = "auto", alpha: float | None = None, step: float = 0.1,
                        n_init: int | None = None, x0=None, lower: float = -1.0,
                        upper: float = 1.0) -> OptimResult:
    """Simulated annealing with the geometric schedule T_k = t0 * alpha^k (k = proposal index).

    Each proposal is y = reflect(x + step * ε), ε ~ N(0, I), accepted with
    probability min(1, exp((f(y) - f(x)) / T_k)).

    Schedule: `t0="auto"` (default) sets T0 to the standard deviation of f over
    `n_init` uniform random points (default min(20, budget // 10), at least 2),
    so that a typical worsening is accepted with probability about e^-1 at the
    start (T0 = 1 if they all tie); the run then starts from the best of these points (they count
    against the budget). `alpha=None` (default) sets
    alpha = (1e-3)^(1 / (number of proposals - 1)), so that the last proposal
    runs at T0 / 1000.
    A float `t0` starts from `x0` (uniform draw when None) with no initial sample.

    Args:
        objective: x (dim,) -> float, maximised.
        dim, budget, seed: problem size, objective calls, seed.
        t0: initial temperature (objective units) or "auto".
        alpha: cooling factor per proposal, in (0, 1]; None: see above.
        step: proposal standard deviation per coordinate (fixed).
        n_init: points of the "auto" temperature estimate.
        x0: start point when t0 is a number.

    Returns:
        `OptimResult`; `info` has t0, alpha, the final temperature, the acceptance
        rate and the chain's values ("chain_values", one per proposal).
    """
    dim, budget, seed, lower, upper = check_problem(dim, budget, seed, lower, upper)
    step = check_positive("step", step)
    rng = np.random.default_rng(seed)
    ev = Evaluator(objective, budget)
    if isinstance(t0, str):
        if t0 != "auto":
            raise ValueError(f"t0={t0!r} must be a positive number or 'auto'")
        if x0 is not None:
            raise ValueError("x0 is only used with a numeric t0; t0='auto' starts from the best initial point")
        n = min(budget, max(2, min(20, budget // 10))) if n_init is None else n_init
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= budget:
            raise ValueError(f"n_init={n_init!r} must be an integer between 1 and the budget ({budget})")
        values = ev.many(rng.uniform(lower, upper, (n, dim)))
        spread = float(np.std(values))
        t0 = spread if spread > 0 else 1.0
        x, fx = ev.best_x.copy(), ev.best_value
    else:
        t0 = check_positive("t0", t0)
        x = check_x0(x0, dim, lower, upper, rng)
        fx = ev(x)
    n_moves = ev.remaining
    if alpha is None:
        alpha = FINAL_TEMPERATURE_RATIO ** (1.0 / max(1, n_moves - 1))  # the last move runs at T0 / 1000
    elif not 0 < alpha <= 1:
        raise ValueError(f"alpha={alpha!r} must be in (0, 1]")
    temperature = t0
    accepted = 0
    chain_values = []
    for _ in range(n_moves):
        y = reflect(x + step * rng.standard_normal(dim), lower, upper)
        fy = ev(y)
        if fy >= fx or rng.uniform() < math.exp((fy - fx) / temperature):
            x, fx = y, fy
            accepted += 1
        chain_values.append(fx)
        temperature *= alpha
    last_temperature = temperature / alpha if n_moves else t0  # the temperature of the last move
    return ev.result("simulated annealing", seed, t0=t0, alpha=alpha, final_temperature=last_temperature,
                     accept_rate=accepted / n_moves if n_moves else float("nan"),
                     chain_values=np.asarray(chain_values), final_x=x)
