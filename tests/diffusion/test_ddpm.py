"""DDPM: the forward process, the loss, the ELBO weights, ancestral and DDIM sampling, and guidance.

The sampler checks use Gaussian data N(0, s² I), for which the exact noise predictor is known in closed form,

    ε*(x, t) = √(1 − ᾱ_t) x / v_t,   v_t = ᾱ_t s² + 1 − ᾱ_t   (x_t ~ N(0, v_t I)),

so every sampler is a linear map of x_T (plus Gaussian noise) whose coefficients follow from the schedule.
"""

import math

import pytest
import torch
from torch import nn

import probgen.diffusion.ddpm as ddpm_module
from probgen.diffusion import DDPM, NoiseSchedule
from probgen.nets import NULL_LABEL, TimeMLP, UNet

from ..tolerances import rounding_tol

S = 0.5  # data std of the Gaussian checks


class GaussianEps(nn.Module):
    """The exact ε-predictor of data N(0, s² I) under `schedule`, in float64 (t: integer steps as floats)."""

    def __init__(self, schedule: NoiseSchedule, s: float = S):
        super().__init__()
        self.ab, self.s = schedule.alpha_bars, s
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))  # DDPM reads device and dtype from it

    def forward(self, x, t, y=None):
        ab = self.ab[t.long()].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return (1 - ab).sqrt() * x / (ab * self.s**2 + 1 - ab)


class SpyNet(nn.Module):
    """A label-dependent toy network ε = x·(1 + t/100) + (y + 2)/10 (the null label −1 and None give +0.1);
    records every label tensor it is given."""

    def __init__(self, dim: int = 2):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x, t, y=None):
        self.seen.append(None if y is None else y.clone())
        shift = 0.1 if y is None else (y.to(x.dtype) + 2).view(-1, *([1] * (x.ndim - 1))) / 10
        return self.scale * x * (1 + t.view(-1, *([1] * (x.ndim - 1))) / 100) + shift


def tiny_mlp(seed=0, **kwargs):
    torch.manual_seed(seed)
    return TimeMLP(dim=2, hidden=16, layers=2, time_dim=8, **kwargs)


def tiny_unet(seed=0, **kwargs):
    """A small U-Net whose zero-initialised layers are re-drawn, so that it is not the constant 0."""
    torch.manual_seed(seed)
    net = UNet(base_channels=8, groups=4, channel_mults=(1, 2), heads=2, attention_resolutions=(7,), **kwargs)
    with torch.no_grad():
        for p in net.parameters():
            if p.ndim > 1 and not p.any():
                p.normal_(0, 0.05)
    return net


def steep(T: int) -> NoiseSchedule:
    """The standard 1e-4 … 2e-2 linear schedule squeezed into T steps (β capped at 0.5), so that ᾱ_T ≈ 0 as with
    T = 1000 (ᾱ_T ≈ 8e-6 for T = 50, 4e-3 for T = 20)."""
    return NoiseSchedule.linear(T, 0.1 / T, min(20 / T, 0.5))


# ----- forward process -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("t_int", [0, 30, 99])
def test_q_sample_moments(t_int):
    """Mean √ᾱ_t x0 and variance 1 − ᾱ_t per coordinate, within 5 standard errors of n = 200 000 draws."""
    model = DDPM(tiny_mlp(), NoiseSchedule.linear(100, 1e-3, 0.05))
    n = 200_000
    x0 = torch.tensor([1.5, -0.7], dtype=torch.float64).expand(n, 2)
    torch.manual_seed(1)
    xt = model.q_sample(x0, torch.full((n,), t_int))
    ab = model.schedule.alpha_bars[t_int].item()
    var = 1 - ab
    assert xt.dtype == torch.float64
    assert torch.allclose(xt.mean(0), math.sqrt(ab) * x0[0], atol=5 * math.sqrt(var / n))
    assert torch.allclose(xt.var(0), torch.full((2,), var, dtype=torch.float64), atol=5 * var * math.sqrt(2 / n))


@pytest.mark.parametrize("shape", [(3, 2), (3, 1, 28, 28)])
def test_q_sample_is_exact_given_the_noise(shape):
    model = DDPM(tiny_mlp(), NoiseSchedule.linear(50))
    x0, noise = torch.randn(shape), torch.randn(shape)
    t = torch.tensor([0, 17, 49])
    ab = model.schedule.alpha_bars[t].view(-1, *([1] * (len(shape) - 1)))
    # coefficients from float64 ᾱ: 1 − ᾱ in float32 would cancel (ᾱ_0 ≈ 0.9999) and err by ~3e-6 by itself
    torch.testing.assert_close(model.q_sample(x0, t, noise), ab.sqrt().float() * x0 + (1 - ab).sqrt().float() * noise)


