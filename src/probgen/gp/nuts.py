"""NUTS over the unknown input errors Δ of the input-noise model, and the Δ-averaged posterior of f.

Model (θ, σ_y², σ_x² fixed):  Δ ~ N(0, σ_x² I),  y | Δ ~ N(0, C(Δ)) with
C(Δ) = K − K1ᵀD − D K1 + D K2 D + σ_y² I (see `regression.noisy_input_covariance`).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS
from pyro.infer.autoguide.initialization import init_to_sample, init_to_uniform

from ..runtime import progress as progress_bar, torch_threads
from .kernels import SquaredExponential
from .regression import noisy_input_covariance, noisy_input_posterior_f


# With "uniform" (Pyro's default) one chain of four on the course data started far out and stayed
# for all its draws in a secondary mode ~20 nats below the main one; prior draws start where the mass is.
INITS = {"prior": init_to_sample, "uniform": init_to_uniform}


def delta_model(x: torch.Tensor, y: torch.Tensor, kernel: SquaredExponential, noise_var: float, sigma_x2: float):
    """Pyro model of p(Δ, y | X, θ, σ_y², σ_x²); condition on y to get p(Δ | X, y, ...)."""
    n = x.shape[0]
    delta = pyro.sample("delta", dist.Normal(torch.zeros(n, dtype=x.dtype), math.sqrt(sigma_x2)).to_event(1))
    cov = noisy_input_covariance(x, delta, kernel, noise_var)
    pyro.sample("y", dist.MultivariateNormal(torch.zeros(n, dtype=x.dtype), covariance_matrix=cov), obs=y)


def run_chain(x: torch.Tensor, y: torch.Tensor, kernel: SquaredExponential, noise_var: float, sigma_x2: float, *,
              warmup: int = 500, draws: int = 1000, seed: int = 0, target_accept: float = 0.8,
              init: str = "prior", progress: bool = True) -> dict:
    """One NUTS chain of p(Δ | X, y). Returns delta (draws, N), diverging (draws,) and seconds.

    init: "prior" starts from a draw of the prior N(0, σ_x² I); "uniform" is Pyro's default,
    uniform on (−2, 2) per coordinate, i.e. up to 20 prior standard deviations out.
    """
    if warmup < 1 or draws < 1:
        raise ValueError(f"warmup={warmup}, draws={draws}: each must be at least 1")
    if init not in INITS:
        raise ValueError(f"init={init!r}: must be one of {tuple(INITS)}")
    pyro.set_rng_seed(seed)
    # jit_compile traces the model once; it makes each leapfrog step ~1.5x cheaper.
    sampler = NUTS(delta_model, target_accept_prob=target_accept, jit_compile=True, ignore_jit_warnings=True,
                   init_strategy=INITS[init])
    # Pyro's own bar is a widget inside a notebook; ours goes where every probgen bar goes (runtime.progress).
    bar = progress_bar(total=warmup + draws, desc=f"NUTS (chain seed {seed})", enabled=progress)
    mcmc = MCMC(sampler, num_samples=draws, warmup_steps=warmup, num_chains=1, disable_progbar=True,
                hook_fn=lambda *_: bar.update(1))
    start = time.perf_counter()
    with torch_threads(1), warnings.catch_warnings():  # 20×20 algebra: one thread is ~5x faster than two competing ones
        warnings.filterwarnings("ignore", message=".*torch.jit.trace.*", category=DeprecationWarning)
        mcmc.run(x, y, kernel, noise_var, sigma_x2)
    bar.close()
    seconds = time.perf_counter() - start
    diverging = torch.zeros(draws, dtype=torch.bool)
    diverging[list(mcmc.diagnostics()["divergences"]["chain 0"])] = True
    return {"delta": mcmc.get_samples()["delta"].detach(), "diverging": diverging, "seconds": seconds}


def to_inference_data(delta: np.ndarray, diverging: np.ndarray, **attrs):
    """ArviZ InferenceData from draws of shape (chain, draw, N) and divergence flags (chain, draw)."""
    import arviz as az

    return az.from_dict(posterior={"delta": np.asarray(delta)}, sample_stats={"diverging": np.asarray(diverging)},
                        attrs=attrs)


def run_nuts(x: torch.Tensor, y: torch.Tensor, kernel: SquaredExponential, noise_var: float, sigma_x2: float, *,
             chains: int = 4, warmup: int = 500, draws: int = 1000, seed: int = 0, target_accept: float = 0.8,
             init: str = "prior", progress: bool = True):
    """Sample p(Δ | X, y) with NUTS, chains one after another (seeds seed, seed+1, ...), as ArviZ InferenceData.

    Chains run in this process: Pyro's multi-chain mode forks worker
    processes, which is fragile inside notebooks and buys nothing on two
    cores. (`study.sample_delta_posterior` adds caching and resuming per chain.)
    """
    if chains < 1:
        raise ValueError(f"chains={chains} must be at least 1")
    runs = [run_chain(x, y, kernel, noise_var, sigma_x2, warmup=warmup, draws=draws, seed=seed + c,
                      target_accept=target_accept, init=init, progress=progress) for c in range(chains)]
    return to_inference_data(np.stack([r["delta"].numpy() for r in runs]), np.stack([r["diverging"].numpy() for r in runs]),
                             sampling_seconds=sum(r["seconds"] for r in runs))


def delta_averaged_posterior_f(x: torch.Tensor, y: torch.Tensor, delta_draws: torch.Tensor, x_star: torch.Tensor,
                               kernel: SquaredExponential, noise_var: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of p(f* | X, y) = E_Δ[p(f* | X, y, Δ)], over draws Δ_s of shape (S, N).

    Law of total variance: mean = E_s[m_s], var = E_s[v_s] + Var_s[m_s] (a mixture's moments).
    """
    means, variances = [], []
    for delta in delta_draws:
        m, v = noisy_input_posterior_f(x, y, delta, x_star, kernel, noise_var)
        means.append(m)
        variances.append(v)
    means, variances = torch.stack(means), torch.stack(variances)  # (S, M)
    return means.mean(0), variances.mean(0) + means.var(0, correction=0)
