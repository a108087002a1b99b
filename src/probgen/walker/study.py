"""The walker chapter's experiment: four black-box optimisers over several seeds, configured by profile.

Each (method, seed) run is cached on its own (a JSON file keyed by the full
configuration), so an interrupted study resumes with the runs it has not done.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..checkpoints import cached_json, config_dict
from ..optim import cmaes, metropolis, random_search, simulated_annealing
from ..optim.study import summarise
from ..reporting import compare, rank
from ..stats import Estimate
from ..runtime import ConfigError, ProfileConfig, progress as progress_bar
from .sim import DEFAULT_PARAMS, N_PHASES, PLAN_SIZE, check_plan, distance, simulate

METHOD_NAMES = ("random search", "Metropolis", "simulated annealing", "CMA-ES")
# Settings that do not change what one optimiser run computes (so a run is shared across profiles).
NOT_IN_RUN_KEY = ("profile", "seed", "n_seeds", "robustness_draws", "robustness_sigma")


@dataclass(frozen=True)
class WalkerStudyConfig(ProfileConfig):
    """Budgets, seeds and optimiser settings of the walker chapter."""

    PROFILES = {
        "smoke": dict(budget=120, n_seeds=2, seconds=5.0, robustness_draws=5),
        "quick": dict(budget=2_000, n_seeds=5, seconds=10.0, robustness_draws=20),
        "full": dict(budget=10_000, n_seeds=10, seconds=10.0, robustness_draws=50),
    }

    budget: int = 120  # simulator calls per run
    n_seeds: int = 2  # runs per method, seeds seed, seed+1, ...
    seconds: float = 5.0  # simulated time limit of one run
    beta: float = 10.0  # Metropolis: target ∝ exp(beta · distance), distance in metres
    metropolis_step: float = 0.1  # initial proposal sd, tuned during the first 20% of the budget
    annealing_step: float = 0.1  # simulated annealing proposal sd
    cmaes_sigma0: float = 0.3  # CMA-ES initial step size (the box is [-1, 1]^40)
    robustness_sigma: float = 0.01  # sd of the perturbations in the robustness check
    robustness_draws: int = 5

    def validate(self) -> None:
        for name in ("budget", "n_seeds", "robustness_draws"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")
        for name in ("seconds", "beta", "metropolis_step", "annealing_step", "cmaes_sigma0", "robustness_sigma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be positive")

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.n_seeds))

    def objective(self):
        """The simulator as a function plan -> distance (a picklable partial)."""
        return functools.partial(distance, seconds=self.seconds, params=DEFAULT_PARAMS)

    def methods(self) -> dict:
        """Method name -> optimiser(objective, dim, budget, seed), with this config's settings bound."""
        return {
            "random search": random_search,
            "Metropolis": functools.partial(metropolis, beta=self.beta, step=self.metropolis_step),
            "simulated annealing": functools.partial(simulated_annealing, step=self.annealing_step),
            "CMA-ES": functools.partial(cmaes, sigma0=self.cmaes_sigma0),
        }


def run_one(cfg: WalkerStudyConfig, method: str, seed: int, *, log=print) -> dict:
    """One optimiser run (cached): best plan and distance, the best-so-far history and diagnostics."""
    settings = {k: v for k, v in config_dict(cfg).items() if k not in NOT_IN_RUN_KEY}
    key = {**settings, "method": method, "run_seed": seed, "walker_params": config_dict(DEFAULT_PARAMS)}

    def compute():
        start = time.perf_counter()
        res = cfg.methods()[method](cfg.objective(), PLAN_SIZE, cfg.budget, seed)
        return {"method": method, "seed": seed, "best_value": float(res.best_value),
                "best_x": [float(v) for v in res.best_x], "n_calls": int(res.n_calls),
                "best_so_far": [float(v) for v in res.best_so_far], "seconds": time.perf_counter() - start,
                "info": {k: v for k, v in res.info.items() if isinstance(v, (int, float, str))}}

    return cached_json("walker_run", key, compute, log=log)