def test_loss_is_the_noise_mse_drawn_from_the_generator():
    net = tiny_mlp()
    model = DDPM(net, NoiseSchedule.linear(50))
    x0 = torch.randn(16, 2)
    loss = model.loss(x0, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    t = torch.randint(0, 50, (16,), generator=g)
    noise = torch.randn(16, 2, generator=g)
    with torch.no_grad():
        expected = (net(model.q_sample(x0, t, noise), t.float()) - noise).pow(2).mean()
    torch.testing.assert_close(loss.detach(), expected)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_loss_with_p_uncond_one_only_passes_the_null_label():
    spy = SpyNet()
    y = torch.tensor([0, 1, 2, 3] * 4)
    DDPM(spy, NoiseSchedule.linear(20), p_uncond=1.0).loss(torch.randn(16, 2), y)
    assert len(spy.seen) == 1 and torch.equal(spy.seen[0], torch.full((16,), NULL_LABEL))
    spy.seen.clear()
    DDPM(spy, NoiseSchedule.linear(20), p_uncond=0.0).loss(torch.randn(16, 2), y)
    assert torch.equal(spy.seen[0], y)
    spy.seen.clear()
    DDPM(spy, NoiseSchedule.linear(20), p_uncond=0.5).loss(torch.randn(400, 2), torch.zeros(400, dtype=torch.long),
                                                           generator=torch.Generator().manual_seed(0))
    dropped = (spy.seen[0] == NULL_LABEL).float().mean().item()
    assert set(spy.seen[0].tolist()) == {0, NULL_LABEL} and abs(dropped - 0.5) < 0.1


def _eight_bit(shape, seed=0):
    """Images on the 8-bit grid in [−1, 1], as load_mnist(..., "symmetric") gives them, including 0 and 255."""
    k = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed))
    k.view(-1)[:2] = torch.tensor([0, 255])
    return k, (k.double() / 255 * 2 - 1).float()


