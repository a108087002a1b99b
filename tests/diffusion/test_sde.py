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
from probgen.diffusion.sde import (SDE, ScoreSDE, SubVPSDE, VESDE, VPSDE, bits_per_dim, encode, euler_maruyama, expand,
                                   log_likelihood, predictor_corrector, probability_flow, tweedie_denoise)
from probgen.runtime import ConfigError

from ..tolerances import rounding_tol

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


# ----- the three forward processes: closed forms, simulation, prior, and sampling with the exact score -------------

SDE_KINDS = {"vp": VPSDE(), "subvp": SubVPSDE(), "ve": VESDE()}


def _closed_form(kind: str, t: float) -> tuple[float, float]:
    """(a(t), Var[x_t | x_0]) from Song et al. (2021, eqs. 29–31), written out here in plain float64 maths."""
    if kind == "ve":
        smin, smax = 0.01, 50.0
        return 1.0, smin ** 2 * ((smax / smin) ** (2 * t) - 1.0)
    b = 0.1 * t + 0.5 * (20.0 - 0.1) * t ** 2  # ∫₀ᵗ β, β(s) = 0.1 + 19.9 s
    var = 1.0 - math.exp(-b)
    return math.exp(-0.5 * b), (var if kind == "vp" else var ** 2)


@pytest.mark.parametrize("kind", list(SDE_KINDS))
def test_marginal_mean_and_variance_match_the_closed_form(kind):
    sde = SDE_KINDS[kind]
    # t ≥ 0.05 keeps r^{2t} − 1 of the plain VE formula away from cancellation (r^{0.1} − 1 ≈ 1.3)
    times = [0.05, 0.1, 0.25, 0.5, 0.75, 1.0]
    a, std = sde.marginal(torch.tensor(times, dtype=torch.float64))
    expected = torch.tensor([_closed_form(kind, t) for t in times], dtype=torch.float64)
    # a few dozen float64 roundings (exp, pow, sqrt of values of size ≤ σ_max²) on each side
    tol = rounding_tol(torch.float64, 1.0, ops=64)
    torch.testing.assert_close(a, expected[:, 0], rtol=tol, atol=0.0)
    torch.testing.assert_close(std ** 2, expected[:, 1], rtol=tol, atol=0.0)
    a0, std0 = sde.marginal(torch.zeros(1, dtype=torch.float64))
    assert float(a0) == 1.0 and float(std0) == 0.0  # no noise at the data end


@pytest.mark.parametrize("kind", list(SDE_KINDS))
def test_euler_maruyama_simulation_of_the_forward_sde_has_the_marginal_moments(kind):
    """dx = f dt + g dw simulated from a fixed x0 with plain Euler–Maruyama (f, g only, not `marginal`)."""
    sde, n, steps, x0 = SDE_KINDS[kind], 20_000, 1000, 0.8
    gen = torch.Generator().manual_seed(5)
    x = torch.full((n, 1), x0, dtype=torch.float64)
    h = 1.0 / steps
    checks = {100: None, 300: None, 600: None, 1000: None}  # step k: t = k h
    for k in range(steps):
        t = torch.full((n,), k * h, dtype=torch.float64)
        x = x + sde.drift(x, t) * h + expand(sde.diffusion(t), x) * math.sqrt(h) * torch.randn(
            x.shape, generator=gen, dtype=torch.float64)
        if k + 1 in checks:
            checks[k + 1] = x.clone()
    for k, xt in checks.items():
        a, std = (float(v) for v in sde.marginal(torch.tensor([k * h], dtype=torch.float64)))
        var = std ** 2
        # 4 standard errors of the sample mean and variance of n Gaussian draws, plus Euler–Maruyama's O(h) bias
        # (left-point g², drift): below h·max|d log g²/dt| ≈ h·2 log(σ_max/σ_min) ≈ 1.7 % of the variance
        mean_tol = 4 * std / math.sqrt(n) + 0.02 * abs(a * x0)
        var_tol = 4 * var * math.sqrt(2 / (n - 1)) + 0.02 * var
        assert abs(float(xt.mean()) - a * x0) < mean_tol, (kind, k)
        assert abs(float(xt.var()) - var) < var_tol, (kind, k)


