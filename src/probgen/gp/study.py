"""The experiments of the GP chapter, configured by profile.

The notebook calls these; each returns plain tables or tensors so the notebook
only plots and comments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from ..checkpoints import train_or_load
from ..runtime import ConfigError, ProfileConfig, check_choice
from ..stats import Estimate
from . import fitting, nuts
from .data import SIGMA_X2, SIGMA_Y2, NoisyInputData, true_f
from .kernels import SquaredExponential, central_difference
from .regression import sample_joint_f_df


@dataclass(frozen=True)
class GPConfig(ProfileConfig):
    """Sizes of the GP chapter's fits and of the NUTS run."""

    PROFILES = {
        "smoke": dict(grid_points=12, refine_points=7, gradient_starts=3, nuts_chains=2, nuts_warmup=100,
                      nuts_draws=100, averaged_draws=50),
        "quick": dict(grid_points=40, refine_points=21, gradient_starts=8, nuts_chains=4, nuts_warmup=1000,
                      nuts_draws=3000, averaged_draws=1000, nuts_extensions=2),
        "full": dict(grid_points=60, refine_points=31, gradient_starts=16, nuts_chains=4, nuts_warmup=2000,
                     nuts_draws=5000, averaged_draws=4000, nuts_extensions=2),
    }

    sigma_x2: float = SIGMA_X2  # prior variance of each Δ_i
    sigma_y2: float = SIGMA_Y2  # the fixed noise variance of B.1 (b), (c)
    n_test: int = 100  # evenly spaced prediction points in [−1, 1]
    grid_points: int = 12  # per fitted parameter, log-spaced over fitting.BOUNDS
    refine_points: int = 7  # per parameter in the fine grid around the coarse optimum
    gradient_starts: int = 3  # random starts of L-BFGS
    nuts_chains: int = 2
    nuts_warmup: int = 100
    nuts_draws: int = 100  # per chain, after warm-up
    target_accept: float = 0.8
    nuts_init: str = "prior"  # "prior": chains start at prior draws; "uniform": Pyro's default (−2, 2)
    averaged_draws: int = 50  # Δ draws (thinned evenly) averaged into the posterior of f
    scatter_pair: tuple = (9, 10)  # 0-based; rows 10 and 11 of the file, whose true Δ are −0.25 and +0.25
    rhat_max: float = 1.01  # convergence required in quick and full
    nuts_extensions: int = 0  # times the chains are drawn again with twice the draws while not converged
    ess_min: float = 400.0

    def validate(self) -> None:
        for name in ("sigma_x2", "sigma_y2", "target_accept"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be positive")
        check_choice("nuts_init", self.nuts_init, tuple(nuts.INITS))
        if not self.target_accept < 1:
            raise ConfigError(f"target_accept={self.target_accept!r} must be below 1")
        if int(self.nuts_extensions) < 0:
            raise ConfigError(f"nuts_extensions={self.nuts_extensions!r} must be 0 or more")
        for name in ("n_test", "grid_points", "refine_points", "gradient_starts", "nuts_chains", "nuts_warmup",
                     "nuts_draws", "averaged_draws"):
            if int(getattr(self, name)) < 2 and name not in ("gradient_starts", "nuts_chains"):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 2")
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")

    @property
    def x_star(self) -> torch.Tensor:
        return torch.linspace(-1.0, 1.0, self.n_test, dtype=torch.float64)

    def variants(self) -> dict[str, fitting.Variant]:
        """The four variants, with this config's σ_y² as the fixed noise of B.1 (b) and (c)."""
        return {k: fitting.Variant(v.key, v.label, v.model, v.inputs,
                                   {p: self.sigma_y2 for p in v.fixed})
                for k, v in fitting.VARIANTS.items()}


def fit_all(cfg: GPConfig, data: NoisyInputData) -> tuple[dict[str, fitting.Fit], pd.DataFrame, dict]:
    """Fit every variant by gradient and by grid search.

    Returns the gradient fits (what the book uses), a table of both methods
    side by side, and the grid results (for the likelihood-surface figure).
    """
    fits, grids, rows = {}, {}, []
    for key, variant in cfg.variants().items():
        fits[key] = fitting.fit_gradient(variant, data, starts=cfg.gradient_starts, seed=cfg.seed)
        grids[key] = fitting.fit_grid(variant, data, points=cfg.grid_points, refine_points=cfg.refine_points)
        for fit in (fits[key], grids[key].fit):
            rows.append({**fit.row(), "variant": variant.label, "fitted": ", ".join(variant.free)})
    columns = ["variant", "fitted", "method", *fitting.PARAMS, "log marginal likelihood", "evaluations"]
    return fits, pd.DataFrame(rows)[columns], grids


def agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per variant: the largest relative difference of a parameter and the difference of log marginal likelihoods."""
    rows = []
    for variant, group in table.groupby("variant", sort=False):
        grad, grid = group.iloc[0], group.iloc[1]
        rel = max(abs(grad[p] - grid[p]) / abs(grad[p]) for p in fitting.PARAMS)
        rows.append({"variant": variant, "max relative parameter difference": rel,
                     "Δ log marginal likelihood (gradient − grid)": grad["log marginal likelihood"]
                     - grid["log marginal likelihood"]})
    return pd.DataFrame(rows)


def joint_prior_check(kernel: SquaredExponential, n: int = 100, seed: int = 0) -> dict:
    """One draw of (f, f') on n points in [−1, 1] and its check against central differences of f."""
    x = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    f, df = sample_joint_f_df(kernel, x, generator=torch.Generator().manual_seed(seed))
    fd = central_difference(f, x)
    rmse = float((fd - df[1:-1]).square().mean().sqrt())
    return {"x": x, "f": f, "df": df, "central_difference": fd,
            "rmse": rmse, "df_rms": float(df.square().mean().sqrt())}


@dataclass(frozen=True)
class _NutsKey:
    """What the cached NUTS draws depend on (the data enter through their values)."""

    x: tuple
    y: tuple
    lengthscale: float
    variance: float
    noise_var: float
    sigma_x2: float
    chains: int
    warmup: int
    draws: int
    target_accept: float
    init: str
    seed: int


def sample_delta_posterior(cfg: GPConfig, data: NoisyInputData, fit: fitting.Fit, *, progress: bool = True,
                           log=print):
    """NUTS draws of p(Δ | X, y, θ, σ_y², σ_x²) with θ, σ_y² from `fit`, as ArviZ InferenceData.

    Cached under a hash of data, parameters and sampler settings; each finished
    chain is saved, so an interrupted run resumes at the next chain.
    """
    p = fit.params
    key = _NutsKey(tuple(data.x.tolist()), tuple(data.y.tolist()), p["lengthscale"], p["variance"],
                   p["noise_var"], cfg.sigma_x2, cfg.nuts_chains, cfg.nuts_warmup, cfg.nuts_draws,
                   cfg.target_accept, cfg.nuts_init, cfg.seed)
    kernel = SquaredExponential(p["lengthscale"], p["variance"])

    def train(resume, save):
        done = dict(resume["state"]) if resume else {"delta": [], "diverging": [], "seconds": []}
        done = {k: list(v) for k, v in done.items()}
        for chain in range(len(done["delta"]), cfg.nuts_chains):
            log(f"NUTS chain {chain + 1}/{cfg.nuts_chains}: {cfg.nuts_warmup} warm-up + {cfg.nuts_draws} draws")
            run = nuts.run_chain(data.x, data.y, kernel, p["noise_var"], cfg.sigma_x2, warmup=cfg.nuts_warmup,
                                 draws=cfg.nuts_draws, seed=cfg.seed + chain, target_accept=cfg.target_accept,
                                 init=cfg.nuts_init, progress=progress)
            done["delta"].append(run["delta"])
            done["diverging"].append(run["diverging"])
            done["seconds"].append(torch.tensor(run["seconds"], dtype=torch.float64))
            if chain + 1 < cfg.nuts_chains:
                save(_stacked(done), chain + 1)
        return _stacked(done), cfg.nuts_chains, {"seconds": float(sum(float(s) for s in done["seconds"]))}

    payload = train_or_load("gp_nuts", key, train, log=log)
    state = payload["state"]
    return nuts.to_inference_data(state["delta"].numpy(), state["diverging"].numpy(),
                                  sampling_seconds=payload["metrics"]["seconds"])


def _stacked(done: dict) -> dict:
    return {k: torch.stack(v) for k, v in done.items()}


def convergence_table(idata) -> pd.DataFrame:
    """R-hat and bulk/tail ESS of every Δ_i (1-based labels), with posterior mean and sd."""
    import arviz as az

    summary = az.summary(idata, var_names=["delta"], kind="all", round_to="none")
    summary.index = [f"Δ{i + 1}" for i in range(len(summary))]
    return summary[["mean", "sd", "r_hat", "ess_bulk", "ess_tail"]]


def convergence_problems(table: pd.DataFrame, cfg: GPConfig) -> list[str]:
    """Every Δ_i whose R-hat exceeds cfg.rhat_max or whose bulk ESS is below cfg.ess_min."""
    problems = []
    for name, row in table.iterrows():
        if not row["r_hat"] <= cfg.rhat_max:
            problems.append(f"{name}: R-hat {row['r_hat']:.3f} > {cfg.rhat_max}")
        if not row["ess_bulk"] >= cfg.ess_min:
            problems.append(f"{name}: bulk ESS {row['ess_bulk']:.0f} < {cfg.ess_min:.0f}")
    return problems


def sample_until_converged(cfg: GPConfig, data: NoisyInputData, fit: fitting.Fit, *, progress: bool = True,
                           log=print):
    """`sample_delta_posterior`, drawn again with twice the draws per chain while an R-hat or bulk ESS is out
    of bounds, at most `cfg.nuts_extensions` times (a seed whose chains mix a little slower then still
    converges; a seed that already converged is sampled once, exactly as before).

    Returns (idata, convergence table, remaining problems, the config that produced idata); idata's
    `sampling_seconds` counts every attempt, the discarded ones too (what the sampling cost).
    """
    seconds = 0.0
    for attempt in range(int(cfg.nuts_extensions) + 1):
        idata = sample_delta_posterior(cfg, data, fit, progress=progress, log=log)
        seconds += float(idata.attrs.get("sampling_seconds", 0.0))
        table = convergence_table(idata)
        problems = convergence_problems(table, cfg)
        if not problems or attempt == int(cfg.nuts_extensions):
            idata.attrs["sampling_seconds"] = seconds
            return idata, table, problems, cfg
        log(f"NUTS not converged with {cfg.nuts_draws} draws per chain ({'; '.join(problems)}): "
            f"drawing the chains again with {2 * cfg.nuts_draws}")
        cfg = replace(cfg, nuts_draws=2 * cfg.nuts_draws)


def delta_averaged_posterior(cfg: GPConfig, data: NoisyInputData, fit: fitting.Fit, idata):
    """Mean and variance of f(x*) averaged over cfg.averaged_draws evenly thinned NUTS draws of Δ."""
    draws = idata.posterior["delta"].values.reshape(-1, len(data))  # (chain, draw, N) -> (chain·draw, N)
    keep = np.linspace(0, len(draws) - 1, min(cfg.averaged_draws, len(draws))).round().astype(int)
    kernel = SquaredExponential(fit.params["lengthscale"], fit.params["variance"])
    return nuts.delta_averaged_posterior_f(data.x, data.y, torch.as_tensor(draws[keep]), cfg.x_star, kernel,
                                           fit.params["noise_var"])


def delta_averaged_rmse(cfg: GPConfig, data: NoisyInputData, fit: fitting.Fit, idata, mean: torch.Tensor) -> Estimate:
    """RMSE to the true f of the Δ-averaged posterior mean `mean`, with its Monte Carlo standard error.

    The error comes from the spread over chains: each chain's draws (evenly thinned to its share of
    cfg.averaged_draws) are averaged on their own, and the RMSEs of the per-chain means give sd/√chains
    (a single chain is split into two halves).
    """
    draws = idata.posterior["delta"].values  # (chain, draw, N)
    if draws.shape[0] == 1:
        half = draws.shape[1] // 2
        draws = np.stack([draws[0, :half], draws[0, half:2 * half]])
    per_batch = max(2, cfg.averaged_draws // draws.shape[0])
    kernel = SquaredExponential(fit.params["lengthscale"], fit.params["variance"])
    truth = true_f(cfg.x_star)
    rmses = []
    for chain in draws:
        keep = np.linspace(0, len(chain) - 1, min(per_batch, len(chain))).round().astype(int)
        m, _ = nuts.delta_averaged_posterior_f(data.x, data.y, torch.as_tensor(chain[keep]), cfg.x_star, kernel,
                                               fit.params["noise_var"])
        rmses.append(float((m - truth).square().mean().sqrt()))
    value = float((mean - truth).square().mean().sqrt())
    return Estimate(value, float(np.std(rmses, ddof=1) / np.sqrt(len(rmses))))
