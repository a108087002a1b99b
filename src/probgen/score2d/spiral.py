"""The spiral data of the 2-D score chapter: an equal-weight mixture of isotropic Gaussians on a spiral."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..runtime import ConfigError


@dataclass(frozen=True)
class SpiralMixture:
    """M equal-weight components N(μ(τ_m), σ0² I) with μ(τ) = (r cos τ, r sin τ), r = a + bτ.

    τ_m is evenly spaced in [0, τ_max] (both ends included); the defaults are those of the exercise.
    Tensors are returned in `dtype` (float64 by default, so exact densities and scores can be checked
    against autograd to 1e-8).
    """

    n_components: int = 200
    std: float = 0.06  # σ0, the std of every component
    a: float = 0.2
    b: float = 0.15
    tau_max: float = 4 * math.pi
    dtype: torch.dtype = torch.float64

    def __post_init__(self) -> None:
        if not isinstance(self.n_components, int) or self.n_components < 1:
            raise ConfigError(f"n_components={self.n_components!r} must be a positive integer")
        if not self.std > 0:
            raise ConfigError(f"std={self.std!r} must be positive")

    def taus(self) -> torch.Tensor:
        """(M,) spiral parameters τ_m."""
        return torch.linspace(0.0, self.tau_max, self.n_components, dtype=self.dtype)

    def centres(self) -> torch.Tensor:
        """(M, 2) component means μ(τ_m)."""
        tau = self.taus()
        r = self.a + self.b * tau
        return torch.stack([r * torch.cos(tau), r * torch.sin(tau)], dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2) samples: a uniformly chosen centre plus N(0, σ0² I) noise."""
        idx = torch.randint(self.n_components, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=self.dtype)
        return self.centres()[idx] + self.std * noise

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) exact log-density of (N, 2) points (log-sum-exp over components)."""
        return gaussian_mixture_log_prob(x, self.centres().to(x), self.std ** 2)


def gaussian_mixture_log_prob(x: torch.Tensor, centres: torch.Tensor, var: float | torch.Tensor) -> torch.Tensor:
    """(N,) log-density of an equal-weight mixture of N(centres[m], var·I).

    Args:
        x: (N, D) points.
        centres: (M, D) component means shared by all points, or (N, M, D), one set per point.
        var: the common variance of every coordinate: a float, or (N,), one per point.
    """
    d = x.shape[-1]
    var = _per_point(var)
    sq = ((x[:, None, :] - centres) ** 2).sum(-1)  # (N, M); exact, unlike cdist's matmul trick
    log_comp = -0.5 * sq / var - 0.5 * d * torch.log(2 * math.pi * torch.as_tensor(var, dtype=x.dtype))
    return torch.logsumexp(log_comp, dim=1) - math.log(centres.shape[-2])


def gaussian_mixture_score(x: torch.Tensor, centres: torch.Tensor, var: float | torch.Tensor) -> torch.Tensor:
    """(N, D) exact ∇ log-density of that mixture: Σ_m r_m(x) (μ_m − x) / var, r_m the responsibilities."""
    var = _per_point(var)
    sq = ((x[:, None, :] - centres) ** 2).sum(-1)  # (N, M)
    resp = torch.softmax(-0.5 * sq / var, dim=1)  # (N, M)
    mean = (resp[:, :, None] * centres).sum(1) if centres.dim() == 3 else resp @ centres  # (N, D)
    return (mean - x) / var


def _per_point(var: float | torch.Tensor) -> float | torch.Tensor:
    """A float stays a float; (N,) variances become (N, 1) to broadcast against (N, M) or (N, D)."""
    return var[:, None] if isinstance(var, torch.Tensor) else var
