"""The SDE abstraction, the DSM loss and the samplers, checked against Gaussian data whose every marginal is known.

For data N(m, s² I) and x_t = a x0 + σ ε, p_t = N(a m, v I) with v = a² s² + σ², so the exact noise predictor is
E[ε | x_t] = σ (x_t − a m)/v and the probability-flow ODE is linear: it maps x_1 to
x_t = a_t m + (x_1 − a_1 m)·√(v_t / v_1), per sample.
"""

import math

import pytest
import torch
from torch import nn

from probgen.diffusion.schedules import NoiseSchedule
from probgen.diffusion.sde import (SDE, ScoreSDE, SubVPSDE, VESDE, VPSDE, bits_per_dim, encode, euler_maruyama,
                                   log_likelihood, predictor_corrector, probability_flow, tweedie_denoise)
from probgen.runtime import ConfigError

M = torch.tensor([1.0, -0.5], dtype=torch.float64)
S = 0.5


@pytest.fixture
def torch_dtype():
    return torch.float64  # the closed-form checks are tighter than float32 rounding


class GaussianEps(nn.Module):
    """The exact ε-predictor for data N(m, s² I) under `sde` (m broadcasts against x's trailing dimensions)."""

    def __init__(self, sde: SDE, m: torch.Tensor | float, s: float):
        super().__init__()
        self.sde, self.m, self.s = sde, torch.as_tensor(m, dtype=torch.float64), s

    def moments(self, t: torch.Tensor, like: torch.Tensor):
        a, std = (v.reshape(-1, *([1] * (like.ndim - 1))) for v in self.sde.marginal(t))
        return a, std, a ** 2 * self.s ** 2 + std ** 2

    def forward(self, x, t, y=None):
        a, std, var = self.moments(t, x)
        return std * (x - a * self.m) / var

    def exact_map(self, x1: torch.Tensor, t_end: float) -> torch.Tensor:
        """Where the probability-flow ODE started at x1 (t = 1) is at time t_end."""
        a1, _, v1 = self.moments(torch.ones(x1.shape[0]), x1)
        ae, _, ve = self.moments(torch.full((x1.shape[0],), t_end), x1)
        return ae * self.m + (x1 - a1 * self.m) * torch.sqrt(ve / v1)


