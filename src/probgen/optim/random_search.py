"""Random search: the baseline every other optimiser has to beat."""

from __future__ import annotations

import numpy as np

from .base import Evaluator, MapFn, Objective, OptimResult, check_problem, parallel_map


def random_search(objective: Objective, dim: int, budget: int, seed: int = 0, *, lower: float = -1.0,
                  upper: float = 1.0, batch_size: int = 64, map_fn: MapFn | None = None,
                  workers: int = 1) -> OptimResult:
    """Evaluate `budget` points drawn independently and uniformly from the box; keep the best.

    Args:
        objective: x (dim,) -> float, maximised.
        dim, budget, seed: problem size, number of objective calls, seed of the draws.
        lower, upper: the box [lower, upper]^dim.
        batch_size: points handed to `map_fn` at a time (does not change the result).
        map_fn, workers: parallel evaluation, see `parallel_map`.
    """
    dim, budget, seed, lower, upper = check_problem(dim, budget, seed, lower, upper)
    rng = np.random.default_rng(seed)
    xs = rng.uniform(lower, upper, (budget, dim))  # all draws up front: the result ignores batching
    ev = Evaluator(objective, budget)
    with parallel_map(map_fn, workers) as mapper:
        ev.map_fn = mapper
        for start in range(0, budget, max(1, int(batch_size))):
            ev.many(xs[start:start + batch_size])
    return ev.result("random search", seed)
