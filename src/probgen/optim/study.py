"""Run several optimisers over several seeds and tabulate their convergence."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .base import Objective, OptimResult


@dataclass
class StudyResult:
    """Tables of a study.

    Attributes:
        histories: tidy table, one row per (method, seed, call): method, seed, calls, best.
        runs: one row per (method, seed): best_value, n_calls, seconds.
        summary: one row per method: n_seeds, median, q25, q75, min, max of the final best.
        results: {(method, seed): OptimResult}, with the best plans.
    """

    histories: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    results: dict

    def best(self) -> OptimResult:
        """The single best run over every method and seed."""
        return max(self.results.values(), key=lambda r: r.best_value)


def run_study(methods: Mapping[str, Callable[..., OptimResult]], objective: Objective, *, dim: int, budget: int,
              seeds: Sequence[int], progress: Callable[[str], None] | None = None) -> StudyResult:
    """Run every method with every seed on `objective` and collect the tables.

    Args:
        methods: name -> optimiser, called as ``method(objective, dim, budget, seed)``
            (bind other options with `functools.partial`).
        objective: x (dim,) -> float, maximised.
        dim, budget: problem size and objective calls per run.
        seeds: the seeds; every method runs with each of them.
        progress: optional callable receiving one line per finished run.
    """
    if not methods:
        raise ValueError("methods is empty; give at least one name -> optimiser")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    histories, runs, results = [], [], {}
    for name, method in methods.items():
        for seed in seeds:
            start = time.perf_counter()
            res = method(objective, dim, budget, seed)
            seconds = time.perf_counter() - start
            results[(name, seed)] = res
            histories.append(pd.DataFrame({"method": name, "seed": seed, "calls": res.calls,
                                           "best": res.best_so_far}))
            runs.append({"method": name, "seed": seed, "best_value": res.best_value, "n_calls": res.n_calls,
                         "seconds": seconds})
            if progress is not None:
                progress(f"{name} seed={seed}: best {res.best_value:.4g} after {res.n_calls} calls, {seconds:.1f} s")
    runs = pd.DataFrame(runs)
    return StudyResult(histories=pd.concat(histories, ignore_index=True), runs=runs, summary=summarise(runs),
                       results=results)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Median, quartiles, range, mean and standard deviation over seeds of each method's final best value
    (methods in input order); "± mean (95%)" is 1.96 standard errors of the mean over seeds (sd/√n, NaN for
    one seed)."""
    g = runs.groupby("method", sort=False)["best_value"]
    out = pd.DataFrame({"n_seeds": g.size(), "median": g.median(), "q25": g.quantile(0.25),
                        "q75": g.quantile(0.75), "min": g.min(), "max": g.max(), "mean": g.mean(),
                        "sd": g.std(ddof=1)})
    out["± mean (95%)"] = 1.96 * out["sd"] / np.sqrt(out["n_seeds"])
    return out.reset_index()


def convergence_bands(histories: pd.DataFrame, calls: Sequence[int] | None = None) -> pd.DataFrame:
    """Median and quartiles over seeds of the best-so-far at the given call counts.

    Returns one row per (method, calls): method, calls, median, q25, q75, n_seeds
    (only the runs that reached that many calls).
    """
    if calls is None:
        n = int(histories["calls"].max())
        calls = np.unique(np.round(np.geomspace(1, n, num=min(n, 60))).astype(int))
    at = histories[histories["calls"].isin(list(calls))]
    g = at.groupby(["method", "calls"], sort=False)["best"]
    return pd.DataFrame({"median": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75),
                         "n_seeds": g.size()}).reset_index()


def plot_convergence(ax, histories: pd.DataFrame, calls: Sequence[int] | None = None, *, logx: bool = True):
    """Median best-so-far against objective calls, with the interquartile band over seeds, per method."""
    bands = convergence_bands(histories, calls)
    for method, b in bands.groupby("method", sort=False):
        line, = ax.plot(b["calls"], b["median"], label=method)
        ax.fill_between(b["calls"], b["q25"], b["q75"], color=line.get_color(), alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("objective calls")
    ax.set_ylabel("best value so far")
    ax.legend()
    return ax
