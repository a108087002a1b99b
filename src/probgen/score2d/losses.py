"""Score-matching objectives, each a per-sample loss (B,) averaged over a random step k ~ U{1..K}.

All three estimate, up to a constant that does not depend on the model,

    ½ E_k E_{x_k ~ p_k} λ_k ‖s(x_k, k) − ∇ log p_k(x_k)‖²,

with the same weighting λ_k, so their values differ by a constant and their gradients agree:

- implicit (Hyvärinen) score matching: λ_k [∇·s + ½‖s‖²], which can be negative; the divergence
  exactly (one backward pass per dimension: two in 2-D) or by Hutchinson's estimator vᵀ(∂s/∂x)v;
- denoising score matching: λ_k ½‖s(x_k, k) + ε/σ_k‖² with x_k = √ᾱ_k x0 + σ_k ε.

weighting "sigma2" (the default) is λ_k = σ_k² = 1 − ᾱ_k, which turns DSM into the noise-prediction
loss ½‖σ_k s + ε‖² (½‖f − ε‖² for the "noise" parametrisation s = −f/σ_k) and keeps every k's
term of order one; then DSM − ISM = D/2 in expectation (Stein's lemma), D the data dimension.
weighting "none" is λ_k = 1, Hyvärinen's original objective at every k.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..runtime import check_choice
from .forward import VPSchedule, per_sample

WEIGHTINGS = ("sigma2", "none")
PROBES = ("rademacher", "gaussian")
StepScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # s(x (B, D), k (B,)) -> (B, D)


def sample_steps(batch: int, schedule: VPSchedule, generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu") -> torch.Tensor:
    """(batch,) steps drawn uniformly from 1..K."""
    return torch.randint(1, schedule.K + 1, (batch,), generator=generator, device=device)


def divergence_exact(s: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """(B,) ∇·s(x) = Σ_d ∂s_d/∂x_d, one backward pass per dimension of (B, D) output `s` computed from `x`."""
    div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for d in range(x.shape[1]):
        grad = torch.autograd.grad(s[:, d].sum(), x, create_graph=create_graph, retain_graph=True)[0]  # (B, D)
        div = div + grad[:, d]
    return div


def divergence_hutchinson(s: torch.Tensor, x: torch.Tensor, generator: torch.Generator | None = None, *,
                          n_probes: int = 1, probe: str = "rademacher", create_graph: bool = True) -> torch.Tensor:
    """(B,) unbiased estimate of ∇·s(x): the mean over probes v of vᵀ(∂s/∂x)v, E[vvᵀ] = I.

    Rademacher probes (±1) have the smaller variance: for them only the off-diagonal of ∂s/∂x adds noise.
    """
    check_choice("probe", probe, PROBES)
    if not isinstance(n_probes, int) or n_probes < 1:
        raise ValueError(f"n_probes={n_probes!r} must be a positive integer")
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(n_probes):
        v = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        if probe == "rademacher":
            v = torch.sign(v)  # a fair ±1 from the same draw (P(v = 0) is zero)
        # (B, D) rows vᵀ ∂s/∂x, one backward pass for the whole batch
        vjp = torch.autograd.grad((s * v).sum(), x, create_graph=create_graph, retain_graph=True)[0]
        total = total + (vjp * v).sum(-1)
    return total / n_probes


def _weight(schedule: VPSchedule, k: torch.Tensor, like: torch.Tensor, weighting: str) -> torch.Tensor:
    check_choice("weighting", weighting, WEIGHTINGS)
    if weighting == "none":
        return torch.ones(like.shape[0], dtype=like.dtype, device=like.device)
    return per_sample(schedule.sigmas ** 2, k, like).reshape(-1)


def _noised(x0: torch.Tensor, schedule: VPSchedule, generator, k: torch.Tensor | None):
    """(k, ε, x_k): steps, noise and noised points; k and ε are drawn in this order (common random numbers)."""
    if k is None:
        k = sample_steps(x0.shape[0], schedule, generator, x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    return k, noise, schedule.q_sample(x0, k, noise=noise)


def ism_exact_loss(score_fn: StepScoreFn, x0: torch.Tensor, schedule: VPSchedule,
                   generator: torch.Generator | None = None, *, weighting: str = "sigma2",
                   k: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) implicit score matching λ_k [∇·s + ½‖s‖²] at x_k ~ q(·|x0), exact divergence.

    Args:
        score_fn: s(x (B, D), k (B,)) -> (B, D), e.g. a `ScoreModel`.
        x0: (B, D) data.
        k: (B,) steps in 1..K to use instead of uniform draws.
    """
    k, _, xk = _noised(x0, schedule, generator, k)
    xk = xk.detach().requires_grad_(True)
    with torch.enable_grad():
        s = score_fn(xk, k)
        div = divergence_exact(s, xk)
    return _weight(schedule, k, x0, weighting) * (div + 0.5 * (s ** 2).sum(-1))


def ism_hutchinson_loss(score_fn: StepScoreFn, x0: torch.Tensor, schedule: VPSchedule,
                        generator: torch.Generator | None = None, *, weighting: str = "sigma2",
                        n_probes: int = 1, probe: str = "rademacher", k: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) implicit score matching with Hutchinson's divergence estimate (`n_probes` probes of kind `probe`)."""
    k, _, xk = _noised(x0, schedule, generator, k)
    xk = xk.detach().requires_grad_(True)
    with torch.enable_grad():
        s = score_fn(xk, k)
        div = divergence_hutchinson(s, xk, generator, n_probes=n_probes, probe=probe)
    return _weight(schedule, k, x0, weighting) * (div + 0.5 * (s ** 2).sum(-1))


def dsm_loss(score_fn: StepScoreFn, x0: torch.Tensor, schedule: VPSchedule,
             generator: torch.Generator | None = None, *, weighting: str = "sigma2",
             k: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) DSM λ_k ½‖s(x_k, k) + ε/σ_k‖², computed as (λ_k/σ_k²) ½‖σ_k s + ε‖²."""
    k, noise, xk = _noised(x0, schedule, generator, k)
    s = score_fn(xk, k)
    sigma = per_sample(schedule.sigmas, k, x0)  # (B, 1)
    scale = _weight(schedule, k, x0, weighting) / sigma.reshape(-1) ** 2
    return scale * 0.5 * ((sigma * s + noise) ** 2).sum(-1)


LOSSES = {"ism_exact": ism_exact_loss, "ism_hutchinson": ism_hutchinson_loss, "dsm": dsm_loss}