@pytest.mark.parametrize("kind", list(SDE_KINDS))
def test_the_prior_is_the_marginal_at_t1_and_is_what_the_samplers_start_from(kind):
    sde = SDE_KINDS[kind]
    a1, std1 = (float(v) for v in sde.marginal(torch.ones(1, dtype=torch.float64)))
    p = sde.prior_std()
    # KL(N(a₁x₀, σ₁²) ‖ N(0, p²)) per coordinate for data in [−1, 1]: the prior stands in for p_1
    for x0 in (-1.0, 0.0, 1.0):
        kl = math.log(p / std1) + (std1 ** 2 + (a1 * x0) ** 2) / (2 * p ** 2) - 0.5
        assert 0 <= kl < 1e-3, (x0, kl)
    model = ScoreSDE(GaussianEps(sde, M, S), sde, data_shape=(2,))
    n = 20_000
    starts = [sampler(model, n, steps=1, generator=torch.Generator().manual_seed(6), keep=(0,)).path[0]
              for sampler in (euler_maruyama, predictor_corrector, probability_flow)]
    drawn = sde.prior_sample((n, 2), torch.Generator().manual_seed(6), dtype=torch.float64)
    for start in starts:
        torch.testing.assert_close(start, drawn, rtol=0.0, atol=0.0)  # the same draw, from the prior
    # and that draw is N(0, p² I): 4 standard errors of its mean and standard deviation
    assert drawn.mean(0).abs().max() < 4 * p / math.sqrt(n)
    assert (drawn.std(0) - p).abs().max() < 4 * p / math.sqrt(2 * n)


