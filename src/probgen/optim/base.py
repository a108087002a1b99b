"""What every black-box optimiser shares: argument checks, the budgeted evaluator, the result.

Every optimiser in this package maximises ``objective(x) -> float`` over the box
``[lower, upper]^dim`` (default [-1, 1]^dim) with at most `budget` calls, draws
all its randomness from ``numpy.random.default_rng(seed)``, and returns an
`OptimResult` whose history has one row per call: (calls so far, best value so far).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

Objective = Callable[[np.ndarray], float]
MapFn = Callable[[Callable, Sequence], Iterable]


@dataclass
class OptimResult:
    """The outcome of one optimisation run.

    Attributes:
        method: name of the optimiser.
        best_x: (dim,) best point evaluated (inside the box).
        best_value: objective at `best_x`.
        n_calls: objective calls made (<= budget).
        history: (n_calls, 2) array; row i is (i + 1, best value among the first i + 1 calls).
        values: (n_calls,) objective value of every call, in call order.
        seed: the seed of the run.
        info: method-specific diagnostics (acceptance rates, step sizes, temperatures...).
    """

    method: str
    best_x: np.ndarray
    best_value: float
    n_calls: int
    history: np.ndarray
    values: np.ndarray
    seed: int
    info: dict = field(default_factory=dict)

    @property
    def calls(self) -> np.ndarray:
        """(n_calls,) call counts 1, 2, ..., n_calls."""
        return self.history[:, 0].astype(int)

    @property
    def best_so_far(self) -> np.ndarray:
        """(n_calls,) best value among the calls so far (non-decreasing)."""
        return self.history[:, 1]


def check_problem(dim, budget, seed, lower=-1.0, upper=1.0) -> tuple[int, int, int, float, float]:
    """Validate the arguments shared by every optimiser; raise ValueError naming the bad one."""
    for name, value, minimum in (("dim", dim, 1), ("budget", budget, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    for name, value in (("lower", lower), ("upper", upper)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{name}={value!r} must be a finite number")
    if not lower < upper:
        raise ValueError(f"lower={lower!r} must be smaller than upper={upper!r}")
    return int(dim), int(budget), int(seed), float(lower), float(upper)


def check_x0(x0, dim: int, lower: float, upper: float, rng: np.random.Generator) -> np.ndarray:
    """The start point: `x0` checked against the box, or a uniform draw from `rng` when None."""
    if x0 is None:
        return rng.uniform(lower, upper, dim)
    x = np.asarray(x0, dtype=np.float64)
    if x.shape != (dim,):
        raise ValueError(f"x0 has shape {x.shape}; expected ({dim},)")
    if not np.all(np.isfinite(x)) or np.any(x < lower) or np.any(x > upper):
        raise ValueError(f"x0 must be finite and inside [{lower}, {upper}]^{dim}")
    return x


def check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite number")
    return float(value)


def reflect(x: np.ndarray, lower: float = -1.0, upper: float = 1.0) -> np.ndarray:
    """Fold `x` into [lower, upper] by mirror reflection at the bounds (a periodic triangle wave).

    Reflection keeps a Gaussian random-walk proposal symmetric (the density of
    x -> y equals that of y -> x), which clipping would not.
    """
    width = upper - lower
    z = np.mod(np.asarray(x, dtype=np.float64) - lower, 2.0 * width)  # in [0, 2 width)
    return lower + np.where(z > width, 2.0 * width - z, z)


class Evaluator:
    """Calls the objective, counts calls against the budget and keeps the best-so-far history."""

    def __init__(self, objective: Objective, budget: int, map_fn: MapFn | None = None):
        if not callable(objective):
            raise ValueError(f"objective must be callable, got {type(objective).__name__}")
        self.objective = objective
        self.budget = budget
        self.map_fn = map_fn
        self.values: list[float] = []
        self.best_so_far: list[float] = []
        self.best_x: np.ndarray | None = None
        self.best_value = -math.inf

    @property
    def calls(self) -> int:
        return len(self.values)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.values)

    def __call__(self, x: np.ndarray) -> float:
        return float(self.many(np.asarray(x)[None, :])[0])

    def many(self, xs: np.ndarray) -> np.ndarray:
        """Evaluate the rows of `xs` (n, dim), with `map_fn` when given; n must fit the budget."""
        xs = np.asarray(xs, dtype=np.float64)
        if len(xs) > self.remaining:
            raise RuntimeError(f"{len(xs)} evaluations asked for with {self.remaining} left of the budget")
        points = [x.copy() for x in xs]  # the objective may not modify our copy
        if self.map_fn is None or len(points) == 1:
            raw = [self.objective(x) for x in points]
        else:
            raw = list(self.map_fn(self.objective, points))
        out = np.empty(len(points))
        for i, (x, value) in enumerate(zip(xs, raw)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"objective returned {value!r} (a {type(value).__name__}); expected a float") from None
            if math.isnan(value):
                raise ValueError(f"objective returned NaN at call {self.calls + 1}")
            self.values.append(value)
            if value > self.best_value:
                self.best_value, self.best_x = value, x.copy()
            self.best_so_far.append(self.best_value)
            out[i] = value
        return out

    def result(self, method: str, seed: int, **info) -> OptimResult:
        n = self.calls
        history = np.column_stack([np.arange(1, n + 1, dtype=np.float64), np.asarray(self.best_so_far)])  # (n, 2)
        return OptimResult(method=method, best_x=self.best_x, best_value=float(self.best_value), n_calls=n,
                           history=history, values=np.asarray(self.values), seed=seed, info=info)


@contextlib.contextmanager
def parallel_map(map_fn: MapFn | None = None, workers: int = 1):
    """Yield the map function an optimiser evaluates populations with.

    `map_fn` (e.g. ``pool.map`` of a pool you manage) wins; else `workers` > 1
    starts a ``multiprocessing`` pool (the "spawn" start method: safe with
    threads in the parent, but the objective must be picklable, e.g. a
    module-level function or a `functools.partial` of one) and closes it at the
    end; else None (serial). Results come back in order, so the run is the same
    as the serial one.
    """
    if map_fn is not None:
        if not callable(map_fn):
            raise ValueError(f"map_fn must be callable like map(fn, items), got {type(map_fn).__name__}")
        yield map_fn
        return
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"workers={workers!r} must be an integer >= 1")
    if workers == 1:
        yield None
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(int(workers)) as pool:
        yield pool.map
