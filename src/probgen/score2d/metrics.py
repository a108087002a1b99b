"""How close 2-D samples and scores are to the truth: NLL under the true mixture, energy distance, MMD, score error,
the fraction of samples on the spiral's arms; the `*_estimate` forms carry a standard error for the verdicts."""

from __future__ import annotations

import math

import torch

from ..stats import Estimate, binomial_estimate
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


def energy_distance_estimate(x: torch.Tensor, y: torch.Tensor, n_splits: int = 10) -> Estimate:
    """`energy_distance` of all of x and y, with a standard error from disjoint splits.

    The U-statistic is unbiased at any size, so its values on `n_splits` disjoint pairs of parts (x and y
    each cut into `n_splits` consecutive blocks) are independent unbiased estimates of the same distance;
    their spread / √n_splits is the standard error of their mean. The estimate of all points varies less
    than that mean, so the error is conservative. It stays honest where a bootstrap or the first-order
    U-statistic variance fails: when x and y come from the same distribution (the degenerate case), which
    is the case a comparison with the floor has to decide.

    Args:
        x, y: (N, D) and (M, D) samples; each needs at least 2 points per split.
        n_splits: number of disjoint parts (≥ 2).
    """
    if n_splits < 2:
        raise ValueError(f"n_splits={n_splits!r} must be at least 2")
    if min(x.shape[0], y.shape[0]) < 2 * n_splits:
        raise ValueError(f"need at least {2 * n_splits} points in each sample for {n_splits} splits, "
                         f"got {x.shape[0]} and {y.shape[0]}")
    parts = [energy_distance(a, b) for a, b in zip(x.tensor_split(n_splits), y.tensor_split(n_splits))]
    return Estimate(energy_distance(x, y), Estimate.of_mean(parts).se)


def on_spiral_fraction(samples: torch.Tensor, mixture: SpiralMixture, radius: float = 3.0) -> Estimate:
    """The fraction of (N, 2) samples within `radius`·σ0 of the nearest component mean, with its binomial error.

    A point of the mixture lies within r·σ0 of its own component's mean with probability 1 − exp(−r²/2)
    (0.989 at r = 3) and of the nearest mean at least as often: a model whose fraction falls well below
    that puts its mass off the arms.
    """
    if not radius > 0:
        raise ValueError(f"radius={radius!r} must be positive")
    d = torch.cdist(samples.to(mixture.dtype), mixture.centres()).min(dim=1).values  # (N,)
    return binomial_estimate(int((d <= radius * mixture.std).sum()), int(samples.shape[0]))


def nll_estimate(samples: torch.Tensor, mixture: SpiralMixture) -> Estimate:
    """`mean_nll` as an `Estimate`: the mean −log p(x) under the true mixture ± the standard error of that mean."""
    value, se = mean_nll(samples, mixture)
    return Estimate(value, se)
