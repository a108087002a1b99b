import math

import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import SpiralMixture


def test_centres_lie_on_the_spiral():
    mix = SpiralMixture()
    c = mix.centres()
    assert c.shape == (200, 2) and c.dtype == torch.float64
    tau = torch.linspace(0, 4 * math.pi, 200, dtype=torch.float64)
    torch.testing.assert_close(c.norm(dim=-1), 0.2 + 0.15 * tau)
    torch.testing.assert_close(c[0], torch.tensor([0.2, 0.0], dtype=torch.float64))


def test_log_prob_is_the_mixture_density():
    mix = SpiralMixture(n_components=3, std=0.5)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = mix.centres()
    dens = torch.stack([torch.exp(-((x - m) ** 2).sum(-1) / (2 * 0.25)) / (2 * math.pi * 0.25) for m in c]).mean(0)
    torch.testing.assert_close(mix.log_prob(x), dens.log())


def test_sample_is_seeded_and_near_the_centres():
    mix = SpiralMixture()
    a = mix.sample(1000, torch.Generator().manual_seed(3))
    b = mix.sample(1000, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (1000, 2)
    nearest = torch.cdist(a, mix.centres()).min(dim=1).values
    assert nearest.max() < 6 * mix.std


def test_bad_parameters_are_rejected():
    with pytest.raises(ConfigError, match="std"):
        SpiralMixture(std=0.0)
    with pytest.raises(ConfigError, match="n_components"):
        SpiralMixture(n_components=0)
