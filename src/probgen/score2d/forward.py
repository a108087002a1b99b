"""The discretised variance-preserving (VP) forward process, its exact marginals on the spiral, and reverse sampling.

Continuous time: dx = −½β(t)x dt + √β(t) dw on t ∈ [0, 1], with linear β(t) = β0 + (β1 − β0)t.
Discretised with K steps of Δt = 1/K at t_k = k/K:

    α_k = exp(−β(t_{k−1})Δt),   ᾱ_k = Π_{j≤k} α_j,   q(x_k | x0) = N(√ᾱ_k x0, (1 − ᾱ_k) I).

Every per-step array is indexed by k = 0..K (length K + 1); entry 0 is the data, ᾱ_0 = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable

import torch

from ..runtime import ConfigError, check_choice
from .spiral import SpiralMixture, gaussian_mixture_log_prob, gaussian_mixture_score

ScoreFn = Callable[[torch.Tensor, int], torch.Tensor]  # score_fn(x (n, 2), k) -> (n, 2)
SAMPLERS = ("euler_maruyama", "ancestral")


@dataclass(frozen=True)
class VPSchedule:
    """The K-step VP schedule with linear β(t) = beta_0 + (beta_1 − beta_0)t; arrays in float64.

    beta_1 = 0.2 (as the exercise first states it) leaves ᾱ_K ≈ 0.90, far from pure noise;
    the default beta_1 = 20 is the standard VP SDE's and gives ᾱ_K ≈ e^{−10}.
    """

    K: int = 1000
    beta_0: float = 0.001
    beta_1: float = 20.0

    def __post_init__(self) -> None:
        if not isinstance(self.K, int) or isinstance(self.K, bool) or self.K < 1:
            raise ConfigError(f"K={self.K!r} must be a positive integer")
        if not (math.isfinite(self.beta_0) and math.isfinite(self.beta_1) and 0 <= self.beta_0 <= self.beta_1):
            raise ConfigError(f"beta_0={self.beta_0!r}, beta_1={self.beta_1!r} must satisfy 0 <= beta_0 <= beta_1")

    def beta(self, t: torch.Tensor | float) -> torch.Tensor:
        """β(t) of the continuous process."""
        return self.beta_0 + (self.beta_1 - self.beta_0) * torch.as_tensor(t, dtype=torch.float64)

    @cached_property
    def t(self) -> torch.Tensor:
        """(K + 1,) times t_k = k/K."""
        return torch.arange(self.K + 1, dtype=torch.float64) / self.K

    @cached_property
    def alphas(self) -> torch.Tensor:
        """(K + 1,) α_k = exp(−β(t_{k−1})Δt), α_0 = 1."""
        log_alpha = -self.beta(self.t[:-1]) / self.K
        return torch.cat([torch.ones(1, dtype=torch.float64), torch.exp(log_alpha)])

    @cached_property
    def betas(self) -> torch.Tensor:
        """(K + 1,) 1 − α_k, the variance each forward step adds (β_0 = 0)."""
        return -torch.expm1(torch.log(self.alphas))

    @cached_property
    def alphas_cumprod(self) -> torch.Tensor:
        """(K + 1,) ᾱ_k = Π_{j≤k} α_j (summed in log space), ᾱ_0 = 1."""
        return torch.exp(torch.cumsum(torch.log(self.alphas), 0))

    @cached_property
    def sigmas(self) -> torch.Tensor:
        """(K + 1,) std of the noise in x_k given x0: √(1 − ᾱ_k)."""
        return torch.sqrt(-torch.expm1(torch.cumsum(torch.log(self.alphas), 0)))

    def q_sample(self, x0: torch.Tensor, k: int | torch.Tensor, generator: torch.Generator | None = None,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
        """Draw x_k ~ q(x_k | x0) = N(√ᾱ_k x0, (1 − ᾱ_k) I).

        Args:
            x0: (B, D) data.
            k: a step in 0..K, or a (B,) tensor of steps.
            noise: (B, D) standard normal noise to use instead of drawing it (DSM needs it).
        """
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        sqrt_ab = per_sample(self.alphas_cumprod.sqrt(), k, x0)
        sigma = per_sample(self.sigmas, k, x0)
        return sqrt_ab * x0 + sigma * noise


def per_sample(values: torch.Tensor, k: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[k] cast to `like`'s dtype and device, shaped to broadcast against `like` (B, ...).

    An int k gives a scalar; a (B,) tensor gives (B, 1, ..., 1), so the same code runs on (B, 2)
    points and on (B, C, H, W) images.
    """
    if isinstance(k, int):
        _check_step(k, len(values) - 1)
        return values[k].to(dtype=like.dtype, device=like.device)
    k = torch.as_tensor(k)
    out = values.to(like.device)[k.to(like.device).long()].to(like.dtype)  # (B,)
    return out.reshape(-1, *([1] * (like.dim() - 1)))  # (B,) -> (B, 1, ..., 1)


def _check_step(k: int, K: int) -> None:
    if not 0 <= k <= K:
        raise ValueError(f"step k={k} is outside 0..K={K}")


