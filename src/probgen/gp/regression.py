"""GP regression: the marginal likelihood and the posterior of the latent f.

Two observation models share the code:

* standard:     y = f(x) + ε,                 cov(y) = K + σ_y² I;
* input noise:  y ≈ f(x) − Δ ⊙ f'(x) + ε,      cov(y) = K − K1ᵀD − D K1 + D K2 D + σ_y² I,

where D = diag(Δ) and the second is the first-order Taylor expansion of
y = f(x − Δ) + ε. Everything goes through a Cholesky factor; nothing inverts a
matrix. Parameters may carry a batch shape (G,) so a grid search is one call.
"""

from __future__ import annotations

import math

import torch

from .kernels import SquaredExponential, joint_f_df_covariance

Tensor = torch.Tensor


class NotPositiveDefiniteError(torch.linalg.LinAlgError):
    """The covariance of y could not be Cholesky-factorised."""


def _eye_like(x: Tensor) -> Tensor:
    return torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)


def _noise(noise_var, like: Tensor) -> Tensor:
    noise_var = torch.as_tensor(noise_var, dtype=like.dtype)
    return noise_var[..., None, None] * _eye_like(like)  # (G,) -> (G, N, N)


def standard_covariance(x: Tensor, kernel: SquaredExponential, noise_var) -> Tensor:
    """cov(y | X) = K(X, X) + σ_y² I, shape (..., N, N)."""
    return kernel.K(x, x) + _noise(noise_var, x)


def noisy_input_covariance(x: Tensor, delta: Tensor, kernel: SquaredExponential, noise_var) -> Tensor:
    """cov(y | X, Δ) under y ≈ f(x) − Δ f'(x) + ε, shape (..., N, N).

    With D = diag(Δ): K − K1ᵀ D − D K1 + D K2 D + σ_y² I, where K1[i, j] =
    cov(f'(x_i), f(x_j)). `delta` may have a batch shape (S, N).
    """
    K, K1, K2 = kernel.K(x, x), kernel.K1(x, x), kernel.K2(x, x)
    d_row, d_col = delta[..., :, None], delta[..., None, :]  # D M = d_row * M, M D = M * d_col
    return K - K1.mT * d_col - d_row * K1 + d_row * K2 * d_col + _noise(noise_var, x)


def cholesky(cov: Tensor) -> Tensor:
    """Lower Cholesky factor; a clear error if `cov` is not positive definite."""
    L, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise NotPositiveDefiniteError(
            "the covariance of y is not positive definite (Cholesky failed): the noise variance is "
            "too small for these inputs or a parameter is extreme; increase noise_var or check the data")
    return L


def gaussian_log_density(y: Tensor, cov: Tensor) -> Tensor:
    """log N(y | 0, cov) via Cholesky: −½ yᵀ cov⁻¹ y − Σ log L_ii − N/2 log 2π, shape (...)."""
    L = cholesky(cov)
    alpha = torch.linalg.solve_triangular(L, y[..., None].expand(*L.shape[:-1], 1), upper=False)  # L⁻¹ y
    n = y.shape[-1]
    return (-0.5 * alpha.square().sum((-2, -1))
            - torch.diagonal(L, dim1=-2, dim2=-1).log().sum(-1)
            - 0.5 * n * math.log(2 * math.pi))


def log_marginal_likelihood(x: Tensor, y: Tensor, kernel: SquaredExponential, noise_var) -> Tensor:
    """log p(y | X, θ, σ_y²) of the standard GP, by Cholesky."""
    return gaussian_log_density(y, standard_covariance(x, kernel, noise_var))


def noisy_input_log_marginal_likelihood(x: Tensor, y: Tensor, delta: Tensor, kernel: SquaredExponential,
                                        noise_var) -> Tensor:
    """log p(y | X, Δ, θ, σ_y²) of the first-order input-noise model, by Cholesky."""
    return gaussian_log_density(y, noisy_input_covariance(x, delta, kernel, noise_var))


def _condition(cross: Tensor, cov_y: Tensor, y: Tensor, prior_var: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of a Gaussian f* given y, from cov(f*, y) = cross (M, N) and cov(y) (N, N)."""
    L = cholesky(cov_y)
    alpha = torch.cholesky_solve(y[:, None], L)[:, 0]  # cov_y⁻¹ y
    V = torch.linalg.solve_triangular(L, cross.T, upper=False)  # L⁻¹ crossᵀ, (N, M)
    mean = cross @ alpha
    var = prior_var - V.square().sum(0)
    return mean, var.clamp_min(0.0)  # round-off can make a tiny variance negative


def posterior_f(x: Tensor, y: Tensor, x_star: Tensor, kernel: SquaredExponential, noise_var) -> tuple[Tensor, Tensor]:
    """Posterior mean and variance of the latent f(x_star) (not of y) under the standard GP, shapes (M,)."""
    return _condition(kernel.K(x_star, x), standard_covariance(x, kernel, noise_var), y, kernel.diag(x_star))


def noisy_input_posterior_f(x: Tensor, y: Tensor, delta: Tensor, x_star: Tensor, kernel: SquaredExponential,
                            noise_var) -> tuple[Tensor, Tensor]:
    """Posterior mean and variance of f(x_star) under the input-noise model, predicting with Δ* = 0.

    cov(f(x*_m), y_i) = k(x*_m, x_i) − Δ_i cov(f(x*_m), f'(x_i)) = K(x*, X) − K1(X, x*)ᵀ D.
    """
    cross = kernel.K(x_star, x) - kernel.K1(x, x_star).T * delta[None, :]
    return _condition(cross, noisy_input_covariance(x, delta, kernel, noise_var), y, kernel.diag(x_star))


def sample_joint_f_df(kernel: SquaredExponential, x: Tensor, generator: torch.Generator | None = None,
                      jitter: float = 1e-9) -> tuple[Tensor, Tensor]:
    """One draw of (f(x), f'(x)) from the joint GP prior, shapes (N,), (N,)."""
    cov = joint_f_df_covariance(kernel, x)
    # The joint covariance of f and f' on a fine grid is nearly singular; the
    # jitter is relative to the largest variance so it scales with the kernel.
    scale = torch.diagonal(cov).max()
    L = cholesky(cov + jitter * scale * _eye_like(cov))
    z = torch.randn(cov.shape[0], dtype=cov.dtype, generator=generator)
    fd = L @ z
    n = x.shape[0]
    return fd[:n], fd[n:]
