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
    assert FlowStudyConfig.for_profile("smoke", score_sdes=["vp", "ve"]).score_sdes == ("vp", "ve")
    with pytest.raises(ConfigError, match="score_sdes entry='cld'"):
        FlowStudyConfig.for_profile("smoke", score_sdes=("vp", "cld"))
    for bad in (("ve", "vp"), ("vp", "ve", "ve"), ()):
        with pytest.raises(ConfigError, match="must start with 'vp'"):
            FlowStudyConfig.for_profile("smoke", score_sdes=bad)


def test_make_sde_builds_the_three_forward_processes_and_rejects_others():
    from probgen.diffusion.sde import SubVPSDE, VESDE, VPSDE
    from probgen.flows.study import SDE_KINDS, SDE_NAMES, VE_SIGMA_MAX, make_sde

    assert type(make_sde("vp")) is VPSDE and type(make_sde("subvp")) is SubVPSDE
    ve = make_sde("ve")
    assert type(ve) is VESDE and ve.prior_std() == VE_SIGMA_MAX
    assert set(SDE_NAMES) == set(SDE_KINDS)
    with pytest.raises(ConfigError, match="sde='cld'"):
        make_sde("cld")


def test_score_sde_cache_keys_keep_the_vp_model_and_separate_the_others():
    from probgen.flows.study import SDE_KINDS, _sde_key

    # the VP model trained before the other SDEs existed keeps its checkpoint: its key must not change
    assert _sde_key("vp") == {"objective": "vp-dsm", "beta_min": 0.1, "beta_max": 20.0}
    keys = [_sde_key(k) for k in SDE_KINDS]
    assert len({str(sorted(k.items())) for k in keys}) == len(SDE_KINDS)
    assert _sde_key("subvp")["input_scaling"] and _sde_key("ve")["input_scaling"]


def test_sde_sampler_grid_names_nfe_and_draws():
    from probgen.diffusion.sde import ScoreSDE
    from probgen.flows.study import make_sde, sde_samplers

    class NoiseIsInput(nn.Module):  # ε̂ = x: a nonzero score, so the corrector's step size is finite
        def forward(self, x, t, y=None):
            return x

    cfg = FlowStudyConfig.for_profile("smoke", sde_steps=(3,), pf_steps=(2, 4))
    model = ScoreSDE(NoiseIsInput(), make_sde("ve"), data_shape=(1, 2, 2), input_scaling=True)
    grid = sde_samplers(model, cfg)
    assert [(s.solver, s.name, s.steps, s.nfe) for s in grid] == [
        ("reverse SDE (Euler–Maruyama)", "em-3-denoised", 3, 3), ("predictor–corrector", "pc-3-denoised", 3, 6),
        ("probability-flow ODE (Heun)", "pf-heun-2-denoised", 2, 3),
        ("probability-flow ODE (Heun)", "pf-heun-4-denoised", 4, 7)]
    for s in grid:
        out = s.sample(5, torch.Generator().manual_seed(0))
        assert out.nfe == s.nfe  # the NFE in the table is the one the sampler counted
        x = s.draw(5, torch.Generator().manual_seed(0))
        assert x.shape == (5, 1, 2, 2) and torch.isfinite(x).all()
        torch.testing.assert_close(x, out.x, rtol=0.0, atol=0.0)
