import math

import numpy as np

import pytest
import torch

from probgen.score2d import (DiffusedMixture, SpiralMixture, VPSchedule, energy_distance, grid_points, mean_nll,
                             mmd_rbf, score_error_grid)

from ..tolerances import rounding_tol


def test_mean_nll_of_a_gaussian():
    mix = SpiralMixture(n_components=1, std=1.0)  # a single N(μ, I)
    x = mix.sample(20_000, torch.Generator().manual_seed(0))
    nll, sem = mean_nll(x, mix)
    assert abs(nll - (1 + math.log(2 * math.pi))) < 4 * sem  # the entropy of N(μ, I) in 2-D


def test_two_sample_distances_separate_distributions():
    mix = SpiralMixture()
    g = torch.Generator().manual_seed(0)
    a, b = mix.sample(1000, g), mix.sample(1000, g)
    shifted = b + torch.tensor([0.1, 0.0], dtype=torch.float64)
    assert abs(energy_distance(a, b)) < 0.2 * energy_distance(a, shifted)
    assert abs(mmd_rbf(a, b)) < 0.2 * mmd_rbf(a, shifted)
    assert energy_distance(a, shifted) > 0 and mmd_rbf(a, shifted) > 0


@pytest.mark.parametrize("torch_dtype", [torch.float32, torch.float64])  # the dtype the score under test runs in
def test_score_error_grid(torch_dtype):
    dm = DiffusedMixture(SpiralMixture(), VPSchedule(K=20))
    grid = grid_points(lim=1.5, n=11)
    assert grid.shape == (121, 2)
    torch.testing.assert_close(grid.reshape(11, 11, 2)[0, :, 1], torch.full((11,), -1.5, dtype=torch.float64))
    for k in (1, 5, 20):
        err = score_error_grid(dm.score_k, dm.score_k, k, grid)
        # The exact score against itself: what is left is the rounding of the copy run in the default dtype (none in
        # float64). s(x) = −(x − Σ_m r_m(x) μ_m)/σ_k² rounds x and the centres μ_m (eps/2 relative each), then sums
        # and divides, so it errs by a few eps·(|x| + max|μ_m|)/σ_k² (at most 1.3 of them measured, at k = 1, on
        # AVX-512, AVX2 and scalar kernels). A wrong step, sign or point order errs by about |s| instead.
        scale = (grid.norm(dim=-1) + dm.centres_k(k).norm(dim=-1).max()) / dm.var_k(k)
        assert err.shape == (121,) and (err <= rounding_tol(torch_dtype, scale, ops=8)).all(), (k, err.max())
    zero = score_error_grid(lambda x, k: torch.zeros_like(x), dm.score_k, 5, grid)
    torch.testing.assert_close(zero, dm.score_k(grid, 5).norm(dim=-1))


def test_energy_distance_estimate_of_point_masses_is_exact():
    from probgen.score2d import energy_distance_estimate

    x, y = torch.zeros(40, 2, dtype=torch.float64), torch.full((40, 2), 1.0, dtype=torch.float64)
    e = energy_distance_estimate(x, y, n_splits=4)
    # 2E|X − Y| − E|X − X'| − E|Y − Y'| = 2·√2 − 0 − 0 for two point masses a diagonal unit apart
    assert e.value == pytest.approx(2 * math.sqrt(2), rel=rounding_tol(torch.float64, ops=40))
    assert e.se == pytest.approx(0.0, abs=rounding_tol(torch.float64, 2 * math.sqrt(2), ops=40))
    with pytest.raises(ValueError, match="at least 8 points"):
        energy_distance_estimate(x[:5], y, n_splits=4)
    with pytest.raises(ValueError, match="n_splits"):
        energy_distance_estimate(x, y, n_splits=1)


def test_energy_distance_estimate_covers_the_closed_form_of_two_normals():
    from probgen.score2d import energy_distance_estimate

    mu = 0.5
    # 1-D N(0, 1) against N(μ, 1): X − Y ~ N(−μ, 2), so E|X − Y| = 2/√π e^{−μ²/4} + μ(1 − 2Φ(−μ/√2)),
    # and E|X − X'| = 2/√π
    phi = 0.5 * (1 + math.erf(-mu / 2))
    exy = 2 / math.sqrt(math.pi) * math.exp(-mu ** 2 / 4) + mu * (1 - 2 * phi)
    truth = 2 * exy - 2 * (2 / math.sqrt(math.pi))
    g = torch.Generator().manual_seed(0)
    covered = []
    for _ in range(200):
        x = torch.randn(200, 1, generator=g, dtype=torch.float64)
        y = mu + torch.randn(200, 1, generator=g, dtype=torch.float64)
        e = energy_distance_estimate(x, y)
        covered.append(abs(e.value - truth) <= 1.96 * e.se)
    # conservative by construction (the split error overstates that of the full estimate): at least 95 % less
    # four binomial errors of 200 trials
    assert np.mean(covered) >= 0.95 - 4 * math.sqrt(0.95 * 0.05 / 200)


def test_on_spiral_fraction_of_data_and_of_noise():
    from probgen.score2d import on_spiral_fraction
    from probgen.stats import binomial_estimate

    mix = SpiralMixture()
    data = mix.sample(4000, torch.Generator().manual_seed(1))
    f = on_spiral_fraction(data, mix)
    # each point lies within 3σ0 of its own mean with probability 1 − e^{−4.5} = 0.9889, of the nearest mean at
    # least as often
    assert f.value >= 1 - math.exp(-4.5) - 4 * f.se
    far = torch.full((10, 2), 10.0, dtype=torch.float64)
    assert on_spiral_fraction(far, mix) == binomial_estimate(0, 10)
    assert on_spiral_fraction(mix.centres(), mix) == binomial_estimate(200, 200)
    with pytest.raises(ValueError, match="radius"):
        on_spiral_fraction(far, mix, radius=0.0)
