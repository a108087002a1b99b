"""The data of the GP chapter: the course file, the true function, and a generator of the same model.

Model: y_i = f(x_i − Δ_i) + ε_i with Δ_i ~ N(0, σ_x²), ε_i ~ N(0, σ_y²). The
observed input is x_i; the true input is x_i − Δ_i.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import data as _data

SIGMA_X2 = 0.01  # input-noise variance σ_x² of the course data
SIGMA_Y2 = 0.0025  # output-noise variance σ_y²
DATA_FILE = "gp/data_part_B.csv"


def true_f(x):
    """f(x) = −x² + 2 / (1 + exp(−10 x)), for numpy arrays or torch tensors."""
    if isinstance(x, torch.Tensor):
        return -x**2 + 2 * torch.sigmoid(10 * x)
    x = np.asarray(x, dtype=float)
    return -x**2 + 2 / (1 + np.exp(-10 * x))


def true_df(x):
    """f'(x) = −2x + 20 σ(10x)(1 − σ(10x)), the slope of `true_f`, for numpy arrays or torch tensors."""
    if isinstance(x, torch.Tensor):
        s = torch.sigmoid(10 * x)
        return -2 * x + 20 * s * (1 - s)
    x = np.asarray(x, dtype=float)
    s = 1 / (1 + np.exp(-10 * x))
    return -2 * x + 20 * s * (1 - s)


@dataclass(frozen=True)
class NoisyInputData:
    """Observed inputs x, outputs y and input errors Δ (true input = x − Δ), float64 tensors of shape (N,)."""

    x: torch.Tensor
    y: torch.Tensor
    delta: torch.Tensor
    source: str

    @property
    def x_true(self) -> torch.Tensor:
        return self.x - self.delta

    def __len__(self) -> int:
        return self.x.shape[0]


def load_part_b(data_dir=None) -> NoisyInputData:
    """The course file `gp/data_part_B.csv` (no header; columns x, y, Δ; 20 rows), md5-checked."""
    path = _data.find(DATA_FILE, data_dir)
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    if table.shape[1] != 3 or not np.isfinite(table).all():
        raise _data.MalformedDataError(
            f"{path}: expected 3 finite columns (x, y, Δ), got shape {table.shape}; get the file again")
    x, y, delta = (torch.as_tensor(col, dtype=torch.float64) for col in table.T)
    return NoisyInputData(x, y, delta, source=str(path))


def generate(n: int = 20, *, sigma_x2: float = SIGMA_X2, sigma_y2: float = SIGMA_Y2, seed: int = 0,
             x_range: tuple[float, float] = (-1.0, 1.0), delta: np.ndarray | None = None, f=true_f) -> NoisyInputData:
    """Data of the stated model: x on the interior of an even grid of x_range (as in the course file), Δ ~ N(0, σ_x²) unless given.

    Users without the course file get data of the same kind from here; the
    tests use it to check that NUTS recovers a known Δ.
    """
    if n < 2:
        raise ValueError(f"n={n} must be at least 2")
    rng = np.random.default_rng(seed)
    lo, hi = x_range
    x = np.linspace(lo, hi, n + 2)[1:-1]  # interior of an even grid, like the course file's −0.905 … 0.905
    if delta is None:
        delta = rng.normal(0.0, np.sqrt(sigma_x2), n)
    delta = np.asarray(delta, dtype=float)
    if delta.shape != (n,):
        raise ValueError(f"delta must have shape ({n},), got {delta.shape}")
    y = f(x - delta) + rng.normal(0.0, np.sqrt(sigma_y2), n)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return NoisyInputData(as_t(x), as_t(y), as_t(delta), source=f"generate(n={n}, seed={seed})")