def run_study(cfg: WalkerStudyConfig, *, log=print, progress: bool = True) -> dict:
    """Every method with every seed. Returns runs (DataFrame), histories (tidy DataFrame), summary, results."""

    jobs = [(m, s) for m in METHOD_NAMES for s in cfg.seeds]
    results = {}
    for method, seed in progress_bar(jobs, desc="walker study", enabled=progress):
        results[(method, seed)] = run_one(cfg, method, seed, log=lambda m: None)
    runs = pd.DataFrame([{"method": r["method"], "seed": r["seed"], "best_value": r["best_value"],
                          "n_calls": r["n_calls"], "seconds": r["seconds"]} for r in results.values()])
    histories = pd.concat([pd.DataFrame({"method": r["method"], "seed": r["seed"],
                                         "calls": np.arange(1, len(r["best_so_far"]) + 1),
                                         "best": r["best_so_far"]}) for r in results.values()], ignore_index=True)
    return {"runs": runs, "histories": histories, "summary": summarise(runs), "results": results}


# ----- the chapter's sentences about its results, from the spread over seeds ---------------------------------


def method_estimates(runs: pd.DataFrame) -> dict[str, Estimate]:
    """Method -> the mean over seeds of its final best distance, with the standard error sd/√n_seeds."""
    out = {}
    for name, g in runs.groupby("method", sort=False)["best_value"]:
        if len(g) < 2:
            raise ValueError(f"{name}: a spread over seeds needs at least 2 seeds, got {len(g)}")
        out[name] = Estimate.of_mean(g.to_numpy())
    return out


def median_se(values) -> float:
    """The standard error of a median over seeds, √(π/2)·sd/√n (its large-n value for normal data; 0 for one
    value)."""
    x = np.asarray(values, dtype=float)
    return 0.0 if len(x) < 2 else float(np.sqrt(np.pi / 2) * x.std(ddof=1) / np.sqrt(len(x)))


def method_verdicts(runs: pd.DataFrame) -> dict[str, str]:
    """The chapter's sentences on how the optimisers compare, from the spread of their best distances over seeds.

    Args:
        runs: one row per (method, seed) with method and best_value (`run_study`'s "runs").
    Returns:
        {"best": name of the method with the highest mean,
         "ranking": the `reporting.rank` sentence over the methods' means ± their standard errors,
         "pairs": how many of the pairwise differences between methods are resolved at these seeds,
         "spread": the spread between seeds against the differences between methods,
         "random": random search against the best other method}.
    """
    est = method_estimates(runs)
    n_seeds = int(runs.groupby("method").size().min())
    best, ranking = rank(est, quantity="mean distance over seeds", better="higher", unit="m")
    names = list(est)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    resolved = [compare(est[a], est[b], names=(a, b), quantity="mean distance over seeds").sign != 0 for a, b in pairs]
    k = sum(resolved)
    pair_text = (f"{k} of the {len(pairs)} pairwise differences between the methods' means are resolved "
                 f"with {n_seeds} seeds per method" if k else
                 f"none of the {len(pairs)} pairwise differences between the methods' means is resolved with "
                 f"{n_seeds} seeds per method")
    sd = runs.groupby("method", sort=False)["best_value"].std(ddof=1)
    means = np.array([e.value for e in est.values()])
    largest_gap = float(means.max() - means.min())
    widest = sd.idxmax()
    relation = "larger than" if sd.max() > largest_gap else "smaller than"
    spread = (f"the standard deviation between seeds reaches {sd.max():.2f} m ({widest}), {relation} the largest "
              f"difference between two methods' means, {largest_gap:.2f} m; {pair_text}")
    others = {k_: e for k_, e in est.items() if k_ != "random search"}
    random_text = ""
    if "random search" in est and others:
        top = max(others, key=lambda n: others[n].value)
        random_text = compare(est["random search"], est[top], names=("random search", top),
                              quantity="mean distance over seeds", unit="m", tie=f"with {n_seeds} seeds").sentence
    return {"best": best, "ranking": ranking, "pairs": pair_text, "spread": spread, "random": random_text}


