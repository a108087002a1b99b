import math

import pytest
import torch

from probgen import vae
from probgen.vae import FlowPrior, MixtureOfGaussiansPrior, MLPEncoder, StandardGaussianPrior, VampPrior
from probgen.vae.study import PriorStudyConfig

from ..tolerances import rounding_tol


def _randomise(module, scale, seed):
    """Non-trivial parameters: every parameter gets seeded Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _quadrature(prior, limit, n):
    """Midpoint-rule mass of the box [-limit, limit]^2 on n and 2n cells per axis, and the grid error of the finer one.

    The rule errs by O(h^2), so Q(h/2) errs by about (Q(h) - Q(h/2)) / 3; |Q(h) - Q(h/2)| is three times that
    estimate (a margin for densities with kinks, which the flow's ReLU networks give, where the rule is less regular).
    """
    box = ((-limit, limit), (-limit, limit))
    coarse, fine = (vae.grid_mass(*vae.prior_density_grid(prior, box, m)) for m in (n, 2 * n))
    return fine, abs(coarse - fine)


def _density_rounding(dtype, log_p_size, width):
    """Rounding of the quadrature: each exp(log p) is off by ~ width * eps * |log p| relative (log p sums terms of
    that size through dot products of `width` terms), and the mass is a p-weighted average of those relative errors;
    the float64 sum adds log2(#cells) * eps64 at most."""
    return rounding_tol(dtype, log_p_size, ops=width) + rounding_tol(torch.float64, 1.0, ops=40)


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


def _study_mog_2d(dtype):
    """The 2-D mixture prior of the priors study (its K), with spread-out means, unequal weights and scales."""
    k = PriorStudyConfig.for_profile("quick").n_components
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, k, init_spread=1.5).to(dtype)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        prior.logits.copy_(torch.randn(k, generator=g, dtype=dtype))
        prior.log_scales.copy_(-0.6 + 0.4 * torch.rand(k, 2, generator=g, dtype=dtype))  # sigma in [0.55, 0.82]
    return prior


def _study_flow_2d(dtype, hidden=32):
    """The 2-D flow prior of the priors study (its number of layers; narrower couplings keep the test quick), with
    weights moved far from the identity it starts as: every weight gets noise of size 0.8 / sqrt(fan-in)."""
    torch.manual_seed(1)
    flow = FlowPrior(2, n_layers=PriorStudyConfig.for_profile("quick").flow_layers, hidden=hidden).double()
    g = torch.Generator().manual_seed(101)
    with torch.no_grad():
        for p in flow.parameters():
            fan_in = p.shape[-1] if p.ndim == 2 else 1
            p.add_(0.8 * torch.randn(p.shape, generator=g, dtype=p.dtype) / math.sqrt(fan_in))
    return flow.to(dtype)


def _normal_box_mass(mean, scale, limit):
    """P(|z_d| <= limit for every d) under N(mean, diag(scale^2)), (..., D) -> (...), in float64."""
    normal = torch.distributions.Normal(torch.zeros((), dtype=torch.float64), 1.0)
    mean, scale = mean.double(), scale.double()
    return (normal.cdf((limit - mean) / scale) - normal.cdf((-limit - mean) / scale)).prod(-1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_2d_gaussian_and_mixture_densities_integrate_to_their_closed_form_box_mass(dtype):
    limit, n = 6.0, 150
    for prior, box_mass in [
        (StandardGaussianPrior(2).to(dtype), _normal_box_mass(torch.zeros(2), torch.ones(2), limit)),
        (_study_mog_2d(dtype), None),
    ]:
        if box_mass is None:  # the mixture's mass in the box: sum_k pi_k prod_d [Phi(.) - Phi(.)]
            with torch.no_grad():
                box_mass = (torch.softmax(prior.logits.double(), 0)
                            * _normal_box_mass(prior.means, prior.log_scales.exp(), limit)).sum()
        mass, grid_error = _quadrature(prior, limit, n)
        tol = grid_error + _density_rounding(dtype, log_p_size=limit**2 / 0.55**2, width=2)
        assert abs(mass - float(box_mass)) <= tol, (type(prior).__name__, mass, float(box_mass), grid_error, tol)
        # the box holds all but a closed-form sliver of the mass, so the density integrates to 1
        assert abs(mass - 1.0) <= tol + (1.0 - float(box_mass))
        assert 1.0 - float(box_mass) < 1e-3 and grid_error < 1e-3  # the test is not vacuous: box and grid are fine


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_2d_flow_density_integrates_to_one(dtype):
    flow = _study_flow_2d(dtype)
    limit, n, n_samples = 7.0, 200, 100_000
    with torch.no_grad():
        z = torch.randn(1000, 2, dtype=dtype, generator=torch.Generator().manual_seed(0))
        assert flow(z)[1].abs().min() > 1.0  # far from volume-preserving: a wrong log-det would show
        x = flow.sample(n_samples, generator=torch.Generator().manual_seed(2))
    # mass outside the box, bounded from samples: the count plus 3 Poisson standard deviations (3 / N when none)
    outside = int((x.abs() > limit).any(1).sum())
    tail = (outside + 3 * math.sqrt(outside) + 3) / n_samples
    mass, grid_error = _quadrature(flow, limit, n)
    tol = grid_error + _density_rounding(dtype, log_p_size=limit**2, width=32)
    assert mass <= 1.0 + tol
    assert abs(mass - 1.0) <= tol + tail, (mass, grid_error, tail, tol)
    assert grid_error < 1e-3 and tail < 1e-3


def test_flow_is_not_the_identity_after_randomising():
    flow = _flow()
    z = torch.randn(10, 2, dtype=torch.float64)
    x, log_det = flow(z)
    assert (x - z).abs().max() > 0.1 and log_det.abs().max() > 0.05


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_vamp_prior_integrates_to_its_closed_form_box_mass(dtype):
    """The VampPrior is the equal-weight mixture of the encoder's Gaussians at the pseudo-inputs, so its mass in a
    box is (1/K) sum_k prod_d [Phi(.) - Phi(.)]; the tolerance is the grid error plus the rounding of log p."""
    torch.manual_seed(0)
    enc = MLPEncoder(latent_dim=2, hidden=(8,), input_shape=(1, 4, 4))
    prior = VampPrior(2, 6, enc, (1, 4, 4)).to(dtype)
    limit, n = 6.0, 150
    with torch.no_grad():
        mean, log_var = prior.components()  # (K, 2) each
        scale = (0.5 * log_var).exp()
        box_mass = float(_normal_box_mass(mean, scale, limit).mean())
    mass, grid_error = _quadrature(prior, limit, n)
    # log p sums squared standardised distances of size up to (limit + |mean|)^2 / scale^2 over 2 dimensions,
    # after the encoder's dot products over its 16 inputs and 8 hidden units
    log_p_size = float(((limit + mean.abs().max()) / scale.min()) ** 2)
    tol = grid_error + _density_rounding(dtype, log_p_size=log_p_size, width=16)
    assert abs(mass - box_mass) <= tol, (mass, box_mass, grid_error, tol)
    assert abs(mass - 1.0) <= tol + (1.0 - box_mass)  # the box holds all but a closed-form sliver: it integrates to 1
    assert 1.0 - box_mass < 1e-3 and grid_error < 1e-3 and tol < 1e-3  # the test is not vacuous


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
