"""How straight the ODE paths of a flow are: Liu et al.'s straightness and the error of a one-step Euler jump.

A flow whose paths are straight lines is integrated exactly by one Euler step; rectified flow (reflow) aims
for that. Both measures read a trajectory `path` of shape (K + 1, B, ...), K steps of B samples, as returned
by `FlowMatching.sample(..., return_path=True)`, with path[0] the noise and path[K] the sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..runtime import param_like
from ..runtime import ConfigError
from .matching import FlowMatching


@dataclass(frozen=True)
class PathStraightness:
    """Liu et al.'s (2023) straightness of paths x_t, t ∈ [0, 1], from x_0 to x_1, averaged over samples:

        kinetic      = E ∫₀¹ ‖ẋ_t‖² dt,
        displacement = E ‖x_1 − x_0‖²,
        excess       = E ∫₀¹ ‖ẋ_t − (x_1 − x_0)‖² dt = kinetic − displacement ≥ 0   (Liu et al.'s S),
        normalised   = excess / kinetic ∈ [0, 1]:

    0 for straight paths traversed at constant speed, near 1 for paths that return close to where they started;
    the share of the kinetic energy not spent on the net displacement. (Norms sum over all coordinates.)
    """

    kinetic: float
    displacement: float
    excess: float

    @property
    def normalised(self) -> float:
        return self.excess / self.kinetic if self.kinetic > 0 else 0.0


def _check_path(path: torch.Tensor) -> None:
    if path.ndim < 3 or path.shape[0] < 2:
        raise ConfigError(f"path has shape {tuple(path.shape)}; need (K + 1, B, ...) with K ≥ 1 steps, e.g. from "
                          "FlowMatching.sample(..., return_path=True)")


def path_energies(path: torch.Tensor, times: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, the kinetic energy ∫‖ẋ‖² dt ≈ Σ_k ‖Δx_k‖²/Δt_k and the squared displacement ‖x_1 − x_0‖² of a
    discrete trajectory (K + 1, B, ...) at `times` (K + 1,) (default: even on [0, 1]); each (B,), float64.

    For an Euler path the kinetic energy is exactly Σ_k ‖v_k‖² Δt_k, and by Cauchy–Schwarz it is ≥ the
    displacement for any discrete path. `straightness` averages these over the samples.
    """
    _check_path(path)
    steps = path.shape[0] - 1
    if times is None:
        times = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    if times.shape != (steps + 1,) or not torch.all(times[1:] > times[:-1]):
        raise ConfigError(f"times must be increasing with shape ({steps + 1},), got {tuple(times.shape)}")
    p = path.double().flatten(2)  # (K + 1, B, ...) -> (K + 1, B, D)
    dt = (times[1:] - times[:-1]).to(p)  # (K,)
    kinetic = ((p[1:] - p[:-1]).pow(2).sum(-1) / dt[:, None]).sum(0)  # (B,)
    displacement = (p[-1] - p[0]).pow(2).sum(-1)  # (B,)
    return kinetic, displacement


def straightness(path: torch.Tensor, times: torch.Tensor | None = None) -> PathStraightness:
    """`PathStraightness` of a discrete trajectory (K + 1, B, ...) at `times` (K + 1,) (default: even on [0, 1]):
    the means over the B samples of `path_energies`, so the excess stays ≥ 0 for any discrete path."""
    kinetic, displacement = (e.mean() for e in path_energies(path, times))
    return PathStraightness(float(kinetic), float(displacement), float(kinetic - displacement))


@torch.no_grad()
def euler_jump_norms(flow: FlowMatching, path: torch.Tensor,
                     y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample of `path` (K + 1, B, ...), the miss ‖x_1 − x_0 − v(x_0, 0)‖ of a one-step Euler jump and the
    jump length ‖x_1 − x_0‖; each (B,). `euler_jump_error` is the ratio of their means."""
    _check_path(path)
    x0, x1 = path[0], path[-1]
    jump = x1 - x0
    miss = jump - flow.velocity(x0.to(**param_like(flow.network)), 0.0, y).to(jump)
    return miss.flatten(1).norm(dim=1), jump.flatten(1).norm(dim=1)  # (B, ...) -> (B,)


def euler_jump_error(flow: FlowMatching, path: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """The relative error of jumping from x_0 to x_1 in one Euler step of the flow's velocity:

        E ‖x_1 − x_0 − v(x_0, 0)‖ / E ‖x_1 − x_0‖   (expectations: means over the B samples of `path`),

    a cheap curvature measure: 0 when the initial velocity already points at the endpoint with the right length,
    as on straight constant-speed paths. A ratio of means, so samples that barely move do not dominate it.
    """
    miss, jump = euler_jump_norms(flow, path, y)
    return float(miss.mean() / jump.mean())