def test_dequantize_stays_in_its_grey_level_bin_with_uniform_noise_of_one_level():
    k, x = _eight_bit((4000, 1, 4, 4))
    out = ddpm_module.dequantize(x, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= -1 and out.max() < 1  # inside [−1, 1): pixel 255 ends below 1
    u = ((out.double() + 1) / 2 * 256 - k).flatten()  # the position inside the bin, in grey levels
    # float32 output: (k + u)/256·2 − 1 rounds by eps·|x| ≤ 1.2e-7, i.e. 1.2e-7·128 levels
    tol = rounding_tol(torch.float32, 128, ops=2)
    assert u.min() >= -tol and u.max() < 1 + tol  # one grey level wide: 2/256 in [−1, 1] units
    n = u.numel()
    # U[0, 1): mean 1/2 (sd of the mean √(1/12/n)) and variance 1/12 (sd of the estimate ≈ √(1/180/n)); 5 sd
    assert abs(u.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.var().item() - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    again = ddpm_module.dequantize(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again) and not torch.equal(out, ddpm_module.dequantize(x))


def test_dequantize_refuses_values_off_the_grid():
    _, x = _eight_bit((8, 1, 4, 4))
    once = ddpm_module.dequantize(x, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="256 grey levels"):
        ddpm_module.dequantize(once)  # already dequantised
    with pytest.raises(ValueError, match="256 grey levels"):
        ddpm_module.dequantize((x + 1) / 2 + 0.5)  # outside [−1, 1]
    with pytest.raises(ValueError, match="levels"):
        ddpm_module.dequantize(x, levels=1)


def test_loss_with_dequantize_uses_the_dequantised_images():
    net = tiny_unet()
    model = DDPM(net, NoiseSchedule.linear(50), dequantize=True)
    _, x0 = _eight_bit((4, 1, 28, 28))
    loss = model.loss(x0, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    t = torch.randint(0, 50, (4,), generator=g)
    noise = torch.randn(4, 1, 28, 28, generator=g)
    x0_deq = ddpm_module.dequantize(x0, generator=g)
    with torch.no_grad():
        expected = (net(model.q_sample(x0_deq, t, noise), t.float()) - noise).pow(2).mean()
        plain = (net(model.q_sample(x0, t, noise), t.float()) - noise).pow(2).mean()
    torch.testing.assert_close(loss.detach(), expected)
    assert not torch.equal(expected, plain)
    with pytest.raises(ValueError, match="grey levels"):
        model.loss(torch.randn(4, 1, 28, 28))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_uncond_outside_0_1_raises(p):
    with pytest.raises(ValueError, match="p_uncond"):
        DDPM(SpyNet(), NoiseSchedule.linear(10), p_uncond=p)


# ----- ELBO --------------------------------------------------------------------------------------------------------
def test_elbo_weights_formula():
    s = NoiseSchedule.linear(100, 1e-3, 0.05)
    lam = DDPM(SpyNet(), s).elbo_weights()
    assert lam.dtype == torch.float64 and lam.shape == (100,) and math.isnan(lam[0])
    assert torch.all(lam[1:] > 0)
    for t in (1, 50, 99):
        b, ab, ab_prev = s.betas[t].item(), s.alpha_bars[t].item(), s.alpha_bars_prev[t].item()
        sigma2 = b * (1 - ab_prev) / (1 - ab)
        assert lam[t].item() == pytest.approx(b**2 / (2 * sigma2 * (1 - b) * (1 - ab)), rel=1e-12)
    assert not torch.isnan(s.posterior_variance).any()  # the NaN is not written back into the schedule


def test_elbo_terms_are_nonnegative_and_the_prior_kl_is_closed_form():
    s = NoiseSchedule.linear(30, 1e-3, 0.2)
    model = DDPM(tiny_mlp(), s)
    x0 = torch.tensor([[1.0, -2.0], [0.5, 0.25], [0.0, 3.0]])
    terms = model.elbo_terms(x0, generator=torch.Generator().manual_seed(0))
    assert terms["t"].tolist() == list(range(1, 30)) and terms["kl"].shape == (29,)
    assert torch.all(terms["kl"] >= 0) and torch.isfinite(terms["kl"]).all()
    ab = s.alpha_bars[-1].item()
    # KL(N(√ᾱ_T x0, (1 − ᾱ_T) I) || N(0, I)) = ½ (ᾱ_T |x0|² + d (1 − ᾱ_T) − d − d log(1 − ᾱ_T)), batch mean
    closed = [0.5 * (ab * (x**2).sum().item() + 2 * ((1 - ab) - 1 - math.log(1 - ab))) for x in x0]
    assert terms["prior_kl"].item() == pytest.approx(sum(closed) / 3, rel=1e-5)

    # one step by hand, with the same noise
    t5 = model.elbo_terms(x0, steps=[5], generator=torch.Generator().manual_seed(1))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    t = torch.full((3,), 5)
    with torch.no_grad():
        err = (model.network(model.q_sample(x0, t, noise), t.float()) - noise).pow(2).sum(1)
    assert t5["kl"].item() == pytest.approx((model.elbo_weights()[5].item() * err).mean().item(), rel=1e-5)
    per_example = model.elbo_weights()[5].item() * err  # its standard error: sd over the 3 examples / √3
    assert t5["kl_se"].item() == pytest.approx(per_example.std().item() / math.sqrt(3), rel=1e-5)
    assert model.elbo_terms(x0[:1], steps=[5])["kl_se"].item() == 0.0
    for bad in (0, 30):
        with pytest.raises(ValueError, match="steps 1"):
            model.elbo_terms(x0, steps=[bad])


# ----- DDIM --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("T,steps", [(1000, 50), (1000, 1000), (50, 7), (10, 2), (7, 6), (1, 1)])
def test_ddim_steps(T, steps):
    times = DDPM.ddim_steps(T, steps)
    assert len(times) == steps and times[0] == T - 1 and times[-1] == 0
    assert all(a > b for a, b in zip(times, times[1:]))


def test_one_ddim_step_starts_at_T_minus_1():
    assert DDPM.ddim_steps(10, 1) == [9]


@pytest.mark.parametrize("steps", [0, 11, -1])
def test_ddim_steps_out_of_range_raise(steps):
    with pytest.raises(ValueError, match="steps"):
        DDPM.ddim_steps(10, steps)


def test_ddim_eta_zero_is_deterministic_given_x_T():
    model = DDPM(tiny_mlp(), steep(20))
    x_T = torch.randn(8, 2)
    a = model.ddim_sample(8, steps=10, x_T=x_T, generator=torch.Generator().manual_seed(0))
    b = model.ddim_sample(8, steps=10, x_T=x_T, generator=torch.Generator().manual_seed(99))
    c = model.ddim_sample(8, steps=10, x_T=x_T)
    assert torch.equal(a, b) and torch.equal(a, c) and torch.isfinite(a).all()
    d = model.ddim_sample(8, steps=10, generator=torch.Generator().manual_seed(3))  # x_T from the generator
    e = model.ddim_sample(8, steps=10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(d, e) and not torch.equal(a, d)
    assert not torch.equal(model.ddim_sample(8, steps=10, eta=1.0, x_T=x_T, generator=torch.Generator().manual_seed(0)),
                           model.ddim_sample(8, steps=10, eta=1.0, x_T=x_T, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="eta"):
        model.ddim_sample(8, eta=-0.5)


def test_ddim_eta_one_with_all_steps_is_ancestral_sampling():
    """σ_t(η = 1)² = β̃_t and √(1 − ᾱ_{t−1} − β̃_t) ε = ct_t √(1 − ᾱ_t) ε: the same step, with the same noise draws
    (x_T, then one z per step except the last) from a generator with the same seed; only rounding differs.

    The same maths, so compared in float64 (the samplers draw and run in the network's dtype). The tiny random
    network's x̂_0 reaches |x| ≈ 90 (ᾱ_T ≈ 4e-3 divides by √ᾱ_t), and the two chains round differently in a few
    operations per step, each of order eps·max|x|: 4 per step over T = 20 steps (measured: at most 6 in all)."""
    model = DDPM(tiny_mlp().double(), steep(20))
    for n_or_shape in (64, (64, 2)):
        ddim = model.ddim_sample(n_or_shape, steps=20, eta=1.0, generator=torch.Generator().manual_seed(7))
        ddpm = model.sample(n_or_shape, variance="posterior", generator=torch.Generator().manual_seed(7))
        assert ddim.dtype == ddpm.dtype == torch.float64
        tol = rounding_tol(torch.float64, ddpm.abs().max().item(), ops=4 * 20)
        torch.testing.assert_close(ddim, ddpm, rtol=0, atol=tol)
    other = model.sample(64, variance="beta", generator=torch.Generator().manual_seed(7))
    assert not torch.allclose(other, ddpm, atol=1e-3)  # another variance moves the samples by ~0.6


def _visits(model, **kwargs):
    """Run a sampler with a recording eps_fn; return the list of (t, x_t, ε) it saw and the final sample."""
    seen = []

    def eps_fn(x, t, y):
        eps = model.eps(x, t, y)
        seen.append((int(t[0]), x.clone(), eps))
        return eps

    return seen, eps_fn


def test_ddim_eta_zero_and_the_posterior_mean_path(monkeypatch):
    """DDIM (η = 0, all T steps) against the ancestral chain with z = 0 (the "posterior mean path").

    Both steps give x̂_0 the same weight √ᾱ_{t−1} (c0_t + ct_t √ᾱ_t = √ᾱ_{t−1}), but DDIM keeps √(1 − ᾱ_{t−1}) of ε
    while the posterior mean keeps ct_t √(1 − ᾱ_t) = √(1 − ᾱ_{t−1} − β̃_t): from the same x_t they differ by exactly
    Δ_t ε_θ(x_t) with Δ_t = √(1 − ᾱ_{t−1}) − √(1 − ᾱ_{t−1} − β̃_t); that is checked per step to float32 rounding.

    The whole paths are *not* close, for any T: Σ_t Δ_t does not shrink with T (β̃_t ~ 1/T but there are T
    terms), because the z = 0 chain follows the reverse SDE's drift f − g²∇log p, which pulls twice as hard as the
    probability-flow ODE f − ½ g²∇log p that DDIM discretises. For Gaussian data both are x_0 = c·x_T with known c:
    DDIM c ≈ s (the ODE maps N(0, 1) onto N(0, s²)) but the z = 0 chain gives c = E[x_0 | x_T]/x_T ≈ 0 since x_T
    forgets x_0. So the justified tolerance for the whole path is none; each path is checked against its own
    closed form instead, to 1e-10 in float64.
    """
    T = 50
    schedule = steep(T)
    ab, abp, bt = schedule.alpha_bars, schedule.alpha_bars_prev, schedule.posterior_variance
    delta = (1 - abp).sqrt() - (1 - abp - bt).clamp(min=0).sqrt()

    # per step, with a tiny random network
    model = DDPM(tiny_mlp(), schedule)
    x_T = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    seen, eps_fn = _visits(model)
    ddim = model.ddim_sample(32, steps=T, x_T=x_T, eps_fn=eps_fn)
    c0 = abp.sqrt() * schedule.betas / (1 - ab)
    ct = schedule.alphas.sqrt() * (1 - abp) / (1 - ab)
    nexts = [x for _, x, _ in seen[1:]] + [ddim]
    for (t, x, eps), x_next in zip(seen, nexts):
        x0_hat = (x - (1 - ab[t]).sqrt().item() * eps) / ab[t].sqrt().item()
        posterior_mean = c0[t].item() * x0_hat + ct[t].item() * x
        torch.testing.assert_close(x_next, posterior_mean + delta[t].item() * eps, rtol=1e-4, atol=1e-4 * (1 + x.abs().max().item()))
    assert [t for t, _, _ in seen] == list(reversed(range(T)))

    # whole path, Gaussian data: each path is its own closed-form linear map
    gauss = DDPM(GaussianEps(schedule), schedule)
    x_T = torch.randn(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ddim = gauss.ddim_sample(x_T.shape, steps=T, x_T=x_T)
    v = ab * S**2 + 1 - ab
    c_ddim = (((abp * ab).sqrt() * S**2 + ((1 - abp) * (1 - ab)).sqrt()) / v).prod().item()
    torch.testing.assert_close(ddim, c_ddim * x_T, rtol=1e-10, atol=1e-12)

    real_randn = torch.randn
    draws = iter([x_T])  # x_T first, then z = 0 at every step

    def randn_then_zeros(*args, **kwargs):
        first = next(draws, None)
        return first.clone() if first is not None else torch.zeros_like(real_randn(*args, **kwargs))

    monkeypatch.setattr(ddpm_module.torch, "randn", randn_then_zeros)
    mean_path = gauss.sample(x_T.shape)
    monkeypatch.setattr(ddpm_module.torch, "randn", real_randn)
    c_mean = (c0 * ab.sqrt() * S**2 / v + ct).prod().item()
    torch.testing.assert_close(mean_path, c_mean * x_T, rtol=1e-10, atol=1e-12)
    assert c_ddim == pytest.approx(S, rel=0.1) and c_mean < 1e-2  # 0.472 and 0.0007 for this schedule


@pytest.mark.parametrize("T", [50, 1000])
def test_gaussian_data_samplers_recover_the_data_std(T):
    """With the exact ε, DDIM (η = 0, all steps) is x_0 = c x_T with c = Π_t (√(ᾱ_{t−1}ᾱ_t) s² + √((1−ᾱ_{t−1})(1−ᾱ_t)))/v_t,
    a Cauchy–Schwarz product ≤ s/√v_T that tends to s as T grows. Ancestral sampling has variance V_0 from
    V_{t−1} = m_t² V_t + β̃_t, below s² for small T (the true reverse variance exceeds β̃_t). Sample stds are checked
    within 5 standard errors of n = 2·20 000 draws, and against s: within 6 % / 12 % (DDIM / ancestral) for T = 50 and
    0.5 % / 1 % for T = 1000."""
    schedule = steep(T) if T == 50 else NoiseSchedule.linear(1000)
    model = DDPM(GaussianEps(schedule), schedule)
    ab, abp = schedule.alpha_bars, schedule.alpha_bars_prev
    v = ab * S**2 + 1 - ab
    x_T = torch.randn(20_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c_ddim = (((abp * ab).sqrt() * S**2 + ((1 - abp) * (1 - ab)).sqrt()) / v).prod().item()
    ddim = model.ddim_sample(x_T.shape, steps=T, x_T=x_T)
    torch.testing.assert_close(ddim, c_ddim * x_T, rtol=1e-9, atol=1e-12)
    m = (abp.sqrt() * schedule.betas / (1 - ab)) * ab.sqrt() * S**2 / v + schedule.alphas.sqrt() * (1 - abp) / (1 - ab)
    var = 1.0
    for i in reversed(range(T)):
        var = m[i].item() ** 2 * var + schedule.posterior_variance[i].item()
    ancestral = model.sample(x_T.shape, generator=torch.Generator().manual_seed(1))
    n = ancestral.numel()
    assert ancestral.std().item() == pytest.approx(math.sqrt(var), rel=5 / math.sqrt(2 * n))
    assert ancestral.mean().abs().item() < 5 * math.sqrt(var / n)
    # 0.472 and 0.443 for T = 50; 0.4985 and 0.4961 for T = 1000
    tol_ddim, tol_ancestral = (0.06, 0.12) if T == 50 else (0.005, 0.01)
    assert c_ddim == pytest.approx(S, rel=tol_ddim) and math.sqrt(var) == pytest.approx(S, rel=tol_ancestral)
    assert ddim.std().item() == pytest.approx(S, rel=tol_ddim + 5 / math.sqrt(2 * n))
    assert ancestral.std().item() == pytest.approx(S, rel=tol_ancestral + 5 / math.sqrt(2 * n))


# ----- guidance ------------------------------------------------------------------------------------------------------
def test_guidance_scale_zero_is_the_conditional_model_and_w_mixes_by_hand():
    for net in (SpyNet(), tiny_mlp(n_classes=3)):
        model = DDPM(net, NoiseSchedule.linear(20))
        x, t, y = torch.randn(6, 2), torch.arange(6), torch.tensor([0, 1, 2, 0, 1, 2])
        with torch.no_grad():
            cond, uncond = net(x, t.float(), y), net(x, t.float(), torch.full_like(y, NULL_LABEL))
            torch.testing.assert_close(model.eps(x, t, y, guidance_scale=0.0), cond)
            assert not torch.allclose(cond, uncond)
            for w in (0.5, 3.0):
                torch.testing.assert_close(model.eps(x, t, y, guidance_scale=w), (1 + w) * cond - w * uncond)
            torch.testing.assert_close(model.eps(x, t, None, guidance_scale=2.0), net(x, t.float(), None))


def test_guided_ddim_with_w_zero_equals_the_conditional_sampler():
    model = DDPM(tiny_mlp(n_classes=3), steep(20))
    x_T = torch.randn(6, 2)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    seen, eps_fn = _visits(model)
    a = model.ddim_sample(6, steps=5, x_T=x_T, y=y, guidance_scale=0.0)
    b = model.ddim_sample(6, steps=5, x_T=x_T, eps_fn=lambda x, t, _: model.network(x, t.float(), y))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, model.ddim_sample(6, steps=5, x_T=x_T, y=y, guidance_scale=2.0))


# ----- samplers on both shapes ---------------------------------------------------------------------------------------
def test_samplers_on_2d_points():
    model = DDPM(tiny_mlp(), steep(20))
    assert model.sample_shape == (2,)
    x, snaps = model.sample(5, snapshots=(20, 10, 0), generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 2) and torch.isfinite(x).all()
    assert set(snaps) == {20, 10, 0} and torch.equal(snaps[0], x) and all(s.shape == (5, 2) for s in snaps.values())
    torch.testing.assert_close(snaps[20], torch.randn(5, 2, generator=torch.Generator().manual_seed(0)))
    assert model.sample((3, 2), variance="beta").shape == (3, 2)
    assert model.ddim_sample(5, steps=4).shape == (5, 2)
    with pytest.raises(ValueError, match="variance"):
        model.sample(2, variance="learned")
    with pytest.raises(ValueError, match="sample shape"):
        DDPM(SpyNet(), steep(20)).sample(2)
    assert DDPM(SpyNet(), steep(20)).sample((2, 2)).shape == (2, 2)


def test_samplers_on_images_with_labels_and_guidance():
    net = tiny_unet(n_classes=3)
    model = DDPM(net, steep(10), clip_x0=1.0)
    assert model.sample_shape == (1, 28, 28)
    x = model.sample(2, y=torch.tensor([0, 2]), guidance_scale=1.5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()
    x = model.ddim_sample((2, 1, 28, 28), steps=4, y=1, guidance_scale=1.0)  # one label for all
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()
    unconditional = DDPM(tiny_unet(patch_size=2), steep(10))
    assert unconditional.ddim_sample(2, steps=3).shape == (2, 1, 28, 28)


def test_clip_x0_bounds_x0_hat_and_the_final_sample():
    model = DDPM(tiny_mlp(), steep(20), clip_x0=1.0)
    x, t = 10 * torch.randn(50, 2), torch.full((50,), 10)
    eps = torch.randn(50, 2)
    assert model.predict_x0(x, t, eps).abs().max() <= 1.0
    unclipped = DDPM(model.network, model.schedule).predict_x0(x, t, eps)
    assert unclipped.abs().max() > 1.0
    torch.testing.assert_close(model.predict_x0(x, t, eps), unclipped.clamp(-1, 1))
    # the last step of both samplers returns x̂_0 itself
    gen = torch.Generator().manual_seed(0)
    assert model.sample(200, generator=gen).abs().max() <= 1.0
    assert model.ddim_sample(200, steps=5, eta=0.5, generator=gen).abs().max() <= 1.0
