"""Conditional flow matching with straight-line paths, ODE sampling, and the data for rectified-flow reflow.

Convention: t = 0 is noise, t = 1 is data (Lipman et al. 2023; Liu et al. 2023). This is the reverse of
`probgen.diffusion.sde`, where t = 0 is data and t = 1 the prior. For a coupling (x0, x1) of noise
x0 ~ N(0, I) and data x1, the path and its velocity are

    x_t = (1 − (1 − σ_min) t) x0 + t x1,    u = d x_t/dt = x1 − (1 − σ_min) x0,

(σ_min = 0: the straight line from x0 to x1). Regressing v(x_t, t) on u recovers the marginal velocity
v*(x, t) = E[u | x_t = x], whose ODE dx/dt = v*(x, t) carries N(0, I) at t = 0 to the data at t = 1.

Rectified flow: a first model trained on independent pairs ("1-rectified") defines a deterministic coupling
(x0, ODE(x0)); retraining on those pairs (`pair_dataset`, then `loss(x1, x0=x0)`) straightens the paths (reflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..diffusion.sde import batch_shape, check_steps, expand
from ..runtime import param_like
from ..runtime import ConfigError, check_choice

METHODS = ("euler", "heun")


@dataclass
class FlowSample:
    """A sampler's output: x (B, ...) at t = 1, the network evaluations it cost, the time grid (N + 1,) and, if
    asked for, the whole path (N + 1, B, ...) with path[0] the noise and path[N] = x."""

    x: torch.Tensor
    nfe: int
    times: torch.Tensor
    path: torch.Tensor | None = None


class FlowMatching(nn.Module):
    """A network as a velocity field v(x, t, y), trained by conditional flow matching.

    Args:
        network: called as network(x (B, ...), t (B,) in [0, 1], y (B,) or None) -> shaped like x.
        sigma_min: the width of the path at the data end (0: straight lines through the pair).
        data_shape: the shape of one sample, so `sample` and `pair_dataset` accept a count n.
    """

    def __init__(self, network: nn.Module, sigma_min: float = 0.0, data_shape: Sequence[int] | None = None):
        super().__init__()
        if not (isinstance(sigma_min, (int, float)) and 0 <= sigma_min < 1):
            raise ConfigError(f"sigma_min={sigma_min!r} must lie in [0, 1) "
                              "(0 for rectified flow, about 1e-4 in Lipman et al.)")
        self.network = network
        self.sigma_min = float(sigma_min)
        self.data_shape = None if data_shape is None else tuple(data_shape)

    def velocity(self, x: torch.Tensor, t: torch.Tensor | float, y: torch.Tensor | None = None) -> torch.Tensor:
        """v(x, t) for x (B, ...) and t (B,) or a float; shaped like x."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return self.network(x, t.expand(x.shape[0]) if t.ndim == 0 else t, y)

    def loss(self, x1: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
             x0: torch.Tensor | None = None) -> torch.Tensor:
        """The conditional flow-matching loss, a scalar: E ‖v(x_t, t) − u‖² / D over the batch and D coordinates.

        t ~ U(0, 1) and, unless the noise x0 (shaped like x1) is given (reflow pairs), x0 ~ N(0, I), drawn in
        this order from `generator` (on x1's device). For independent pairs the minimum is not zero but
        E‖u − E[u | x_t]‖²/D; for a deterministic coupling x1 = T(x0) whose straight paths do not cross it is zero.
        """
        t = torch.rand(x1.shape[0], generator=generator, dtype=x1.dtype, device=x1.device)
        if x0 is None:
            x0 = torch.randn(x1.shape, generator=generator, dtype=x1.dtype, device=x1.device)
        elif x0.shape != x1.shape:
            raise ConfigError(f"x0 has shape {tuple(x0.shape)} but x1 has {tuple(x1.shape)}; reflow pairs must match")
        tb = expand(t, x1)
        xt = (1.0 - (1.0 - self.sigma_min) * tb) * x0 + tb * x1
        target = x1 - (1.0 - self.sigma_min) * x0
        return (self.network(xt, t, y) - target).pow(2).mean()

    @torch.no_grad()
    def sample(self, n_or_shape: int | Sequence[int] | None = None, steps: int = 100, method: str = "euler",
               generator: torch.Generator | None = None, y: torch.Tensor | None = None, return_path: bool = False,
               x0: torch.Tensor | None = None) -> FlowSample:
        """Integrate dx/dt = v(x, t) from noise x0 ~ N(0, I) at t = 0 to t = 1 on N = `steps` even steps.

        "euler": x_{k+1} = x_k + h v(x_k, t_k), NFE = N.
        "heun": x̃ = x_k + h v(x_k, t_k), x_{k+1} = x_k + ½h[v(x_k, t_k) + v(x̃, t_{k+1})], NFE = 2N (the last
        step's correction at t = 1 is kept: the field is regular there). Second order: error O(h²) against O(h).

        Args:
            n_or_shape: a count (needs data_shape) or a batch shape (B, ...); ignored when x0 is given.
            generator: for the noise, on the network's device.
            y: (B,) labels for a conditional network.
            return_path: keep all N + 1 iterates in `path` (for `straightness`).
            x0: (B, ...) noise to start from instead of a fresh draw.
        """
        check_steps(steps)
        check_choice("method", method, METHODS)
        like = param_like(self.network)
        if x0 is None:
            x = torch.randn(batch_shape(n_or_shape, self.data_shape), generator=generator, **like)
        else:
            x = x0.to(**like).clone()
        times = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
        path = [x.clone()] if return_path else None
        h = 1.0 / steps
        for k in range(steps):
            v0 = self.velocity(x, float(times[k]), y)
            if method == "euler":
                x = x + h * v0
            else:
                v1 = self.velocity(x + h * v0, float(times[k + 1]), y)
                x = x + 0.5 * h * (v0 + v1)
            if path is not None:
                path.append(x.clone())
        nfe = steps if method == "euler" else 2 * steps
        return FlowSample(x, nfe, times, None if path is None else torch.stack(path))

    @torch.no_grad()
    def pair_dataset(self, n: int, steps: int = 100, method: str = "heun", generator: torch.Generator | None = None,
                     batch_size: int = 1000, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, x1), each (n, *data_shape): noise and the model's ODE image of it, the coupling for reflow.

        Generated `batch_size` at a time (labels y (n,) sliced along), with `sample`'s solver; train the next
        rectified flow with `loss(x1_batch, y_batch, x0=x0_batch)`. The model must have a data_shape.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} must be a positive integer")
        shape = batch_shape(n, self.data_shape)
        noise, images = [], []
        for start in range(0, shape[0], batch_size):
            size = min(batch_size, shape[0] - start)
            x0 = torch.randn((size, *shape[1:]), generator=generator, **param_like(self.network))
            batch_y = None if y is None else y[start:start + size]
            noise.append(x0)
            images.append(self.sample(steps=steps, method=method, y=batch_y, x0=x0).x)
        return torch.cat(noise), torch.cat(images)
