"""Priors p(z) of the VAE chapter, all with one interface.

Every prior is a `torch.nn.Module` with `log_prob(z) -> (B,)` and
`sample(n, generator=None) -> (n, dim)`; the learnable ones are trained jointly
with the VAE through the Monte-Carlo KL term `log q(z|x) - log p(z)`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def diagonal_gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z | mean, diag(exp(log_var))), summed over the last dimension (broadcasting)."""
    return -0.5 * (LOG_2PI + log_var + (z - mean) ** 2 * torch.exp(-log_var)).sum(-1)


def _like(module: nn.Module) -> dict:
    """Device and dtype of a module's first buffer or parameter, for tensors it creates."""
    ref = next(iter(module.buffers()), None)
    if ref is None:
        ref = next(module.parameters())
    return {"device": ref.device, "dtype": ref.dtype}


class StandardGaussianPrior(nn.Module):
    """p(z) = N(0, I) in `dim` dimensions."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = int(dim)
        # A buffer only so that .to(device/dtype) tells sample() where to draw.
        self.register_buffer("loc", torch.zeros(self.dim))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Args: z (B, dim). Returns: (B,)."""
        return -0.5 * (LOG_2PI + z**2).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns: (n, dim)."""
        return torch.randn(n, self.dim, generator=generator, **_like(self))


class MixtureOfGaussiansPrior(nn.Module):
    """p(z) = sum_k pi_k N(z | mu_k, diag(sigma_k^2)) with learnable logits, means and log-scales.

    Args:
        dim: latent dimension.
        n_components: K.
        init_spread: the means start at `init_spread * randn`, so the components start apart.
    """

    def __init__(self, dim: int, n_components: int, init_spread: float = 1.0):
        super().__init__()
        self.dim, self.n_components = int(dim), int(n_components)
        self.logits = nn.Parameter(torch.zeros(self.n_components))
        self.means = nn.Parameter(init_spread * torch.randn(self.n_components, self.dim))
        self.log_scales = nn.Parameter(torch.zeros(self.n_components, self.dim))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Args: z (B, dim). Returns: (B,)."""
        # (B, 1, D) against (K, D) -> (B, K)
        log_components = diagonal_gaussian_log_prob(z.unsqueeze(-2), self.means, 2.0 * self.log_scales)
        return torch.logsumexp(torch.log_softmax(self.logits, -1) + log_components, dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns: (n, dim)."""
        probs = torch.softmax(self.logits.detach(), -1)
        k = torch.multinomial(probs, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, generator=generator, **_like(self))
        return self.means[k] + torch.exp(self.log_scales[k]) * eps


class AffineCoupling(nn.Module):
    """RealNVP affine coupling: dimensions where `mask` is 1 pass through and condition the others.

    Base -> data: x = b*z + (1-b) * (z * exp(s(b*z)) + t(b*z)), log|det| = sum (1-b) * s.
    The log-scale is soft-clamped, s = bound * tanh(raw / bound), so one layer can
    never scale by more than exp(bound): large scales are what makes joint
    training of a flow prior blow up.
    """

    def __init__(self, mask: torch.Tensor, hidden: int, log_scale_bound: float = 3.0):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask.float())
        self.log_scale_bound = float(log_scale_bound)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * dim)
        )
        # Zero output layer: each coupling starts as the identity, so the prior starts as N(0, I).
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _shift_log_scale(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.net(kept).chunk(2, dim=-1)  # (B, 2D) -> 2 x (B, D)
        s = self.log_scale_bound * torch.tanh(raw_s / self.log_scale_bound)
        free = 1.0 - self.mask
        return t * free, s * free  # zero on the kept dimensions: they pass through unchanged

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base -> data. Returns: x (B, D), log|det dx/dz| (B,)."""
        t, s = self._shift_log_scale(z * self.mask)
        return z * torch.exp(s) + t, s.sum(-1)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> base. Returns: z (B, D), log|det dz/dx| (B,)."""
        t, s = self._shift_log_scale(x * self.mask)  # b*x == b*z, so s and t are those of forward()
        return (x - t) * torch.exp(-s), -s.sum(-1)


class FlowPrior(nn.Module):
    """RealNVP prior: `n_layers` affine couplings on a standard Gaussian base.

    The first layer keeps the first half of the dimensions fixed; the mask flips each layer.

    Args:
        dim: latent dimension.
        n_layers: number of coupling layers.
        hidden: width of each coupling's two hidden layers.
        log_scale_bound: the soft bound on each layer's log-scale.
    """

    def __init__(self, dim: int, n_layers: int = 4, hidden: int = 256, log_scale_bound: float = 3.0):
        super().__init__()
        self.dim = int(dim)
        self.base = StandardGaussianPrior(self.dim)
        first = (torch.arange(self.dim) < self.dim // 2).float()
        masks = [first if i % 2 == 0 else 1.0 - first for i in range(n_layers)]
        self.layers = nn.ModuleList(AffineCoupling(m, hidden, log_scale_bound) for m in masks)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base -> data. Args: z (B, dim). Returns: x (B, dim), log|det dx/dz| (B,)."""
        log_det = z.new_zeros(z.shape[0])
        for layer in self.layers:
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> base. Args: x (B, dim). Returns: z (B, dim), log|det dz/dx| (B,)."""
        log_det = x.new_zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, ld = layer.inverse(x)
            log_det = log_det + ld
        return x, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Change of variables: log p(x) = log N(f^{-1}(x); 0, I) + log|det d f^{-1}/dx|. Returns: (B,)."""
        z, log_det = self.inverse(x)
        return self.base.log_prob(z) + log_det

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns: (n, dim)."""
        x, _ = self.forward(self.base.sample(n, generator=generator))
        return x


class VampPrior(nn.Module):
    """VampPrior (Tomczak & Welling, 2018): p(z) = 1/K sum_k q(z | u_k) at K learnable pseudo-inputs u_k.

    Args:
        dim: latent dimension (the encoder's).
        n_pseudo: K.
        encoder: the VAE's encoder, mapping (K, *input_shape) to (mean, log_var) each (K, dim); shared.
        input_shape: shape of one input, e.g. (1, 28, 28).
        init: optional (K, *input_shape) starting pseudo-inputs (e.g. training images); else uniform [0, 1).
    """

    def __init__(self, dim: int, n_pseudo: int, encoder: nn.Module, input_shape=(1, 28, 28),
                 init: torch.Tensor | None = None):
        super().__init__()
        self.dim, self.n_pseudo, self.input_shape = int(dim), int(n_pseudo), tuple(input_shape)
        self.encoder = encoder
        start = torch.rand(self.n_pseudo, *self.input_shape) if init is None else init.detach().clone().float()
        if start.shape != (self.n_pseudo, *self.input_shape):
            raise ValueError(f"init has shape {tuple(start.shape)}, expected {(self.n_pseudo, *self.input_shape)}")
        self.pseudo_inputs = nn.Parameter(start)

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances of q(z | u_k), each (K, dim)."""
        return self.encoder(self.pseudo_inputs)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Args: z (B, dim). Returns: (B,)."""
        mean, log_var = self.components()
        log_components = diagonal_gaussian_log_prob(z.unsqueeze(-2), mean, log_var)  # (B, 1, D) vs (K, D) -> (B, K)
        return torch.logsumexp(log_components, dim=-1) - math.log(self.n_pseudo)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Returns: (n, dim)."""
        mean, log_var = self.components()
        k = torch.randint(self.n_pseudo, (n,), generator=generator, device=mean.device)
        eps = torch.randn(n, self.dim, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean[k] + torch.exp(0.5 * log_var[k]) * eps
