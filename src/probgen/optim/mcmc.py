"""Random-walk Metropolis on the target p(x) ∝ exp(β f(x)) on the box, used as an optimiser."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .base import Evaluator, Objective, OptimResult, check_positive, check_problem, check_x0, reflect

TARGET_ACCEPT = 0.3  # within the 0.25-0.4 band; 0.234 is the high-dimensional optimum for Gaussian targets


def metropolis(objective: Objective, dim: int, budget: int, seed: int = 0, *, beta: float = 1.0,
               step: float = 0.1, burn_in: float | int = 0.2, target_accept: float = TARGET_ACCEPT,
               min_step: float = 1e-3, x0=None, lower: float = -1.0, upper: float = 1.0) -> OptimResult:
    """Random-walk Metropolis on exp(β f(x)) (a uniform prior on the box), keeping the best point seen.

    Proposal: y = reflect(x + step * ε), ε ~ N(0, I), folded back into the box
    by mirror reflection, which keeps the proposal symmetric; so y is accepted
    with probability min(1, exp(β (f(y) - f(x)))).

    Tuning: during the burn-in (the first `burn_in` proposals, a fraction of the
    budget if < 1) the step is adapted by a Robbins-Monro rule on its log,
    log step += k^(-0.6) (α_k - target_accept), where α_k is the k-th acceptance
    probability, driving the acceptance rate to `target_accept` (0.3), within
    [min_step, upper - lower]. After the
    burn-in the step is frozen, so the rest is a proper Metropolis chain.

    Args:
        objective: x (dim,) -> float, maximised; β f is the log target.
        dim, budget, seed: problem size, objective calls (the first is f(x0)), seed.
        beta: inverse temperature, in units of 1/objective (for the walker, 1/metre).
        step: initial proposal standard deviation per coordinate.
        burn_in: proposals spent tuning the step: a fraction of the budget (< 1) or a count.
        target_accept: acceptance rate the tuning aims at, in (0, 1).
        min_step: floor of the tuned step.
        x0: start point; None draws it uniformly from the box.

    Returns:
        `OptimResult`; `info` has the chain's values ("chain_values", one per
        call), the final step, and the acceptance rates during and after the burn-in.
    """
    dim, budget, seed, lower, upper = check_problem(dim, budget, seed, lower, upper)
    beta = check_positive("beta", beta)
    step = check_positive("step", step)
    min_step = check_positive("min_step", min_step)
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept={target_accept!r} must be in (0, 1)")
    n_burn = _burn_in_count(burn_in, budget)
    rng = np.random.default_rng(seed)
    x = check_x0(x0, dim, lower, upper, rng)
    ev = Evaluator(objective, budget)
    fx = ev(x)
    log_step = math.log(step)
    chain_values = [fx]
    accepted = [0, 0]  # during burn-in, after
    for k in range(1, budget):
        y = reflect(x + math.exp(log_step) * rng.standard_normal(dim), lower, upper)
        fy = ev(y)
        alpha = math.exp(min(0.0, beta * (fy - fx)))
        accept = rng.uniform() < alpha
        if accept:
            x, fx = y, fy
        if k <= n_burn:
            log_step += k ** -0.6 * (alpha - target_accept)
            # A step wider than the box is useless; a vanishing one freezes the chain (on a
            # discontinuous objective the acceptance rate stays low however small the step).
            log_step = min(max(log_step, math.log(min_step)), math.log(upper - lower))
        accepted[k > n_burn] += int(accept)
        chain_values.append(fx)
    n_after = budget - 1 - min(n_burn, budget - 1)
    return ev.result("metropolis", seed, beta=beta, final_step=math.exp(log_step), burn_in=n_burn,
                     accept_rate_burn_in=accepted[0] / max(1, min(n_burn, budget - 1)),
                     accept_rate=accepted[1] / n_after if n_after else float("nan"),
                     chain_values=np.asarray(chain_values), final_x=x)


def _burn_in_count(burn_in, budget: int) -> int:
    if isinstance(burn_in, bool) or not isinstance(burn_in, numbers.Real) or burn_in < 0:
        raise ValueError(f"burn_in={burn_in!r} must be a fraction in [0, 1) of the budget or a count >= 1")
    if burn_in < 1:
        return int(round(burn_in * budget))
    if not float(burn_in).is_integer():
        raise ValueError(f"burn_in={burn_in!r}: a count of proposals must be a whole number")
    return int(burn_in)
