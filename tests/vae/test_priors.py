import math

import pytest
import torch

from probgen.vae import FlowPrior, MixtureOfGaussiansPrior, MLPEncoder, StandardGaussianPrior, VampPrior


def _randomise(module, scale, seed):
    """Non-trivial parameters: every parameter gets seeded Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _grid_mass(prior, limit=8.0, n=400):
    """Midpoint rule for the integral of exp(log_prob) over [-limit, limit]^2."""
    h = 2 * limit / n
    c = torch.linspace(-limit + h / 2, limit - h / 2, n, dtype=torch.float64)
    z = torch.cartesian_prod(c, c)  # (n*n, 2)
    with torch.no_grad():
        return float(torch.exp(prior.log_prob(z)).sum() * h * h)


def _mog():
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, 4, init_spread=2.0).double()
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.5, -1.0, 1.0, 0.0]))
        prior.log_scales.copy_(torch.tensor([[-0.5, 0.2], [0.3, -0.3], [0.0, 0.4], [-0.8, -0.2]]))
    return prior


def _flow(dim=2, seed=0):
    torch.manual_seed(seed)
    return _randomise(FlowPrior(dim, n_layers=4, hidden=16).double(), 0.15, seed)


def test_standard_gaussian_log_prob_is_the_closed_form():
    z = torch.randn(5, 3, dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(StandardGaussianPrior(3).double().log_prob(z), expected)


def test_mixture_log_prob_matches_torch_distributions():
    prior = _mog()
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=prior.logits),
        torch.distributions.Independent(torch.distributions.Normal(prior.means, prior.log_scales.exp()), 1))
    z = torch.randn(7, 2, dtype=torch.float64)
    torch.testing.assert_close(prior.log_prob(z), mix.log_prob(z).detach())


@pytest.mark.parametrize("make", [lambda: StandardGaussianPrior(2).double(), _mog, _flow],
                         ids=["gaussian", "mog", "flow"])
def test_density_integrates_to_one(make):
    assert _grid_mass(make()) == pytest.approx(1.0, abs=1e-2)


def test_flow_is_not_the_identity_after_randomising():
    flow = _flow()
    z = torch.randn(10, 2, dtype=torch.float64)
    x, log_det = flow(z)
    assert (x - z).abs().max() > 0.1 and log_det.abs().max() > 0.05


def test_vamp_prior_integrates_to_one():
    torch.manual_seed(0)
    enc = MLPEncoder(latent_dim=2, hidden=(8,), input_shape=(1, 4, 4)).double()
    prior = VampPrior(2, 6, enc, (1, 4, 4)).double()
    assert _grid_mass(prior) == pytest.approx(1.0, abs=1e-2)


def test_flow_inverse_undoes_forward():
    flow = _flow(dim=5)
    z = torch.randn(64, 5, dtype=torch.float64)
    x, log_det_fwd = flow(z)
    z_back, log_det_inv = flow.inverse(x)
    torch.testing.assert_close(z_back, z, atol=1e-10, rtol=0)
    torch.testing.assert_close(log_det_inv, -log_det_fwd, atol=1e-10, rtol=0)


def test_flow_log_dets_equal_autograd_jacobians():
    flow = _flow(dim=4, seed=1)
    z = torch.randn(6, 4, dtype=torch.float64)
    with torch.no_grad():
        x, log_det_fwd = flow(z)
        _, log_det_inv = flow.inverse(x)
    for i in range(z.shape[0]):
        jac_fwd = torch.autograd.functional.jacobian(lambda v: flow(v.unsqueeze(0))[0][0], z[i])
        jac_inv = torch.autograd.functional.jacobian(lambda v: flow.inverse(v.unsqueeze(0))[0][0], x[i])
        assert log_det_fwd[i].item() == pytest.approx(torch.linalg.slogdet(jac_fwd).logabsdet.item(), abs=1e-10)
        assert log_det_inv[i].item() == pytest.approx(torch.linalg.slogdet(jac_inv).logabsdet.item(), abs=1e-10)


def test_flow_masks_alternate_over_half_the_dimensions():
    flow = FlowPrior(6, n_layers=3, hidden=4)
    masks = [layer.mask.tolist() for layer in flow.layers]
    assert masks[0] == [1, 1, 1, 0, 0, 0] and masks[1] == [0, 0, 0, 1, 1, 1] and masks[2] == masks[0]


def test_fresh_flow_prior_is_standard_gaussian():
    flow = FlowPrior(3, n_layers=2, hidden=8)
    z = torch.randn(4, 3)
    torch.testing.assert_close(flow.log_prob(z), StandardGaussianPrior(3).log_prob(z))


def test_flow_samples_pull_back_to_a_standard_gaussian():
    flow = _flow()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        z, _ = flow.inverse(flow.sample(20_000, generator=g))
    torch.testing.assert_close(z.mean(0), torch.zeros(2, dtype=torch.float64), atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(z.T), torch.eye(2, dtype=torch.float64), atol=0.05, rtol=0)


def test_mixture_samples_have_the_mixture_mean():
    prior = _mog()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        z = prior.sample(40_000, generator=g)
    expected = (torch.softmax(prior.logits, 0)[:, None] * prior.means).sum(0).detach()
    se = z.std(0) / math.sqrt(z.shape[0])
    assert ((z.mean(0) - expected).abs() < 5 * se).all()


@pytest.mark.parametrize("name", ["gaussian", "mog", "flow", "vamp"])
def test_sample_shape_and_generator_reproducibility(name):
    torch.manual_seed(0)
    enc = MLPEncoder(latent_dim=3, hidden=(8,), input_shape=(1, 4, 4))
    prior = {"gaussian": StandardGaussianPrior(3), "mog": MixtureOfGaussiansPrior(3, 4),
             "flow": FlowPrior(3, n_layers=2, hidden=8), "vamp": VampPrior(3, 4, enc, (1, 4, 4))}[name]
    with torch.no_grad():
        a = prior.sample(11, generator=torch.Generator().manual_seed(5))
        b = prior.sample(11, generator=torch.Generator().manual_seed(5))
        c = prior.sample(11, generator=torch.Generator().manual_seed(6))
        assert a.shape == (11, 3) and prior.log_prob(a).shape == (11,)
        assert prior.log_prob(a[:1]).shape == (1,)
    assert torch.equal(a, b) and not torch.equal(a, c)
