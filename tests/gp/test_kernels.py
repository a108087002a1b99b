import pytest
import torch

from probgen.gp import SquaredExponential, central_difference, joint_f_df_covariance




X1 = torch.tensor([-0.9, -0.2, 0.0, 0.35, 1.3], dtype=torch.float64)
X2 = torch.tensor([-0.5, 0.1, 0.4, 2.0], dtype=torch.float64)
KERNEL = SquaredExponential(lengthscale=0.37, variance=1.7)


def _autograd_blocks(kernel, x1, x2):
    """∂k/∂x1_i and ∂²k/∂x1_i∂x2_j of every pair by autograd, shapes (N1, N2)."""
    d1 = torch.empty(len(x1), len(x2))
    d2 = torch.empty(len(x1), len(x2))
    for i, a in enumerate(x1):
        for j, b in enumerate(x2):
            a_, b_ = a.clone().requires_grad_(), b.clone().requires_grad_()
            k = kernel.K(a_[None], b_[None])[0, 0]
            (g,) = torch.autograd.grad(k, a_, create_graph=True)
            (gg,) = torch.autograd.grad(g, b_)
            d1[i, j], d2[i, j] = g.detach(), gg
    return d1, d2


def test_derivative_blocks_equal_autograd():
    d1, d2 = _autograd_blocks(KERNEL, X1, X2)
    torch.testing.assert_close(KERNEL.K1(X1, X2), d1, rtol=0, atol=1e-8)
    torch.testing.assert_close(KERNEL.K2(X1, X2), d2, rtol=0, atol=1e-8)


def test_K_is_the_squared_exponential_and_stationary():
    K = KERNEL.K(X1, X2)
    r = X1[:, None] - X2[None, :]
    torch.testing.assert_close(K, 1.7 * torch.exp(-r**2 / (2 * 0.37**2)))
    torch.testing.assert_close(KERNEL.K(X1 + 3.0, X2 + 3.0), K)
    torch.testing.assert_close(KERNEL.diag(X1), torch.diagonal(KERNEL.K(X1, X1)))
    torch.testing.assert_close(KERNEL.diag_K2(X1), torch.diagonal(KERNEL.K2(X1, X1)))


def test_joint_covariance_is_symmetric_positive_semidefinite():
    x = torch.linspace(-1, 1, 30)
    cov = joint_f_df_covariance(KERNEL, x)
    torch.testing.assert_close(cov, cov.T)
    assert torch.linalg.eigvalsh(cov).min() > -1e-9 * cov.diagonal().max()


def test_batched_parameters_give_one_block_per_grid_point():
    ells, variances = torch.tensor([0.2, 0.5, 1.0]), torch.tensor([0.5, 1.0, 2.0])
    batched = SquaredExponential(ells, variances)
    for name in ("K", "K1", "K2"):
        blocks = getattr(batched, name)(X1, X2)
        assert blocks.shape == (3, len(X1), len(X2))
        for g in range(3):
            single = getattr(SquaredExponential(ells[g], variances[g]), name)(X1, X2)
            torch.testing.assert_close(blocks[g], single)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_parameters_must_be_positive(bad):
    with pytest.raises(ValueError, match="lengthscale must be positive"):
        SquaredExponential(bad, 1.0)
    with pytest.raises(ValueError, match="variance must be positive"):
        SquaredExponential(1.0, bad)


def test_from_log_keeps_the_gradient():
    log_ell = torch.tensor(-1.0, requires_grad=True)
    kernel = SquaredExponential.from_log(log_ell, torch.tensor(0.0))
    kernel.K(X1, X2).sum().backward()
    assert log_ell.grad is not None and torch.isfinite(log_ell.grad)


def test_central_difference_is_exact_for_quadratics():
    x = torch.linspace(-1, 1, 11)
    torch.testing.assert_close(central_difference(3 * x**2 - x, x), 6 * x[1:-1] - 1)
