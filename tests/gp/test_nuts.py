import numpy as np
import pytest
import torch

from probgen.gp import (VARIANTS, SquaredExponential, delta_averaged_posterior_f, fit_gradient, generate,
                        noisy_input_posterior_f, run_nuts)

KERNEL = SquaredExponential(0.3, 0.75)


def test_nuts_recovers_known_deltas_on_synthetic_data():
    """Data of the stated model with two large input errors where f is steep (as in the course file).

    θ and σ_y² are fitted with Δ known (B.2), then NUTS must move both errors
    from the prior mean 0 to their true values −0.25 and +0.25 (prior sd 0.1).
    """
    n = 20
    delta = np.random.default_rng(2).normal(0.0, 0.1, n)
    delta[9], delta[10] = -0.25, 0.25  # x ≈ ∓0.05, where f' ≈ 5
    data = generate(n, seed=2, delta=delta)
    fit = fit_gradient(VARIANTS["B2"], data, starts=3)
    kernel = SquaredExponential(fit.params["lengthscale"], fit.params["variance"])
    idata = run_nuts(data.x, data.y, kernel, fit.params["noise_var"], 0.01, chains=2, warmup=100, draws=100,
                     seed=0, progress=False)
    draws = idata.posterior["delta"].values  # (chain, draw, N)
    assert draws.shape == (2, 100, n)
    for i in (9, 10):
        mean, sd = draws[..., i].mean(), draws[..., i].std()
        assert abs(mean - delta[i]) < 3 * sd and abs(mean) > 0.15 and np.sign(mean) == np.sign(delta[i])


def test_run_nuts_refuses_bad_sizes():
    data = generate(5)
    with pytest.raises(ValueError, match="chains=0"):
        run_nuts(data.x, data.y, KERNEL, 0.01, 0.01, chains=0)


def test_delta_average_of_identical_draws_is_the_conditional_posterior():
    data = generate(10, seed=2)
    x_star = torch.linspace(-1, 1, 9, dtype=torch.float64)
    m, v = noisy_input_posterior_f(data.x, data.y, data.delta, x_star, KERNEL, 0.0025)
    mean, var = delta_averaged_posterior_f(data.x, data.y, data.delta.repeat(5, 1), x_star, KERNEL, 0.0025)
    torch.testing.assert_close(mean, m)
    torch.testing.assert_close(var, v)


def test_delta_average_adds_the_spread_of_the_means():
    """Law of total variance: the mixture's variance is E[v] + Var[m] ≥ E[v]."""
    data = generate(10, seed=2)
    x_star = torch.linspace(-1, 1, 9, dtype=torch.float64)
    draws = torch.stack([data.delta, -data.delta])
    mean, var = delta_averaged_posterior_f(data.x, data.y, draws, x_star, KERNEL, 0.0025)
    parts = [noisy_input_posterior_f(data.x, data.y, d, x_star, KERNEL, 0.0025) for d in draws]
    torch.testing.assert_close(mean, (parts[0][0] + parts[1][0]) / 2)
    torch.testing.assert_close(var, (parts[0][1] + parts[1][1]) / 2 + (parts[0][0] - parts[1][0]) ** 2 / 4)