@dataclass(frozen=True)
class DiffusedMixture:
    """The exact marginals p_k of a Gaussian-mixture data distribution under the forward process.

    Each component N(μ_m, σ0² I) becomes N(√ᾱ_k μ_m, [ᾱ_k σ0² + (1 − ᾱ_k)] I), so p_k is again an
    equal-weight mixture, with closed-form density and score.
    """

    mixture: SpiralMixture
    schedule: VPSchedule

    def var_k(self, k: int | torch.Tensor) -> float | torch.Tensor:
        """The per-coordinate variance ᾱ_k σ0² + (1 − ᾱ_k) of every component of p_k ((N,) for (N,) steps)."""
        ab = self._alphas_cumprod(k)
        return ab * self.mixture.std ** 2 + (1.0 - ab)

    def centres_k(self, k: int | torch.Tensor) -> torch.Tensor:
        """(M, 2) component means √ᾱ_k μ_m of p_k; (N, M, 2) for (N,) steps."""
        ab = self._alphas_cumprod(k)
        c = self.mixture.centres()
        if isinstance(ab, float):
            return math.sqrt(ab) * c
        return ab.sqrt()[:, None, None] * c[None]  # (N,) -> (N, 1, 1), times (1, M, 2)

    def _alphas_cumprod(self, k: int | torch.Tensor) -> float | torch.Tensor:
        if isinstance(k, int):
            _check_step(k, self.schedule.K)
            return float(self.schedule.alphas_cumprod[k])
        return self.schedule.alphas_cumprod.to(self.mixture.dtype)[torch.as_tensor(k).long().cpu()]

    def log_prob_k(self, x: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
        """(N,) log p_k(x) for (N, 2) points at step k (an int, or (N,) steps, one per point)."""
        var = self.var_k(k)
        return gaussian_mixture_log_prob(x, self.centres_k(k).to(x), var if isinstance(var, float) else var.to(x))

    def score_k(self, x: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
        """(N, 2) exact ∇_x log p_k(x) (k an int or (N,) steps), the responsibility-weighted pull to the means."""
        var = self.var_k(k)
        return gaussian_mixture_score(x, self.centres_k(k).to(x), var if isinstance(var, float) else var.to(x))

    def sample_k(self, n: int, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2) samples of p_k (data samples pushed through q)."""
        return self.schedule.q_sample(self.mixture.sample(n, generator), k, generator)


def no_score(x: torch.Tensor, k: int) -> torch.Tensor:
    """A score function that is zero everywhere: the reverse process with the score removed."""
    return torch.zeros_like(x)


@torch.no_grad()
def reverse_sample(score_fn: ScoreFn, n: int, schedule: VPSchedule, generator: torch.Generator | None = None, *,
                   snapshots: Iterable[int] = (), method: str = "euler_maruyama", x_init: torch.Tensor | None = None,
                   dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
                   ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Sample by running the reverse-time process from x_K ~ N(0, I) down to x_0.

    Any score function works: the exact `DiffusedMixture.score_k`, a trained `ScoreModel`, `no_score`,
    or a guided score. Two discretisations of the reverse SDE dx = [−½βx − βs]dt + √β dw̄:

    - "euler_maruyama": x_{k−1} = x_k + b_k(½x_k + s(x_k, k)) + √b_k z, with b_k = β(t_k)Δt;
    - "ancestral": x_{k−1} = (x_k + (1 − α_k) s(x_k, k)) / √α_k + √(1 − α_k) z (the exact inverse of
      the forward step's mean; DDPM's sampler with σ_k² = 1 − α_k).

    The last step (k = 1) adds no noise: it returns its mean, as DDPM and score_sde do.

    Args:
        score_fn: score_fn(x (n, D), k: int) -> (n, D).
        n: number of samples (ignored if x_init is given).
        snapshots: steps k in 0..K at which to keep a copy of x_k (K is the start, 0 the result).
        x_init: (n, D) start instead of N(0, I) draws of shape (n, 2).
    Returns:
        (x_0 (n, D), {k: x_k} for the requested snapshot steps)
    """
    check_choice("method", method, SAMPLERS)
    dtype = dtype or torch.get_default_dtype()
    wanted = set(int(k) for k in snapshots)
    for k in wanted:
        _check_step(k, schedule.K)
    if x_init is None:
        x = torch.randn(n, 2, generator=generator, dtype=dtype, device=device)
    else:
        x = x_init.to(dtype=dtype, device=device).clone()
    kept = {schedule.K: x.clone()} if schedule.K in wanted else {}
    alphas, betas = schedule.alphas.tolist(), schedule.betas.tolist()
    for k in range(schedule.K, 0, -1):
        s = score_fn(x, k)
        if method == "euler_maruyama":
            b = float(schedule.beta(schedule.t[k])) / schedule.K
            mean = x + b * (0.5 * x + s)
            std = math.sqrt(b)
        else:
            mean = (x + betas[k] * s) / math.sqrt(alphas[k])
            std = math.sqrt(betas[k])
        if k > 1:
            x = mean + std * torch.randn(x.shape, generator=generator, dtype=dtype, device=device)
        else:
            x = mean
        if k - 1 in wanted:
            kept[k - 1] = x.clone()
    return x, dict(sorted(kept.items(), reverse=True))
