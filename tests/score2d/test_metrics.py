import math

import torch

from probgen.score2d import (DiffusedMixture, SpiralMixture, VPSchedule, energy_distance, grid_points, mean_nll,
                             mmd_rbf, score_error_grid)


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


def test_score_error_grid():
    dm = DiffusedMixture(SpiralMixture(), VPSchedule(K=20))
    grid = grid_points(lim=1.5, n=11)
    assert grid.shape == (121, 2)
    torch.testing.assert_close(grid.reshape(11, 11, 2)[0, :, 1], torch.full((11,), -1.5, dtype=torch.float64))
    err = score_error_grid(dm.score_k, dm.score_k, 5, grid)
    assert err.shape == (121,) and err.max() < 1e-6
    zero = score_error_grid(lambda x, k: torch.zeros_like(x), dm.score_k, 5, grid)
    torch.testing.assert_close(zero, dm.score_k(grid, 5).norm(dim=-1))
