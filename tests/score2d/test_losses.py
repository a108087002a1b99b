import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import (ScoreMLP, VPSchedule, divergence_exact, divergence_hutchinson, dsm_loss, ism_exact_loss,
                             ism_hutchinson_loss)


def _gaussian_data(n, seed):
    """(n, 2) draws of a correlated Gaussian N(m, S), float64."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.tensor([[0.5, 0.0], [0.3, 0.2]], dtype=torch.float64)
    return torch.tensor([0.4, -0.2], dtype=torch.float64) + torch.randn(n, 2, generator=g, dtype=torch.float64) @ chol.T


def _linear_score(A, c):
    A, c = torch.tensor(A, dtype=torch.float64), torch.tensor(c, dtype=torch.float64)
    return lambda x, k: x @ A.T + c


def test_exact_divergence_of_a_known_field():
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    s = torch.stack([x[:, 0] ** 2, x[:, 0] * x[:, 1]], dim=-1)  # ∇·s = 2x1 + x1
    torch.testing.assert_close(divergence_exact(s, x), 3 * x[:, 0].detach())


@pytest.mark.parametrize("weighting,k", [("sigma2", None), ("none", 60)])
def test_ism_and_dsm_differ_by_a_parameter_free_constant(weighting, k):
    """ISM(θ) − DSM(θ) is the same for every θ (a linear score model, Gaussian data, common random numbers)."""
    sch = VPSchedule(K=100, beta_0=0.001, beta_1=20.0)
    n = 100_000
    x0 = _gaussian_data(n, seed=1)
    ks = None if k is None else torch.full((n,), k)
    thetas = [_linear_score([[-1.0, 0.3], [0.2, -2.0]], [0.1, 0.0]),
              _linear_score([[0.5, -1.0], [0.0, 0.7]], [-0.3, 0.4])]
    diffs = []
    for score in thetas:
        ism = ism_exact_loss(score, x0, sch, torch.Generator().manual_seed(7), weighting=weighting, k=ks).detach()
        dsm = dsm_loss(score, x0, sch, torch.Generator().manual_seed(7), weighting=weighting, k=ks)
        diffs.append(ism - dsm)
    d = diffs[0] - diffs[1]
    assert abs(d.mean()) < 4 * d.std() / n ** 0.5
    # ... and the losses themselves do depend on θ, so the test has teeth
    ism0 = ism_exact_loss(thetas[0], x0, sch, torch.Generator().manual_seed(7), weighting=weighting, k=ks).detach()
    ism1 = ism_exact_loss(thetas[1], x0, sch, torch.Generator().manual_seed(7), weighting=weighting, k=ks).detach()
    assert abs((ism0 - ism1).mean()) > 10 * (ism0 - ism1).std() / n ** 0.5
    if weighting == "sigma2":  # by Stein's lemma, DSM − ISM = D/2 with λ = σ²
        assert abs(-diffs[0].mean() - 1.0) < 4 * diffs[0].std() / n ** 0.5


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_divergence_is_unbiased(probe):
    torch.manual_seed(0)
    net = ScoreMLP(hidden=16, layers=2).double()
    points, copies = 10, 4000
    x = torch.randn(points, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.full((points,), 0.3, dtype=torch.float64)
    xr = x.repeat(copies, 1).requires_grad_()  # (copies·points, 2), one probe per copy
    s = net(xr, t.repeat(copies))
    est = divergence_hutchinson(s, xr, torch.Generator().manual_seed(2), probe=probe, create_graph=False)
    est = est.detach().reshape(copies, points)  # (copies·points,) -> (copies, points)
    xe = x.clone().requires_grad_()
    exact = divergence_exact(net(xe, t), xe).detach()
    se = est.std(0) / copies ** 0.5
    assert ((est.mean(0) - exact).abs() < 4.5 * se + 1e-12).all()
    several = divergence_hutchinson(net(xe, t), xe, torch.Generator().manual_seed(3), n_probes=3, probe=probe)
    assert several.shape == (points,)


def test_losses_are_per_sample_and_seeded():
    sch = VPSchedule(K=50)
    torch.manual_seed(0)
    net = ScoreMLP(hidden=8, layers=1)

    def score(x, k):
        return net(x, k.float() / sch.K)

    x0 = torch.randn(16, 2)
    for loss, kwargs in ((ism_exact_loss, {}), (ism_hutchinson_loss, {"n_probes": 2}), (dsm_loss, {})):
        a = loss(score, x0, sch, torch.Generator().manual_seed(0), **kwargs)
        b = loss(score, x0, sch, torch.Generator().manual_seed(0), **kwargs)
        assert a.shape == (16,) and torch.equal(a, b) and a.requires_grad
        a.mean().backward()  # differentiable in the parameters (double backward for ISM)
        assert all(p.grad is not None for p in net.parameters())
        net.zero_grad()
    with pytest.raises(ConfigError, match="weighting"):
        dsm_loss(score, x0, sch, weighting="likelihood")
    with pytest.raises(ConfigError, match="probe"):
        ism_hutchinson_loss(score, x0, sch, probe="sphere")