def test_ve_discretize_adds_the_exact_variance_so_any_grid_reaches_the_marginal():
    """G² = σ(t)² − σ(t − dt)² telescopes: 5 steps of x + G z from x0 give Var = σ(1)² exactly (in expectation)."""
    sde, n = VESDE(), 40_000
    x = torch.zeros(n, 1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(7)
    total = torch.zeros(1, dtype=torch.float64)
    for k in range(5):
        t = torch.full((n,), (k + 1) / 5, dtype=torch.float64)
        f, g = sde.discretize(x, t, 0.2)
        assert torch.all(f == 0)
        total = total + g[:1] ** 2
        x = x + f + expand(g, x) * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    var1 = float(sde.marginal(torch.ones(1, dtype=torch.float64))[1] ** 2)
    assert float(total) == pytest.approx(var1, rel=rounding_tol(torch.float64, 1.0, ops=16))
    assert abs(float(x.var()) - var1) < 4 * var1 * math.sqrt(2 / (n - 1))
    _, g_small = sde.discretize(x[:1], torch.full((1,), 0.5, dtype=torch.float64), 1e-5)
    # small steps: G² ≈ g(t)² dt up to the O(dt) change of g² over the step, relative 2 log(r)·dt ≈ 1.7e-4
    assert float(g_small ** 2) == pytest.approx(float(sde.diffusion(torch.tensor([0.5], dtype=torch.float64)) ** 2)
                                                * 1e-5, rel=2e-4)


def _prior_bias(model: ScoreSDE) -> torch.Tensor:
    """How far the prior's mean 0 (instead of p_1's a₁m) moves the samples' mean, per coordinate.

    The exact probability flow maps x_1 to a_e m + (x_1 − a₁m)·√(v_e/v₁), so a start mean of 0 shifts the result by
    a₁|m|·√(v_e/v₁); the reverse SDE contracts a deviation at least as fast (by v_e/v₁ · a₁/a_e), so this bounds
    both. Tiny for VP and sub-VP (a₁ ≈ 0.007), |m|·s/σ_max = 0.01|m| for VE (p_1 is centred on m).
    """
    gauss = model.network
    a1, _, v1 = gauss.moments(torch.ones(1, dtype=torch.float64), M[None])
    _, _, ve = gauss.moments(torch.full((1,), model.t_eps, dtype=torch.float64), M[None])
    return (a1 * M.abs() * torch.sqrt(ve / v1))[0]


@pytest.mark.parametrize("kind", ["subvp", "ve"])
@pytest.mark.parametrize("sampler,kwargs", [(euler_maruyama, {"steps": 500}),
                                            (predictor_corrector, {"steps": 250, "snr": 0.1}),
                                            (probability_flow, {"steps": 200, "method": "heun"})],
                         ids=["em", "pc-reverse-diffusion", "pf-heun"])
def test_samplers_of_the_subvp_and_ve_sdes_with_the_exact_score_recover_gaussian_data(kind, sampler, kwargs):
    sde = SDE_KINDS[kind]
    model = ScoreSDE(GaussianEps(sde, M, S), sde, data_shape=(2,))
    n = 20_000
    out = sampler(model, n, generator=torch.Generator().manual_seed(8), **kwargs).x
    # 4 standard errors of the sample mean and standard deviation, the prior's known offset, and 0.01 for the
    # solvers' discretisation (first order for Euler–Maruyama and the corrector; Heun's is far smaller)
    mc = 4 * S / math.sqrt(n)
    assert torch.all((out.mean(0) - M).abs() < mc + _prior_bias(model) + 0.01), out.mean(0)
    assert torch.all((out.std(0) - S).abs() < mc / math.sqrt(2) + 0.01), out.std(0)


@pytest.mark.parametrize("kind", ["subvp", "ve"])
def test_probability_flow_of_the_subvp_and_ve_sdes_follows_the_exact_map(kind):
    """Per sample, not only in distribution: Heun's ODE solution against the linear map of the exact flow."""
    sde = SDE_KINDS[kind]
    model = ScoreSDE(GaussianEps(sde, M, S), sde, data_shape=(2,))
    z = sde.prior_sample((2000, 2), torch.Generator().manual_seed(9), dtype=torch.float64)
    out = probability_flow(model, steps=400, method="heun", x_init=z).x
    exact = model.network.exact_map(z, model.t_eps)
    assert (out - exact).abs().max() < 1e-3  # Heun's O(h²) error only; an O(1) bug would show everywhere
    back = encode(model, out[:200], steps=400).x
    assert ((back - z[:200]).abs() / sde.prior_std()).max() < 1e-3


class _Recorder(nn.Module):
    """Returns zeros and keeps the input it was given."""

    def forward(self, x, t, y=None):
        self.seen = x.clone()
        return torch.zeros_like(x)


@pytest.mark.parametrize("kind", list(SDE_KINDS))
def test_input_scaling_hands_the_network_x_over_the_marginal_scale(kind):
    sde = SDE_KINDS[kind]
    net = _Recorder()
    model = ScoreSDE(net, sde, input_scaling=True)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    t = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    model.score(x, t)
    a, std = (float(v) for v in sde.marginal(torch.tensor([0.9], dtype=torch.float64)))
    torch.testing.assert_close(net.seen[3], x[3] / math.sqrt(a ** 2 + std ** 2), rtol=rounding_tol(torch.float64,
                                                                                                     ops=8), atol=0.0)
    if kind == "vp":  # a² + σ² = 1: the scaling is the identity, up to rounding
        torch.testing.assert_close(net.seen, x, rtol=rounding_tol(torch.float64, ops=8), atol=0.0)
    if kind == "ve":  # at t = 1 the input is x / √(1 + σ(1)²) ≈ x / σ_max
        torch.testing.assert_close(net.seen[4], x[4] / math.sqrt(1 + sde.marginal(t[4:])[1].item() ** 2))
    # the loss sees the same scaled input as the score
    model.loss(x, generator=torch.Generator().manual_seed(0))
    assert net.seen.abs().max() < 10  # x_t / √(a² + σ²) for |x0| ≲ 3: never σ_max-sized
    with pytest.raises(ConfigError, match="input_scaling"):
        ScoreSDE(net, sde, input_scaling="yes")
