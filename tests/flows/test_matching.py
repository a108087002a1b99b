"""Flow matching from N(0, I) noise to N(m, s² I) data, where every quantity is known in closed form.

Independent coupling, x_t = (1 − t)x0 + t x1: x_t ~ N(t m, V_t I) with V_t = (1 − t)² + t² s², and the target
u = x1 − x0 has Cov(u, x_t) = t s² − (1 − t) = V_t'/2 per coordinate, so

    v*(x, t) = E[u | x_t = x] = m + (V_t'/(2V_t))(x − t m),   Var(u | x_t) = (1 + s²) − (V_t'/2)²/V_t = s²/V_t.

Minimum loss per coordinate: ∫₀¹ s²/V_t dt = s·(arctan s + arctan(1/s)) = πs/2 (for any m). The ODE path is
x_t = t m + √V_t x0, ending at m + s x0, curved since √V_t is not linear in t: with ẋ − (x1 − x0) =
((√V_t)' − (s − 1))x0 and ∫((√V_t)')² dt = 1 + s² − πs/2, Liu's excess is s(2 − π/2)‖x0‖².

Deterministic coupling x1 = m + s x0 (the exact transport map): x_t = t m + (1 + t(s − 1))x0, straight, with
velocity v(x, t) = m + (s − 1)(x − t m)/(1 + t(s − 1)) and zero flow-matching loss.
"""

import math

import pytest
import torch
from torch import nn

from probgen.flows import FlowMatching, euler_jump_error, straightness
from probgen.runtime import ConfigError

M = torch.tensor([1.0, -0.5], dtype=torch.float64)
S = 0.5


@pytest.fixture
def torch_dtype():
    return torch.float64  # the closed-form checks are tighter than float32 rounding


class MarginalVelocity(nn.Module):
    """v*(x, t) of the independent coupling of N(0, I) and N(m, s² I)."""

    def __init__(self, m=M, s=S):
        super().__init__()
        self.m, self.s = m, s

    def forward(self, x, t, y=None):
        t = t[:, None]
        var = (1 - t) ** 2 + t ** 2 * self.s ** 2
        return self.m + (t * self.s ** 2 - (1 - t)) / var * (x - t * self.m)


class TransportVelocity(nn.Module):
    """The straight-line velocity of the deterministic coupling x1 = m + s x0."""

    def __init__(self, m=M, s=S):
        super().__init__()
        self.m, self.s = m, s

    def forward(self, x, t, y=None):
        t = t[:, None]
        return self.m + (self.s - 1) * (x - t * self.m) / (1 + t * (self.s - 1))


class Shifted(nn.Module):
    def __init__(self, net, shift):
        super().__init__()
        self.net, self.shift = net, shift

    def forward(self, x, t, y=None):
        return self.net(x, t, y) + self.shift


class TinyConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x, t, y=None):
        return self.conv(torch.cat([x, t.reshape(-1, 1, 1, 1).expand_as(x)], dim=1))


def data(n: int, seed: int) -> torch.Tensor:
    return M + S * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def test_loss_of_the_marginal_velocity_is_the_conditional_variance_and_perturbations_cost_more():
    flow = FlowMatching(MarginalVelocity())
    x1 = data(100_000, 0).reshape(100, 1000, 2)
    losses = torch.stack([flow.loss(chunk, generator=torch.Generator().manual_seed(i)) for i, chunk in enumerate(x1)])
    assert abs(losses.mean() - math.pi * S / 2) < 4 * losses.std() / 10
    flat = x1.reshape(-1, 2)
    right = flow.loss(flat, generator=torch.Generator().manual_seed(0))
    wrong = FlowMatching(Shifted(flow.network, 0.1)).loss(flat, generator=torch.Generator().manual_seed(0))
    assert abs(wrong - right - 0.01) < 1e-3  # + ‖δ‖²/D, up to the cross term's noise (~3e-4)


def test_loss_is_zero_for_the_exact_velocity_of_the_deterministic_coupling():
    x0 = torch.randn(4096, 2, generator=torch.Generator().manual_seed(1))
    x1 = M + S * x0
    gen = torch.Generator().manual_seed(0)
    assert FlowMatching(TransportVelocity()).loss(x1, x0=x0, generator=gen) < 1e-20
    # the independent coupling's field is not the velocity of these pairs
    assert FlowMatching(MarginalVelocity()).loss(x1, x0=x0, generator=gen) > 0.01


