import math

import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import DiffusedMixture, SpiralMixture, VPSchedule, mean_nll, no_score, reverse_sample


def test_schedule_matches_the_exercise():
    sch = VPSchedule(K=1000, beta_0=0.001, beta_1=0.2)
    assert sch.alphas.dtype == torch.float64 and sch.alphas.shape == (1001,)
    assert sch.alphas[0] == 1 and sch.alphas_cumprod[0] == 1
    t_prev = torch.arange(1000, dtype=torch.float64) / 1000
    torch.testing.assert_close(sch.alphas[1:], torch.exp(-(0.001 + 0.199 * t_prev) / 1000))
    torch.testing.assert_close(sch.alphas_cumprod, torch.cumprod(sch.alphas, 0))
    torch.testing.assert_close(sch.sigmas ** 2, 1 - sch.alphas_cumprod)
    # the exercise's warning: β1 = 0.2 leaves ᾱ_K ≈ exp(−(β0 + β1)/2) ≈ 0.90
    assert abs(float(sch.alphas_cumprod[-1]) - math.exp(-0.1005)) < 1e-3
    assert float(VPSchedule(K=1000, beta_0=0.001, beta_1=20.0).alphas_cumprod[-1]) < 1e-4


@pytest.mark.parametrize("k", [0, 1, 10, 100, 400])
def test_exact_score_is_the_gradient_of_the_exact_log_density(k):
    dm = DiffusedMixture(SpiralMixture(), VPSchedule(K=400))
    x = (1.5 * torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(k))).requires_grad_()
    grad = torch.autograd.grad(dm.log_prob_k(x, k).sum(), x)[0]
    torch.testing.assert_close(dm.score_k(x.detach(), k), grad, atol=1e-8, rtol=1e-8)


def test_closed_form_marginal_matches_the_forward_process():
    mix, sch = SpiralMixture(), VPSchedule(K=100, beta_0=0.001, beta_1=2.0)
    dm = DiffusedMixture(mix, sch)
    g = torch.Generator().manual_seed(0)
    n = 40_000
    x0 = mix.sample(n, g)
    for k in (5, 50, 100):
        xk = x0.clone()
        for j in range(1, k + 1):  # the forward chain step by step, not q(x_k | x0)
            xk = sch.alphas[j].sqrt() * xk + sch.betas[j].sqrt() * torch.randn(xk.shape, generator=g, dtype=xk.dtype)
        direct = sch.q_sample(x0, k, g)
        # the mixture's mean and covariance: centres' moments plus the component variance
        c = dm.centres_k(k)
        mean = c.mean(0)
        cov = torch.cov(c.T, correction=0) + dm.var_k(k) * torch.eye(2, dtype=torch.float64)
        for sample in (xk, direct):
            se_mean = (torch.diagonal(cov) / n).sqrt()
            assert ((sample.mean(0) - mean).abs() < 4 * se_mean).all()
            emp = torch.cov(sample.T)
            # the standard error of a covariance entry: √((Σ_ii Σ_jj + Σ_ij²) / n) (Gaussian approximation)
            se_cov = ((torch.diagonal(cov)[:, None] * torch.diagonal(cov)[None] + cov ** 2) / n).sqrt()
            assert ((emp - cov).abs() < 5 * se_cov).all(), (k, emp, cov)
        # and the densities agree: mean log p_k of forward samples is its own expectation within noise
        lp_chain, lp_direct = dm.log_prob_k(xk, k), dm.log_prob_k(direct, k)
        se = (lp_chain.var() / n + lp_direct.var() / n).sqrt()
        assert abs(lp_chain.mean() - lp_direct.mean()) < 4 * se


def test_q_sample_accepts_per_sample_steps():
    sch = VPSchedule(K=10)
    x0 = torch.ones(3, 2)
    noise = torch.zeros(3, 2)
    out = sch.q_sample(x0, torch.tensor([0, 5, 10]), noise=noise)
    expected = sch.alphas_cumprod[[0, 5, 10]].sqrt().float()[:, None].expand(3, 2)
    torch.testing.assert_close(out, expected)
    images = torch.ones(3, 1, 4, 4)  # the same helper broadcasts over image-shaped data
    out = sch.q_sample(images, torch.tensor([0, 5, 10]), noise=torch.zeros_like(images))
    torch.testing.assert_close(out[:, 0, 2, 3], expected[:, 0])


def test_exact_score_reverse_sampling_reaches_the_spiral():
    mix = SpiralMixture()
    dm = DiffusedMixture(mix, VPSchedule(K=100, beta_0=0.001, beta_1=20.0))
    g = torch.Generator().manual_seed(0)
    data_nll, _ = mean_nll(mix.sample(1000, g), mix)
    for method in ("euler_maruyama", "ancestral"):
        x, snaps = reverse_sample(dm.score_k, 1000, dm.schedule, g, snapshots=(100, 50, 0), method=method,
                                  dtype=torch.float64)
        assert list(snaps) == [100, 50, 0] and torch.equal(snaps[0], x)
        assert abs(float(snaps[100].std()) - 1) < 0.1  # started from N(0, I)
        nll, _ = mean_nll(x, mix)
        assert nll < data_nll + 0.6, (method, nll, data_nll)
    x_none, _ = reverse_sample(no_score, 1000, dm.schedule, g, dtype=torch.float64)
    assert mean_nll(x_none, mix)[0] > data_nll + 100  # without the score nothing pulls towards the data


def test_reverse_sample_is_seeded_and_checks_its_arguments():
    sch = VPSchedule(K=20)
    a, _ = reverse_sample(no_score, 5, sch, torch.Generator().manual_seed(1))
    b, _ = reverse_sample(no_score, 5, sch, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.dtype == torch.float32
    with pytest.raises(ConfigError, match="method"):
        reverse_sample(no_score, 5, sch, method="heun")
    with pytest.raises(ValueError, match="outside"):
        reverse_sample(no_score, 5, sch, snapshots=(21,))


@pytest.mark.parametrize("kwargs", [dict(K=0), dict(beta_0=-1.0), dict(beta_0=2.0, beta_1=1.0)])
def test_bad_schedules_are_rejected(kwargs):
    with pytest.raises(ConfigError):
        VPSchedule(**kwargs)


def test_per_point_steps_match_one_step_at_a_time():
    dm = DiffusedMixture(SpiralMixture(), VPSchedule(K=50))
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ks = torch.tensor([0, 1, 5, 20, 49, 50])
    score = torch.stack([dm.score_k(x[i:i + 1], int(k))[0] for i, k in enumerate(ks)])
    logp = torch.stack([dm.log_prob_k(x[i:i + 1], int(k))[0] for i, k in enumerate(ks)])
    torch.testing.assert_close(dm.score_k(x, ks), score)
    torch.testing.assert_close(dm.log_prob_k(x, ks), logp)