def acceptance_sentence(rates, target: float = 0.3) -> str:
    """The Metropolis chains' acceptance rates after burn-in (one per seed) against the rate the step adaptation
    aims at: below, above, or not told apart from it (the median's standard error over seeds)."""
    rates = np.asarray(rates, dtype=float)
    if rates.ndim != 1 or len(rates) == 0:
        raise ValueError(f"need one acceptance rate per run, got {rates!r}")
    med = Estimate(float(np.median(rates)), median_se(rates))
    v = compare(med, Estimate(target), names=("the median", "the target"), quantity="acceptance rate")
    where = {1: "above", -1: "below", 0: "not told apart from"}[v.sign]
    text = (f"it accepts a median {med.value:.1%} of proposals after burn-in, {where} the {target:.0%} its step "
            f"adaptation aims at")
    if v.sign < 0:
        text += ": on this jagged objective a step large enough to move is seldom accepted"
    return text


def robustness_sentence(robust: pd.DataFrame) -> str:
    """What the perturbed copies did, from the robustness table (method, best distance, perturbed: min/max)."""
    losses = robust["best distance"] - robust["perturbed: min"]
    gains = robust["perturbed: max"] - robust["best distance"]
    lost = robust.loc[losses.idxmax(), "method"]
    gainer = robust.loc[gains.idxmax(), "method"]
    gained = "" if gains.max() <= 0 else f" and one gains up to {gains.max():.2f} m ({gainer})"
    return f"a single perturbed copy loses up to {losses.max():.2f} m ({lost}){gained}"


def robustness(cfg: WalkerStudyConfig, plan, *, seed: int = 0) -> np.ndarray:
    """Distances of `robustness_draws` copies of `plan` perturbed by N(0, robustness_sigma²), clipped to [-1, 1]."""
    rng = np.random.default_rng(seed)
    plan = np.asarray(plan, dtype=float)
    objective = cfg.objective()
    noisy = np.clip(plan + cfg.robustness_sigma * rng.standard_normal((cfg.robustness_draws, plan.size)), -1.0, 1.0)
    return np.array([objective(p) for p in noisy])


def best_run(study: dict) -> dict:
    """The single best (method, seed) run of a study."""
    return max(study["results"].values(), key=lambda r: r["best_value"])


def best_per_method(study: dict) -> dict[str, dict]:
    """Method -> its best run over seeds (ties go to the lower seed), in the order of `METHOD_NAMES`."""
    out = {}
    for name in METHOD_NAMES:
        runs = sorted((r for r in study["results"].values() if r["method"] == name), key=lambda r: r["seed"])
        if runs:
            out[name] = max(runs, key=lambda r: r["best_value"])
    if not out:
        raise ValueError(f"the study has no runs of any of {METHOD_NAMES}")
    return out


def plan_table(plans: dict[str, object], params=DEFAULT_PARAMS) -> pd.DataFrame:
    """Plans as numbers: one row per phase of the gait cycle, a hip and a knee column per plan.

    Row p (p = 1..20, counted from one as in the book's figures) holds the commands of the p-th
    phase, which starts (p − 1)·phase_seconds into the cycle: plan[p − 1] (hip) and plan[19 + p]
    (knee) of each plan, as in `walker.sim`.

    Args:
        plans: name -> plan (40 numbers in [-1, 1]; checked with `check_plan`).
        params: the simulator settings that give the phase length.
    Returns:
        DataFrame with columns "phase", "starts at (s)", then "<name>: hip", "<name>: knee" per plan.
    """
    if not plans:
        raise ValueError("plan_table needs at least one plan")
    table = pd.DataFrame({"phase": np.arange(1, N_PHASES + 1),
                          "starts at (s)": np.arange(N_PHASES) * params.phase_seconds})
    for name, plan in plans.items():
        u = check_plan(plan)
        table[f"{name}: hip"] = u[:N_PHASES]
        table[f"{name}: knee"] = u[N_PHASES:]
    return table


def replay(cfg: WalkerStudyConfig, plan, record_every: int = 4):
    """Simulate `plan` again with frames recorded (for the figures)."""
    return simulate(plan, seconds=cfg.seconds, record=True, record_every=record_every)
