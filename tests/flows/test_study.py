"""The flow chapter's config and the reflow objective."""

import pytest
import torch
from torch import nn

from probgen.diffusion.study import DDPMStudyConfig
from probgen.flows import FlowMatching
from probgen.flows.study import FlowStudyConfig, PairedFlow
from probgen.runtime import ConfigError


class Linear(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.lin = nn.Linear(dim + 1, dim)

    def forward(self, x, t, y=None):
        return self.lin(torch.cat([x, t[:, None]], dim=1))


def test_paired_flow_is_flow_matching_on_the_stacked_pairs():
    flow = FlowMatching(Linear(3))
    x0, x1 = torch.randn(16, 3), torch.randn(16, 3)
    paired = PairedFlow(flow)
    a = paired.loss(torch.cat([x0, x1], dim=1), generator=torch.Generator().manual_seed(0))
    b = flow.loss(x1, generator=torch.Generator().manual_seed(0), x0=x0)
    torch.testing.assert_close(a, b)
    assert paired.network is flow.network
    other = Linear(3)
    paired.network = other  # what the trainer does when it compiles the network
    assert flow.network is other


def test_paired_flow_on_images_splits_channels():
    class Zero(nn.Module):
        def forward(self, x, t, y=None):
            assert x.shape[1] == 1
            return torch.zeros_like(x)

    flow = FlowMatching(Zero())
    pairs = torch.randn(4, 2, 5, 5)
    loss = PairedFlow(flow).loss(pairs)
    torch.testing.assert_close(loss, (pairs[:, 1:] - pairs[:, :1]).pow(2).mean())


def test_config_validates_and_shares_the_ddpm_budget():
    cfg = FlowStudyConfig.for_profile("quick")
    assert cfg.ddpm_config() == DDPMStudyConfig.for_profile("quick")  # same network, data and training budget
    assert cfg.latent_config().profile == "quick"
    with pytest.raises(ConfigError, match="euler_steps"):
        FlowStudyConfig.for_profile("smoke", euler_steps=(0, 2))
    with pytest.raises(ConfigError, match="reflow_pairs"):
        FlowStudyConfig.for_profile("smoke", reflow_pairs=0)