class TinyConv(nn.Module):
    """A conv net on (B, C, H, W) with the time as an extra channel; records the labels it was given."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(channels + 1, channels, 3, padding=1)
        self.seen_y = None

    def forward(self, x, t, y=None):
        self.seen_y = y
        tt = t.reshape(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return self.conv(torch.cat([x, tt], dim=1))


def gaussian_model(sde=None, **kwargs) -> ScoreSDE:
    sde = sde or VPSDE()
    return ScoreSDE(GaussianEps(sde, M, S), sde, data_shape=(2,), **kwargs)


def test_vp_marginal_is_the_continuous_limit_of_the_linear_ddpm_schedule():
    sde = VPSDE()
    errors = {}
    for T in (100, 1000):
        schedule = NoiseSchedule.linear(T, beta_start=0.1 / T, beta_end=20.0 / T)  # β_min = T β_1, β_max = T β_T
        t = torch.arange(1, T + 1, dtype=torch.float64) / T
        a2 = sde.marginal(t)[0] ** 2
        errors[T] = (a2 - schedule.alpha_bars).abs().max().item()
        if T == 1000:  # the standard schedule 1e-4 → 2e-2
            assert torch.allclose(schedule.betas, NoiseSchedule.linear(1000).betas)
            relative = ((a2 - schedule.alpha_bars).abs() / schedule.alpha_bars)[: T // 2]
            assert relative.max() < 1e-2 and errors[T] < 1e-3
    assert 8 < errors[100] / errors[1000] < 12  # first order in 1/T


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE()], ids=["vp", "subvp", "ve"])
def test_marginals_solve_the_moment_equations_of_the_sde(sde):
    # drift f = c(t) x: d a/dt = c a and d σ²/dt = 2 c σ² + g²
    t = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)
    h = 1e-5
    c = sde.drift(torch.ones(10, 1, dtype=torch.float64), t)[:, 0]
    (a_hi, s_hi), (a_lo, s_lo) = sde.marginal(t + h), sde.marginal(t - h)
    a, std = sde.marginal(t)
    torch.testing.assert_close((a_hi - a_lo) / (2 * h), c * a, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close((s_hi ** 2 - s_lo ** 2) / (2 * h), 2 * c * std ** 2 + sde.diffusion(t) ** 2,
                               rtol=1e-6, atol=1e-6)
    assert torch.all(sde.marginal(torch.zeros(1, dtype=torch.float64))[1] == 0)


def test_probability_flow_transports_the_prior_to_gaussian_data():
    n = 20_000
    model = gaussian_model()
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    out = probability_flow(model, steps=200, method="heun", x_init=z)
    assert out.nfe == 400
    exact = model.network.exact_map(z, model.t_eps)
    assert (out.x - exact).abs().max() < 1e-3  # per sample: only Heun's O(h²) error
    tol = 4 * S / math.sqrt(n) + 0.01  # Monte Carlo, plus the prior N(0, I) standing in for p_1 (a_1 ≈ 0.007)
    assert (out.x.mean(0) - M).abs().max() < tol
    assert (out.x.std(0) - S).abs().max() < tol
    adaptive = probability_flow(model, x_init=z[:200], method="rk45", rtol=1e-8, atol=1e-8)
    assert (adaptive.x - exact[:200]).abs().max() < 1e-5
    back = encode(model, out.x[:200], steps=200)
    assert (back.x - z[:200]).abs().max() < 1e-3


@pytest.mark.parametrize("sampler,kwargs", [(euler_maruyama, {"steps": 500}),
                                            (predictor_corrector, {"steps": 250, "snr": 0.1}),
                                            (predictor_corrector, {"steps": 250, "snr": 0.1,
                                                                   "predictor": "euler_maruyama"})],
                         ids=["em", "pc-reverse-diffusion", "pc-em"])
def test_stochastic_samplers_with_the_exact_score_reach_the_data_distribution(sampler, kwargs):
    n = 20_000
    out = sampler(gaussian_model(), n, generator=torch.Generator().manual_seed(1), **kwargs)
    tol = 4 * S / math.sqrt(n) + 0.01  # Monte Carlo, plus discretisation and prior bias
    assert (out.x.mean(0) - M).abs().max() < tol
    assert (out.x.std(0) - S).abs().max() < tol


def _gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    return (-0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)).flatten(1).sum(1)


@pytest.mark.parametrize("divergence,n_probes,solver,tol", [("exact", 1, {"method": "rk45", "rtol": 1e-8, "atol": 1e-8},
                                                              1e-6),
                                                             ("hutchinson", 8, {"method": "heun", "steps": 200}, 1e-3)],
                         ids=["exact-rk45", "hutchinson-heun"])
def test_log_likelihood_by_the_probability_flow_matches_the_gaussian_density(divergence, n_probes, solver, tol):
    model = gaussian_model()
    gen = torch.Generator().manual_seed(2)
    x = M + S * torch.randn(300, 2, generator=gen)
    # the flow's Jacobian is diagonal here, so Rademacher probes give the exact trace
    ll = log_likelihood(model, x, divergence=divergence, n_probes=n_probes, generator=gen, **solver)
    # the model's own density: the prior pushed through the exact (affine) flow map
    gauss = model.network
    a1, _, v1 = gauss.moments(torch.ones(1), x)
    ae, _, ve = gauss.moments(torch.full((1,), model.t_eps), x)
    ratio2 = ve / v1
    model_ll = _gaussian_log_density(x, ae * M - a1 * M * ratio2.sqrt(), ratio2)
    assert (ll - model_ll).abs().max() < tol
    # the data's own density differs by the prior's mismatch with p_1 = N(a_1 m, v_1 I): |a_1 m·x_1| ≲ 0.03
    assert (ll - _gaussian_log_density(x, M, torch.tensor(S ** 2))).abs().max() < 3e-2


def test_bits_per_dim_adds_the_log_jacobian_of_the_rescaling():
    sde = VPSDE()
    model = ScoreSDE(GaussianEps(sde, 0.0, S), sde)
    x = S * torch.randn(4, 1, 2, 2, generator=torch.Generator().manual_seed(3))
    bpd = bits_per_dim(model, x, steps=100, dequantize=False, divergence="exact")
    exact_nll = -log_likelihood(model, x, steps=100, divergence="exact")
    torch.testing.assert_close(bpd, (exact_nll / 4 + math.log(127.5)) / math.log(2))
    noisy = bits_per_dim(model, x, steps=10, generator=torch.Generator().manual_seed(0))
    assert noisy.shape == (4,) and torch.isfinite(noisy).all()


def test_dsm_loss_of_the_exact_noise_predictor_is_the_irreducible_noise():
    model = gaussian_model(t_eps=1e-3)
    data_gen = torch.Generator().manual_seed(4)
    x0 = M + S * torch.randn(100, 1000, 2, generator=data_gen)
    losses = torch.stack([model.loss(chunk, generator=torch.Generator().manual_seed(i)) for i, chunk in
                          enumerate(x0)])
    # E‖ε − E[ε|x_t]‖²/D = E_t[a²s²/(a²s² + σ²)], t ~ U(t_eps, 1)
    t = torch.linspace(model.t_eps, 1.0, 100_001, dtype=torch.float64)
    a, std = model.sde.marginal(t)
    irreducible = torch.trapezoid(a ** 2 * S ** 2 / (a ** 2 * S ** 2 + std ** 2), t) / (1 - model.t_eps)
    assert abs(losses.mean() - irreducible) < 4 * losses.std() / 10
    # a predictor off by 0.1 everywhere pays 0.1² more; with the same draws the cross term 0.2·mean(ε̂ − ε) has a
    # standard error 0.2·√(0.2/2·10⁵) ≈ 2·10⁻⁴
    flat = x0.reshape(-1, 2)
    right = model.loss(flat, generator=torch.Generator().manual_seed(0))
    shifted = ScoreSDE(_Shifted(model.network, 0.1), model.sde, t_eps=1e-3)
    wrong = shifted.loss(flat, generator=torch.Generator().manual_seed(0))
    assert abs(wrong - right - 0.01) < 1e-3
    # the score parameterisation, fed −ε̂/σ, gives the same objective
    as_score = ScoreSDE(_AsScore(model.network), model.sde, parameterization="score", t_eps=1e-3)
    torch.testing.assert_close(as_score.loss(flat, generator=torch.Generator().manual_seed(0)), right)


class _Shifted(nn.Module):
    def __init__(self, net, shift):
        super().__init__()
        self.net, self.shift = net, shift

    def forward(self, x, t, y=None):
        return self.net(x, t, y) + self.shift


class _AsScore(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t, y=None):
        return -self.net(x, t, y) / self.net.moments(t, x)[1]


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE()], ids=["vp", "subvp", "ve"])
def test_samplers_run_on_images_with_a_conv_net(sde):
    torch.manual_seed(0)
    model = ScoreSDE(TinyConv(), sde, t_eps=1e-3, data_shape=(1, 4, 4))
    y = torch.tensor([0, 1, 2])
    gen = torch.Generator().manual_seed(0)
    loss = model.loss(torch.rand(3, 1, 4, 4) * 2 - 1, y=y, generator=gen)
    loss.backward()
    assert loss.ndim == 0 and model.network.conv.weight.grad is not None
    em = euler_maruyama(model, 3, steps=4, generator=gen, y=y, keep=(0, 2, 4))
    assert em.x.shape == (3, 1, 4, 4) and sorted(em.path) == [0, 2, 4] and em.nfe == 4
    assert model.network.seen_y is y
    pc = predictor_corrector(model, (3, 1, 4, 4), steps=3, corrector_steps=2, generator=gen)
    assert pc.x.shape == (3, 1, 4, 4) and pc.nfe == 9
    for method in ("euler", "heun", "rk45"):
        ode = probability_flow(model, 3, steps=3, method=method, generator=gen)
        assert ode.x.shape == (3, 1, 4, 4) and torch.isfinite(ode.x).all()
    assert encode(model, ode.x, steps=3).x.shape == (3, 1, 4, 4)
    bpd = bits_per_dim(model, torch.zeros(3, 1, 4, 4), steps=3, generator=gen)
    assert bpd.shape == (3,) and torch.isfinite(bpd).all()


def test_bad_arguments_raise_clear_errors():
    model = gaussian_model()
    with pytest.raises(ConfigError, match="steps=0"):
        euler_maruyama(model, 4, steps=0)
    with pytest.raises(ConfigError, match="parameterization='v'"):
        ScoreSDE(model.network, model.sde, parameterization="v")
    with pytest.raises(ConfigError, match="t_eps"):
        ScoreSDE(model.network, model.sde, t_eps=0.0)
    with pytest.raises(ConfigError, match="method='rk4'"):
        probability_flow(model, 4, method="rk4")
    with pytest.raises(ConfigError, match="no data_shape"):
        euler_maruyama(ScoreSDE(model.network, model.sde), 4, steps=2)
    with pytest.raises(ConfigError, match="keep"):
        euler_maruyama(model, 4, steps=2, keep=(3,))
    with pytest.raises(ConfigError, match="snr"):
        predictor_corrector(model, 4, steps=2, snr=0.0)
    with pytest.raises(ConfigError, match="beta_min"):
        VPSDE(beta_min=1.0, beta_max=0.5)


def test_vp_discretize_is_the_exact_transition_and_stays_valid_for_large_steps():
    """β_k = 1 − exp(−∫β) over (t − dt, t]: ≈ β(t)·dt for small dt, and below 1 when β(t)·dt > 1 (few steps)."""
    sde = VPSDE()
    x = torch.ones(3, 2, dtype=torch.float64)
    t = torch.full((3,), 0.5, dtype=torch.float64)
    _, g = sde.discretize(x, t, 1e-4)
    assert float(g[0] ** 2) == pytest.approx(float(sde.beta(t[0])) * 1e-4, rel=1e-3)
    t1 = torch.ones(3, dtype=torch.float64)
    f, g = sde.discretize(x, t1, 0.1)  # β(1)·dt = 2: the Euler value would be an impossible "β_k" > 1
    assert torch.isfinite(f).all() and float(g[0] ** 2) < 1
    a_t, _ = sde.marginal(t1)
    a_s, _ = sde.marginal(t1 - 0.1)
    assert float(1 - g[0] ** 2) == pytest.approx(float((a_t[0] / a_s[0]) ** 2), rel=1e-12)


def test_tweedie_denoise_is_the_posterior_mean_for_gaussian_data():
    """For x0 ~ N(m, s²) and x_t = a x0 + σ ε: E[x0 | x_t] = m + a s² (x_t − a m) / (a² s² + σ²)."""
    sde = VPSDE()
    model = ScoreSDE(GaussianEps(sde, M, S), sde)
    x = torch.randn(50, 2, dtype=torch.float64)
    t = torch.full((50,), 0.3, dtype=torch.float64)
    a, sigma = (float(v[0]) for v in sde.marginal(t))
    expected = M + a * S**2 * (x - a * M) / (a**2 * S**2 + sigma**2)
    torch.testing.assert_close(tweedie_denoise(model, x, t), expected)


@pytest.mark.parametrize("sampler", ["em", "pc", "pf"])
def test_samplers_with_a_final_denoising_step_keep_the_nfe_and_the_moments(sampler):
    sde = VPSDE()
    model = ScoreSDE(GaussianEps(sde, M, S), sde, data_shape=(2,))
    g = torch.Generator().manual_seed(3)
    run = {"em": lambda **kw: euler_maruyama(model, 20_000, steps=200, generator=g, **kw),
           "pc": lambda **kw: predictor_corrector(model, 20_000, steps=200, generator=g, **kw),
           "pf": lambda **kw: probability_flow(model, 20_000, steps=100, generator=g, **kw)}[sampler]
    plain, denoised = run(), run(denoise=True, keep=(0, 1))
    assert denoised.nfe == (plain.nfe - 1 if sampler == "pf" else plain.nfe)
    assert set(denoised.path) == {0, 1}
    x = denoised.x
    tol = 4 * S / math.sqrt(x.shape[0]) + 0.01
    assert torch.allclose(x.mean(0), M, atol=tol)
    assert torch.allclose(x.std(0), torch.full((2,), S, dtype=torch.float64), atol=tol + 0.01)
