"""Discrete noise schedules of DDPM, computed in float64.

A schedule is β_1 … β_T. Everything the forward and reverse processes need
follows from it:

    α_t = 1 − β_t,   ᾱ_t = ∏_{s ≤ t} α_s,
    q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I),
    q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I),  β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t).

The tensors are indexed by t − 1 = 0 … T − 1 (index 0 is the first, least
noisy step), matching the `t` integers the networks receive. They are kept in
float64 because 1 − ᾱ_t and ratios of ᾱ lose digits in float32 near t = 0 and
t = T; callers gather what they need and cast to the data's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..runtime import ConfigError, check_choice

KINDS = ("linear", "cosine")


@dataclass(frozen=True)
class ScheduleConfig:
    """Which schedule: `kind` "linear" (β from beta_start to beta_end) or "cosine" (Nichol & Dhariwal, offset s)."""

    kind: str = "linear"
    T: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 2e-2
    cosine_s: float = 0.008

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        if not isinstance(self.T, int) or isinstance(self.T, bool) or self.T < 1:
            raise ConfigError(f"T={self.T!r} must be a positive integer")
        if not (0 < self.beta_start <= self.beta_end < 1):
            raise ConfigError(f"need 0 < beta_start ≤ beta_end < 1, got {self.beta_start} and {self.beta_end}")
        if not (self.cosine_s > 0):
            raise ConfigError(f"cosine_s={self.cosine_s!r} must be positive")

    @classmethod
    def reference(cls, T: int = 1000, kind: str = "linear") -> "ScheduleConfig":
        """The reference schedule (linear β from 1e-4 to 0.02 at T = 1000), with the β range scaled by 1000/T
        for other T so that ᾱ_T stays near 4e-5."""
        return cls(kind=kind, T=T, beta_start=1e-4 * 1000 / T, beta_end=2e-2 * 1000 / T)


class NoiseSchedule:
    """β_t and the quantities derived from it, as float64 tensors of shape (T,).

    Attributes:
        betas: β_t.
        alphas: α_t = 1 − β_t.
        alpha_bars: ᾱ_t.
        alpha_bars_prev: ᾱ_{t−1}, with ᾱ_0 = 1.
        posterior_variance: β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) (β̃_1 = 0).
    """

    def __init__(self, betas: torch.Tensor):
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        if betas.numel() == 0 or not torch.all((betas > 0) & (betas < 1)):
            raise ConfigError("every β_t must lie in (0, 1)")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)
        self.alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])
        self.posterior_variance = betas * (1.0 - self.alpha_bars_prev) / (1.0 - self.alpha_bars)

    @property
    def T(self) -> int:
        return self.betas.numel()

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 2e-2) -> "NoiseSchedule":
        """β_t evenly spaced from beta_start to beta_end (Ho et al. 2020)."""
        return cls(torch.linspace(beta_start, beta_end, T, dtype=torch.float64))

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        """ᾱ_t = f(t)/f(0) with f(t) = cos²(π/2 · (t/T + s)/(1 + s)) (Nichol & Dhariwal 2021), β clipped at max_beta."""
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bars = f / f[0]
        betas = (1 - alpha_bars[1:] / alpha_bars[:-1]).clamp(max=max_beta)
        return cls(betas)

    @classmethod
    def from_config(cls, cfg: ScheduleConfig) -> "NoiseSchedule":
        if cfg.kind == "linear":
            return cls.linear(cfg.T, cfg.beta_start, cfg.beta_end)
        return cls.cosine(cfg.T, cfg.cosine_s)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, a draw of q(x_t | x_0) for integer steps t (B,) and the noise ε."""
        return gather(self.alpha_bars.sqrt(), t, x0) * x0 + gather((1 - self.alpha_bars).sqrt(), t, x0) * noise

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t), (T,)."""
        return self.alpha_bars / (1.0 - self.alpha_bars)


def gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] for a batch of integer steps t (B,), shaped (B, 1, …, 1) to broadcast against `like`, in its dtype."""
    out = values.to(t.device)[t].to(like.dtype)
    return out.view(-1, *([1] * (like.ndim - 1)))
