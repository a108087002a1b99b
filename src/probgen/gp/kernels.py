"""A twice-differentiable stationary kernel and the covariance blocks of (f, f').

For a GP f with covariance k(x, x'), the derivative f' is again a GP and

    cov(f'(x_i), f(x_j))  = ∂k(x_i, x_j)/∂x_i          -> `K1(x1, x2)`
    cov(f'(x_i), f'(x_j)) = ∂²k(x_i, x_j)/∂x_i∂x_j     -> `K2(x1, x2)`

so cov(f(x_i), f'(x_j)) = K1(x2, x1)^T. Inputs are 1-D tensors (scalar inputs).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def _positive(name: str, value) -> Tensor:
    """`value` as a float64 tensor (its autograd graph kept), checked positive."""
    value = torch.as_tensor(value, dtype=torch.float64)
    bad = ~(torch.isfinite(value.detach()) & (value.detach() > 0))
    if bool(bad.any()):
        raise ValueError(f"{name} must be positive and finite, got {value.detach()[bad].flatten()[:3].tolist()}")
    return value


class SquaredExponential:
    """k(x, x') = variance · exp(−(x − x')² / (2 · lengthscale²)), infinitely differentiable.

    Args:
        lengthscale: ℓ > 0, the distance over which f changes appreciably.
        variance: s² > 0, the prior variance of f(x).
    Parameters may be tensors that require grad (fitting by gradient; `from_log`
    builds the kernel from unconstrained log-parameters), or tensors of a batch
    shape (G,) (grid search): every block then has shape (G, N1, N2).
    """

    param_names = ("lengthscale", "variance")

    def __init__(self, lengthscale, variance):
        self.lengthscale = _positive("lengthscale", lengthscale)
        self.variance = _positive("variance", variance)

    @classmethod
    def from_log(cls, log_lengthscale: Tensor, log_variance: Tensor) -> "SquaredExponential":
        return cls(torch.as_tensor(log_lengthscale).exp(), torch.as_tensor(log_variance).exp())

    def params(self) -> dict[str, float]:
        """The parameters as plain floats (scalar kernels only)."""
        return {"lengthscale": float(self.lengthscale), "variance": float(self.variance)}

    def __repr__(self) -> str:
        return f"SquaredExponential(lengthscale={float(self.lengthscale):.4g}, variance={float(self.variance):.4g})"

    def _r_k(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        r = x1[:, None] - x2[None, :]  # (N1,), (N2,) -> (N1, N2), r_ij = x1_i − x2_j
        return r, self._v * torch.exp(-0.5 * r**2 / self._ell**2)

    @property
    def _ell(self) -> Tensor:
        return self.lengthscale[..., None, None]  # (G,) -> (G, 1, 1); a scalar -> (1, 1)

    @property
    def _v(self) -> Tensor:
        return self.variance[..., None, None]

    def K(self, x1: Tensor, x2: Tensor) -> Tensor:
        """k(x1_i, x2_j), shape (N1, N2)."""
        return self._r_k(x1, x2)[1]

    def K1(self, x1: Tensor, x2: Tensor) -> Tensor:
        """∂k(x1_i, x2_j)/∂x1_i = −r/ℓ² · k, shape (N1, N2)."""
        r, k = self._r_k(x1, x2)
        return -r / self._ell**2 * k

    def K2(self, x1: Tensor, x2: Tensor) -> Tensor:
        """∂²k(x1_i, x2_j)/∂x1_i∂x2_j = (1/ℓ² − r²/ℓ⁴) · k, shape (N1, N2)."""
        r, k = self._r_k(x1, x2)
        ell2 = self._ell**2
        return (1.0 / ell2 - r**2 / ell2**2) * k

    def diag(self, x: Tensor) -> Tensor:
        """k(x_i, x_i) = s², shape (N,)."""
        return self.variance[..., None] * torch.ones_like(x)

    def diag_K2(self, x: Tensor) -> Tensor:
        """var f'(x_i) = s²/ℓ², shape (N,)."""
        return (self.variance / self.lengthscale**2)[..., None] * torch.ones_like(x)


def joint_f_df_covariance(kernel: SquaredExponential, x: Tensor) -> Tensor:
    """Prior covariance of the stacked vector (f(x), f'(x)), shape (2N, 2N).

    [[K,   K1^T],
     [K1,  K2  ]]  with K1 = K1(x, x): row block f', column block f.
    """
    K, K1, K2 = kernel.K(x, x), kernel.K1(x, x), kernel.K2(x, x)
    return torch.cat([torch.cat([K, K1.T], 1), torch.cat([K1, K2], 1)], 0)


def central_difference(f: Tensor, x: Tensor) -> Tensor:
    """(f(x_{i+1}) − f(x_{i−1})) / (x_{i+1} − x_{i−1}) at the interior points, shape (N−2,)."""
    return (f[2:] - f[:-2]) / (x[2:] - x[:-2])

