import math

import pytest
import torch

from probgen.gp import VARIANTS, Variant, fit_gradient, fit_grid, generate
from probgen.gp.fitting import PARAMS, profile_over

DATA = generate(20, seed=4)


@pytest.mark.parametrize("key", list(VARIANTS))
def test_gradient_and_grid_fits_agree(key):
    variant = VARIANTS[key]
    grad = fit_gradient(variant, DATA, starts=4, seed=0)
    grid = fit_grid(variant, DATA, points=20, refine_points=11).fit
    # The gradient fit is a local optimum at least as good as the best grid point.
    assert grad.log_marginal_likelihood >= grid.log_marginal_likelihood - 1e-6
    assert grad.log_marginal_likelihood - grid.log_marginal_likelihood < 0.05
    for p in variant.free:
        assert math.log(grad.params[p]) == pytest.approx(math.log(grid.params[p]), abs=0.15)


def test_fixed_parameters_stay_fixed_and_every_parameter_is_reported():
    fit = fit_gradient(VARIANTS["B1b"], DATA, starts=2)
    assert set(fit.params) == set(PARAMS)
    assert fit.params["noise_var"] == 0.0025


def test_the_fitted_optimum_is_stationary():
    variant = VARIANTS["B1a"]
    fit = fit_gradient(variant, DATA, starts=4)
    theta = torch.tensor([math.log(fit.params[p]) for p in PARAMS], requires_grad=True)
    lml = variant.log_marginal_likelihood(DATA, dict(zip(PARAMS, theta.exp())))
    (grad,) = torch.autograd.grad(lml, theta)
    assert float(grad.abs().max()) < 1e-4


def test_variant_true_inputs_use_x_minus_delta():
    torch.testing.assert_close(VARIANTS["B1c"].inputs_of(DATA), DATA.x - DATA.delta)
    torch.testing.assert_close(VARIANTS["B1a"].inputs_of(DATA), DATA.x)


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="student"), "model='student'"),
    (dict(inputs="noisy"), "inputs='noisy'"),
    (dict(fixed={"noise": 0.1}), "unknown"),
])
def test_bad_variants_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Variant("x", "x", **kwargs)


def test_profile_over_keeps_two_axes():
    grid = fit_grid(VARIANTS["B1a"], DATA, points=6, refine_points=3)
    assert grid.lml.shape == (6, 6, 6)
    assert profile_over(grid).shape == (6, 6)
    assert profile_over(grid).max() == grid.lml.max()
