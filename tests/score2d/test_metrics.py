import math

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
