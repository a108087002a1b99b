"""How close 2-D samples and scores are to the truth: NLL under the true mixture, energy distance, MMD, score error."""

from __future__ import annotations

import math

import torch

from .spiral import SpiralMixture


def mean_nll(samples: torch.Tensor, mixture: SpiralMixture) -> tuple[float, float]:
    """(mean, standard error) of −log p(x) over (N, 2) samples, p the true mixture (nats per point).

    Lower is better, but it rewards collapse onto a few components too: read it with a
    two-sample distance such as `energy_distance`.
    """
    nll = -mixture.log_prob(samples.to(mixture.dtype))
    n = nll.shape[0]
    sem = float(nll.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    return float(nll.mean()), sem


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared energy distance 2E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ of (N, D) and (M, D) samples.

    Within-sample means leave out the zero diagonal (U-statistics), so the estimate is unbiased and
    can be slightly negative when the two distributions are equal. Zero iff the distributions match.
    """
    x, y = x.double(), y.double()
    n, m = x.shape[0], y.shape[0]
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).sum() / (n * (n - 1))
    yy = torch.cdist(y, y).sum() / (m * (m - 1))
    return float(2 * xy - xx - yy)


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 0.1) -> float:
    """Unbiased squared MMD of (N, D) and (M, D) samples, kernel exp(−‖a − b‖² / (2 bandwidth²))."""
    x, y = x.double(), y.double()
    n, m = x.shape[0], y.shape[0]

    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth ** 2))

    kxx = (k(x, x).sum() - n) / (n * (n - 1))
    kyy = (k(y, y).sum() - m) / (m * (m - 1))
    return float(kxx + kyy - 2 * k(x, y).mean())


def grid_points(lim: float = 2.0, n: int = 41, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(n·n, 2) points of a square grid on [−lim, lim]²; `.reshape(n, n, 2)` gives [row = y, column = x]."""
    axis = torch.linspace(-lim, lim, n, dtype=dtype)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)


@torch.no_grad()
def score_error_grid(score_fn, exact_score_fn, k: int, grid: torch.Tensor) -> torch.Tensor:
    """(G,) ‖s(x, k) − ∇log p_k(x)‖ at (G, 2) grid points; a network score runs in its weights' dtype."""
    exact = exact_score_fn(grid.double(), k)
    like = grid.to(torch.get_default_dtype())
    if isinstance(score_fn, torch.nn.Module):
        p = next(score_fn.parameters())
        like = grid.to(dtype=p.dtype, device=p.device)
    learned = score_fn(like, k).double().cpu()
    return (learned - exact).norm(dim=-1)
