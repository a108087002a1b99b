"""Encoders, decoders and likelihoods p(x|z) of the VAE chapters, and a table describing a model.

Encoders map images (B, C, H, W) to the mean and log-variance (B, D) of a
diagonal Gaussian q(z|x); decoders map z (B, D) to the parameters (B, C, H, W)
of p(x|z), which a likelihood object turns into `log_prob(x, params)` and a mean.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn


def _mlp(sizes, final_activation: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """q(z|x) = N(mean(x), diag(exp(log_var(x)))) from a multilayer perceptron.

    Args:
        latent_dim: D.
        hidden: widths of the hidden layers, e.g. (512, 512) for 784-512-512-2D.
        input_shape: shape of one image.
    """

    def __init__(self, *, latent_dim: int, hidden=(512, 512), input_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim, self.input_shape = int(latent_dim), tuple(input_shape)
        self.net = nn.Sequential(nn.Flatten(), _mlp([math.prod(self.input_shape), *hidden, 2 * self.latent_dim]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: x (B, C, H, W). Returns: mean, log_var, each (B, D)."""
        mean, log_var = self.net(x).chunk(2, dim=-1)  # (B, 2D) -> 2 x (B, D)
        return mean, log_var

    def example_input(self) -> torch.Tensor:
        return torch.zeros(1, *self.input_shape)