def test_heun_is_second_order_and_euler_first_order_on_the_exact_field():
    flow = FlowMatching(MarginalVelocity(), data_shape=(2,))
    x0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    endpoint = M + S * x0  # where the exact ODE path ends

    def error(steps, method):
        out = flow.sample(steps=steps, method=method, x0=x0)
        assert out.nfe == (steps if method == "euler" else 2 * steps)
        return (out.x - endpoint).abs().max().item()

    euler = [error(n, "euler") for n in (20, 40, 80)]
    heun = [error(n, "heun") for n in (20, 40, 80)]
    assert all(1.8 < a / b < 2.2 for a, b in zip(euler, euler[1:]))  # halving h halves the error ...
    assert all(3.4 < a / b < 4.4 for a, b in zip(heun, heun[1:]))  # ... or quarters it (3.7, 3.9 here)
    assert heun[0] < euler[1] / 20  # at the same NFE, 40
    sample = flow.sample(20_000, steps=50, method="heun", generator=torch.Generator().manual_seed(3)).x
    tol = 4 * S / math.sqrt(20_000)
    assert (sample.mean(0) - M).abs().max() < tol and (sample.std(0) - S).abs().max() < tol


def test_straightness_is_zero_for_the_transport_map_and_closed_form_for_the_marginal_field():
    x0 = torch.randn(1000, 2, generator=torch.Generator().manual_seed(4))
    straight = FlowMatching(TransportVelocity())
    path = straight.sample(steps=20, x0=x0, return_path=True).path
    assert path.shape == (21, 1000, 2)
    assert abs(straightness(path).excess) < 1e-10 and euler_jump_error(straight, path) < 1e-12

    curved = FlowMatching(MarginalVelocity())
    path = curved.sample(steps=200, method="heun", x0=x0, return_path=True).path
    result = straightness(path)
    sq = x0.pow(2).sum(1)
    excess = (S * (2 - math.pi / 2) * sq).mean()
    kinetic = (M.pow(2).sum() + 2 * (S - 1) * x0 @ M + (1 + S ** 2 - math.pi * S / 2) * sq).mean()
    assert result.excess == pytest.approx(excess.item(), rel=1e-3)
    assert result.kinetic == pytest.approx(kinetic.item(), rel=1e-3)
    assert 0 < result.normalised < 1
    jump = (S * x0.norm(dim=1)).mean() / (M + (S - 1) * x0).norm(dim=1).mean()  # v*(x0, 0) = m − x0
    assert euler_jump_error(curved, path) == pytest.approx(jump.item(), rel=1e-4)  # path[-1]: Heun's endpoint
    # even noise to the same noise (m = 0, s = 1) bends: paths shrink towards 0 and come back, no net displacement
    identity = FlowMatching(MarginalVelocity(torch.zeros(2, dtype=torch.float64), 1.0))
    round_trip = straightness(identity.sample(steps=200, method="heun", x0=x0, return_path=True).path)
    assert round_trip.displacement < 1e-8 and round_trip.normalised > 0.999


def test_reflow_pairs_of_the_marginal_field_are_the_transport_map():
    flow = FlowMatching(MarginalVelocity(), data_shape=(2,))
    x0, x1 = flow.pair_dataset(300, steps=200, method="heun", generator=torch.Generator().manual_seed(5),
                               batch_size=128)
    assert x0.shape == x1.shape == (300, 2)
    assert (x1 - (M + S * x0)).abs().max() < 1e-4  # Heun's error with h = 1/200
    assert FlowMatching(TransportVelocity()).loss(x1, x0=x0) < 1e-8


def test_flow_matching_runs_on_images():
    torch.manual_seed(0)
    flow = FlowMatching(TinyConv(), sigma_min=1e-4, data_shape=(1, 4, 4))
    gen = torch.Generator().manual_seed(0)
    loss = flow.loss(torch.rand(3, 1, 4, 4), generator=gen)
    loss.backward()
    assert loss.ndim == 0 and flow.network.conv.weight.grad is not None
    for method, nfe in (("euler", 3), ("heun", 6)):
        out = flow.sample(3, steps=3, method=method, generator=gen, return_path=True)
        assert out.x.shape == (3, 1, 4, 4) and out.path.shape == (4, 3, 1, 4, 4) and out.nfe == nfe
    x0, x1 = flow.pair_dataset(5, steps=2, generator=gen, batch_size=2)
    assert x0.shape == x1.shape == (5, 1, 4, 4)
    assert flow.loss(x1, x0=x0, generator=gen).ndim == 0
    assert straightness(out.path).excess >= 0 and math.isfinite(euler_jump_error(flow, out.path))


def test_bad_arguments_raise_clear_errors():
    flow = FlowMatching(MarginalVelocity(), data_shape=(2,))
    with pytest.raises(ConfigError, match="steps=0"):
        flow.sample(4, steps=0)
    with pytest.raises(ConfigError, match="method='rk4'"):
        flow.sample(4, method="rk4")
    with pytest.raises(ConfigError, match="reflow pairs"):
        flow.loss(torch.zeros(4, 2), x0=torch.zeros(3, 2))
    with pytest.raises(ConfigError, match="sigma_min"):
        FlowMatching(MarginalVelocity(), sigma_min=1.0)
    with pytest.raises(ConfigError, match="no data_shape"):
        FlowMatching(MarginalVelocity()).sample(4)
    with pytest.raises(ConfigError, match=r"\(K \+ 1, B, \.\.\.\)"):
        straightness(torch.zeros(1, 4, 2))
