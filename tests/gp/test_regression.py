import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from probgen.gp import (NotPositiveDefiniteError, SquaredExponential, joint_f_df_covariance, log_marginal_likelihood,
                        noisy_input_covariance, noisy_input_log_marginal_likelihood, noisy_input_posterior_f,
                        posterior_f, sample_joint_f_df)




X = torch.linspace(-0.9, 0.9, 12, dtype=torch.float64)
Y = torch.sin(3 * X) + 0.1 * torch.cos(17 * X)
KERNEL = SquaredExponential(0.4, 1.3)


def _naive_lml(y, cov):
    """The dense textbook formula: −½ yᵀ C⁻¹ y − ½ log|C| − N/2 log 2π."""
    return (-0.5 * y @ torch.linalg.inv(cov) @ y - 0.5 * torch.logdet(cov) - 0.5 * len(y) * math.log(2 * math.pi))


def test_cholesky_lml_equals_the_naive_formula():
    cov = KERNEL.K(X, X) + 0.01 * torch.eye(len(X))
    torch.testing.assert_close(log_marginal_likelihood(X, Y, KERNEL, 0.01), _naive_lml(Y, cov), rtol=1e-10, atol=1e-10)


def test_noisy_input_lml_equals_the_naive_formula():
    delta = torch.linspace(-0.2, 0.15, len(X))
    cov = noisy_input_covariance(X, delta, KERNEL, 0.01)
    torch.testing.assert_close(noisy_input_log_marginal_likelihood(X, Y, delta, KERNEL, 0.01), _naive_lml(Y, cov))


def test_batched_lml_equals_one_call_per_parameter():
    ells, vs, noise = torch.tensor([0.1, 0.4, 2.0]), torch.tensor([0.3, 1.0, 4.0]), torch.tensor([1e-3, 0.01, 0.5])
    batched = log_marginal_likelihood(X, Y, SquaredExponential(ells, vs), noise)
    singles = torch.stack([log_marginal_likelihood(X, Y, SquaredExponential(ells[g], vs[g]), noise[g])
                           for g in range(3)])
    torch.testing.assert_close(batched, singles)


def test_noisy_input_covariance_reduces_to_the_plain_gp_when_delta_is_zero():
    zero = torch.zeros(len(X))
    torch.testing.assert_close(noisy_input_covariance(X, zero, KERNEL, 0.01),
                               KERNEL.K(X, X) + 0.01 * torch.eye(len(X)))
    x_star = torch.linspace(-1, 1, 7)
    for a, b in zip(noisy_input_posterior_f(X, Y, zero, x_star, KERNEL, 0.01), posterior_f(X, Y, x_star, KERNEL, 0.01)):
        torch.testing.assert_close(a, b)


def test_noisy_input_covariance_is_the_covariance_of_f_minus_delta_fprime():
    """Independent route: cov(A [f; f']) = A Σ Aᵀ with A = [I, −D] and Σ the joint prior of (f, f')."""
    delta = torch.linspace(-0.3, 0.2, len(X))
    A = torch.cat([torch.eye(len(X)), -torch.diag(delta)], 1)
    expected = A @ joint_f_df_covariance(KERNEL, X) @ A.T + 0.01 * torch.eye(len(X))
    torch.testing.assert_close(noisy_input_covariance(X, delta, KERNEL, 0.01), expected)


@settings(max_examples=60, deadline=None)
@given(deltas=st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=12, max_size=12),
       log_ell=st.floats(math.log(0.05), math.log(3.0)), noise_var=st.floats(1e-4, 1.0))
def test_noisy_input_covariance_is_positive_definite(deltas, log_ell, noise_var):
    kernel = SquaredExponential(math.exp(log_ell), 1.0)
    cov = noisy_input_covariance(X, torch.tensor(deltas), kernel, noise_var)
    torch.testing.assert_close(cov, cov.T)
    assert torch.linalg.eigvalsh(cov).min() > 0.5 * noise_var  # cov = (PSD part) + σ² I


def test_posterior_mean_interpolates_noise_free_data():
    x = torch.linspace(-1, 1, 8)
    y = x**3 - x
    mean, var = posterior_f(x, y, x, SquaredExponential(0.5, 1.0), 1e-10)
    torch.testing.assert_close(mean, y, atol=1e-6, rtol=0)
    assert var.max() < 1e-6


def test_posterior_variance_is_prior_variance_far_from_data():
    mean, var = posterior_f(X, Y, torch.tensor([50.0]), KERNEL, 0.01)
    assert abs(float(mean)) < 1e-12 and float(var) == pytest.approx(1.3)


def test_posterior_matches_dense_conditioning():
    x_star = torch.linspace(-1, 1, 5)
    cov = KERNEL.K(X, X) + 0.02 * torch.eye(len(X))
    cross = KERNEL.K(x_star, X)
    mean, var = posterior_f(X, Y, x_star, KERNEL, 0.02)
    torch.testing.assert_close(mean, cross @ torch.linalg.solve(cov, Y))
    torch.testing.assert_close(var, 1.3 - torch.diagonal(cross @ torch.linalg.solve(cov, cross.T)))


def test_noisy_input_posterior_matches_dense_conditioning_on_the_joint_prior():
    delta = torch.linspace(-0.2, 0.2, len(X))
    x_star = torch.linspace(-1, 1, 5)
    mean, var = noisy_input_posterior_f(X, Y, delta, x_star, KERNEL, 0.02)
    # Stack (f(x*), f(X), f'(X)) and condition by brute force.
    z = torch.cat([x_star, X])
    joint = joint_f_df_covariance(KERNEL, z)
    m, n = len(x_star), len(X)
    keep = torch.cat([torch.arange(m + n), m + n + m + torch.arange(n)])  # f(x*), f(X), f'(X)
    joint = joint[keep][:, keep]
    A = torch.zeros(m + n, 2 * n + m)
    A[:m, :m] = torch.eye(m)
    A[m:, m:m + n] = torch.eye(n)
    A[m:, m + n:] = -torch.diag(delta)
    C = A @ joint @ A.T
    C[m:, m:] += 0.02 * torch.eye(n)
    gain = torch.linalg.solve(C[m:, m:], C[m:, :m]).T
    torch.testing.assert_close(mean, gain @ Y)
    torch.testing.assert_close(var, torch.diagonal(C[:m, :m] - gain @ C[m:, :m]))


def test_joint_sample_derivative_matches_finite_differences():
    x = torch.linspace(-1, 1, 400)
    f, df = sample_joint_f_df(SquaredExponential(0.3, 1.0), x, generator=torch.Generator().manual_seed(3))
    fd = (f[2:] - f[:-2]) / (x[2:] - x[:-2])
    assert float((fd - df[1:-1]).abs().max()) < 0.05 * float(df.abs().max())


def test_singular_covariance_raises_a_clear_error():
    x = torch.tensor([0.0, 0.0, 1.0])
    with pytest.raises(NotPositiveDefiniteError, match="increase noise_var"):
        log_marginal_likelihood(x, torch.zeros(3), SquaredExponential(1.0, 1.0), 0.0)