class MLPDecoder(nn.Module):
    """z (B, D) -> parameters of p(x|z) (B, C, H, W) through a multilayer perceptron."""

    def __init__(self, *, latent_dim: int, hidden=(512, 512), output_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim, self.output_shape = int(latent_dim), tuple(output_shape)
        self.net = nn.Sequential(_mlp([self.latent_dim, *hidden, math.prod(self.output_shape)]),
                                 nn.Unflatten(1, self.output_shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Args: z (B, D). Returns: (B, C, H, W) logits or means, as the likelihood reads them."""
        return self.net(z)

    def example_input(self) -> torch.Tensor:
        return torch.zeros(1, self.latent_dim)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (28 -> 14 -> 7), then a perceptron to (mean, log_var).

    Args:
        latent_dim: D.
        channels: output channels of the two convolutions.
        hidden: widths of the dense layers after the convolutions.
        input_shape: (C, H, W) with H and W divisible by 4.
    """

    def __init__(self, *, latent_dim: int, channels=(32, 64), hidden=(256,), input_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim, self.input_shape = int(latent_dim), tuple(input_shape)
        c, h, w = self.input_shape
        if h % 4 or w % 4:
            raise ValueError(f"ConvEncoder needs H and W divisible by 4, got input_shape={self.input_shape}")
        c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(c, c1, 4, stride=2, padding=1), nn.ReLU(),  # (B, c, H, W) -> (B, c1, H/2, W/2)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),  # -> (B, c2, H/4, W/4)
            nn.Flatten(),  # -> (B, c2 * H/4 * W/4)
            _mlp([c2 * (h // 4) * (w // 4), *hidden, 2 * self.latent_dim]),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: x (B, C, H, W). Returns: mean, log_var, each (B, D)."""
        mean, log_var = self.net(x).chunk(2, dim=-1)
        return mean, log_var

    def example_input(self) -> torch.Tensor:
        return torch.zeros(1, *self.input_shape)


class ConvDecoder(nn.Module):
    """The mirror of `ConvEncoder`: a perceptron, then two stride-2 transposed convolutions (7 -> 14 -> 28)."""

    def __init__(self, *, latent_dim: int, channels=(32, 64), hidden=(256,), output_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim, self.output_shape = int(latent_dim), tuple(output_shape)
        c, h, w = self.output_shape
        if h % 4 or w % 4:
            raise ValueError(f"ConvDecoder needs H and W divisible by 4, got output_shape={self.output_shape}")
        c1, c2 = channels
        self.net = nn.Sequential(
            _mlp([self.latent_dim, *hidden, c2 * (h // 4) * (w // 4)], final_activation=True),
            nn.Unflatten(1, (c2, h // 4, w // 4)),  # (B, c2*H/4*W/4) -> (B, c2, H/4, W/4)
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # -> (B, c1, H/2, W/2)
            nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),  # -> (B, C, H, W)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Args: z (B, D). Returns: (B, C, H, W) logits or means."""
        return self.net(z)

    def example_input(self) -> torch.Tensor:
        return torch.zeros(1, self.latent_dim)


class BernoulliLikelihood(nn.Module):
    """p(x|z) = prod_pixels Bernoulli(x | sigmoid(logits)), for binary (or [0, 1]) images."""

    def log_prob(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Args: x, logits (B, ...). Returns: log p(x|z) summed over all but the batch dimension, (B,)."""
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(-1)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities, same shape as `logits`."""
        return torch.sigmoid(logits)


class GaussianLikelihood(nn.Module):
    """p(x|z) = prod_pixels N(x | mean, std^2) with one std, fixed or learnable.

    Args:
        std: the (initial) standard deviation.
        learn_std: learn `log_std` jointly with the model.
        squash: map the decoder output to the mean: None (identity), "sigmoid" for [0, 1] data or
            "tanh" for [-1, 1] data.
    """

    SQUASHES = (None, "sigmoid", "tanh")

    def __init__(self, std: float = 1.0, *, learn_std: bool = False, squash: str | None = None):
        super().__init__()
        if squash not in self.SQUASHES:
            raise ValueError(f"squash={squash!r} is not allowed; choose one of {self.SQUASHES}")
        if not std > 0:
            raise ValueError(f"std={std!r} must be positive")
        self.squash = squash
        log_std = torch.tensor(math.log(std))
        if learn_std:
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_std", log_std)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        if self.squash == "sigmoid":
            return torch.sigmoid(params)
        if self.squash == "tanh":
            return torch.tanh(params)
        return params

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Args: x, params (B, ...). Returns: (B,)."""
        sq = ((x - self.mean(params)) ** 2).flatten(1)  # (B, ...) -> (B, n_pixels)
        n = sq.shape[1]
        return -0.5 * sq.sum(-1) * torch.exp(-2.0 * self.log_std) - n * (self.log_std + 0.5 * math.log(2 * math.pi))


def _shape_text(obj) -> str:
    """'512' or '32×14×14' for one example's shape (batch dimension dropped); tuples joined with ', '."""
    if isinstance(obj, torch.Tensor):
        return "×".join(str(s) for s in obj.shape[1:]) or "1"
    if isinstance(obj, (tuple, list)):
        return ", ".join(_shape_text(o) for o in obj)
    return ""


def architecture_table(module: nn.Module, example_input: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per layer of `module` (in definition order), with a total row.

    Shapes come from one forward pass on `example_input`, a tensor or a tuple of positional
    inputs (default: `module.example_input()`, which the encoders, decoders, the VAE and the
    time-conditioned networks have); without one, only names, types and parameter counts are listed.

    Returns:
        DataFrame with columns layer, type, input, output, parameters.
    """
    if example_input is None and hasattr(module, "example_input"):
        example_input = module.example_input()
    # Leaves, plus containers that own parameters directly (e.g. a mixture prior's means).
    rows = {}
    for name, m in module.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if not list(m.children()) or own:
            rows[m] = {"layer": name or type(module).__name__, "type": type(m).__name__,
                       "input": "", "output": "", "parameters": own}
    if example_input is not None:
        seen = []

        def hook(m, inputs, output):
            if m in rows and m not in seen:
                seen.append(m)
                rows[m]["input"], rows[m]["output"] = _shape_text(list(inputs)), _shape_text(output)

        handles = [m.register_forward_hook(hook) for m in rows]
        try:
            device = next(module.parameters()).device
            inputs = example_input if isinstance(example_input, tuple) else (example_input,)
            with torch.no_grad():
                module(*(x.to(device) for x in inputs))
        finally:
            for h in handles:
                h.remove()
    table = pd.DataFrame(list(rows.values()))
    total = {"layer": "total", "type": "", "input": "", "output": "",
             "parameters": sum(p.numel() for p in module.parameters())}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
