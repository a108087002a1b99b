"""The β schedules: endpoints, the cumulative product, β̃, the cosine closed form, validation and `gather`."""

import math

import pytest
import torch

from probgen.diffusion.schedules import NoiseSchedule, ScheduleConfig, gather
from probgen.runtime import ConfigError


def test_linear_endpoints_and_cumulative_product():
    s = NoiseSchedule.linear(100, beta_start=1e-3, beta_end=5e-2)
    assert s.T == 100 and s.betas.shape == (100,)
    assert s.betas[0].item() == pytest.approx(1e-3, abs=1e-15) and s.betas[-1].item() == pytest.approx(5e-2, abs=1e-15)
    assert torch.all(s.betas[1:] > s.betas[:-1])
    running, expected = 1.0, []
    for b in s.betas.tolist():
        running *= 1 - b
        expected.append(running)
    torch.testing.assert_close(s.alpha_bars, torch.tensor(expected, dtype=torch.float64), rtol=1e-13, atol=0)
    assert s.alpha_bars_prev[0].item() == 1.0
    torch.testing.assert_close(s.alpha_bars_prev[1:], s.alpha_bars[:-1], rtol=0, atol=0)
    torch.testing.assert_close(s.snr(), s.alpha_bars / (1 - s.alpha_bars))


@pytest.mark.parametrize("schedule", [NoiseSchedule.linear(50), NoiseSchedule.cosine(50), NoiseSchedule.linear(1000)])
def test_everything_is_float64(schedule):
    for name in ("betas", "alphas", "alpha_bars", "alpha_bars_prev", "posterior_variance"):
        assert getattr(schedule, name).dtype == torch.float64, name


def test_posterior_variance_matches_a_direct_loop():
    s = NoiseSchedule.linear(200, 1e-4, 0.3)
    loop, ab_prev = [], 1.0
    for b in s.betas.tolist():
        ab = ab_prev * (1 - b)
        loop.append(b * (1 - ab_prev) / (1 - ab))
        ab_prev = ab
    torch.testing.assert_close(s.posterior_variance, torch.tensor(loop, dtype=torch.float64), rtol=1e-12, atol=0)
    assert s.posterior_variance[0].item() == 0.0  # β̃_1 = 0: x_0 is known given x_1 and x_0
    assert torch.all(s.posterior_variance[1:] > 0) and torch.all(s.posterior_variance <= s.betas)


def test_cosine_alpha_bar_matches_its_closed_form_and_is_monotone():
    T, off = 100, 0.008
    s = NoiseSchedule.cosine(T, s=off)
    f = lambda t: math.cos((t / T + off) / (1 + off) * math.pi / 2) ** 2  # noqa: E731
    closed = torch.tensor([f(t) / f(0) for t in range(1, T + 1)], dtype=torch.float64)
    unclipped = s.betas < 0.999  # only the last β is clipped (ᾱ_T = 0 would make β_T = 1)
    assert unclipped[:-1].all() and not unclipped[-1]
    torch.testing.assert_close(s.alpha_bars[:-1], closed[:-1], rtol=1e-10, atol=1e-14)
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1]) and s.alpha_bars[-1] > 0
    assert torch.all((s.betas > 0) & (s.betas < 1))


def test_from_config():
    torch.testing.assert_close(NoiseSchedule.from_config(ScheduleConfig(T=10, beta_start=1e-3, beta_end=1e-2)).betas,
                               NoiseSchedule.linear(10, 1e-3, 1e-2).betas)
    torch.testing.assert_close(NoiseSchedule.from_config(ScheduleConfig(kind="cosine", T=10, cosine_s=0.01)).betas,
                               NoiseSchedule.cosine(10, 0.01).betas)


@pytest.mark.parametrize("betas", [[0.1, 0.0], [0.5, 1.0], [-0.1], [], [0.1, float("nan")]])
def test_bad_betas_raise(betas):
    with pytest.raises(ConfigError, match="β"):
        NoiseSchedule(torch.tensor(betas))


@pytest.mark.parametrize("kwargs,words", [
    ({"kind": "quadratic"}, "kind"), ({"T": 0}, "T"), ({"T": 2.5}, "T"), ({"T": True}, "T"),
    ({"beta_start": 0.0}, "beta_start"), ({"beta_start": 0.1, "beta_end": 0.01}, "beta_start"),
    ({"beta_end": 1.0}, "beta_end"), ({"cosine_s": 0.0}, "cosine_s"),
])
def test_schedule_config_rejects_bad_values(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        ScheduleConfig(**kwargs)


@pytest.mark.parametrize("shape", [(5, 2), (5, 1, 28, 28)])
def test_gather_shapes_and_dtype(shape):
    s = NoiseSchedule.linear(10)
    like = torch.zeros(shape, dtype=torch.float32)
    t = torch.tensor([0, 3, 9, 3, 1])
    out = gather(s.alpha_bars, t, like)
    assert out.shape == (5,) + (1,) * (len(shape) - 1) and out.dtype == torch.float32
    torch.testing.assert_close(out.flatten(), s.alpha_bars[t].float())
    assert (out * like).shape == shape
