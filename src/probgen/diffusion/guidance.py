"""Classifier guidance (Dhariwal & Nichol 2021): a classifier of noisy images x_t steers DDIM towards a class.

Bayes' rule on the noisy marginal gives the conditional score

    ∇ log p(x_t | y) = ∇ log p(x_t) + ∇ log p_φ(y | x_t, t),

and since the noise predictor is ε_θ = −√(1 − ᾱ_t) ∇ log p(x_t), the guided noise is

    ε̂(x_t, t) = ε_θ(x_t, t) − s √(1 − ᾱ_t) ∇_{x_t} log p_φ(y | x_t, t),

with a guidance scale s (s = 1 is the Bayes-rule value; larger s sharpens p_φ(y | x_t)^s).
The classifier must be trained on x_t ~ q(x_t | x_0) at every t, which is why it is not the
FID classifier: that one has only seen clean digits. Classifier-free guidance (`DDPM.eps` with
`guidance_scale`) needs no such classifier; see the chapter for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..nets.unet import ResBlock, sinusoidal_embedding
from ..runtime import ConfigError, FromDict
from .schedules import NoiseSchedule, gather


@dataclass(frozen=True)
class NoisyClassifierConfig(FromDict):
    """A small time-conditioned CNN: stem, one residual block per resolution (28, 14, 7), pooling, a linear head."""

    base_channels: int = 32
    n_classes: int = 10
    groups: int = 8
    image_size: int = 28

    def __post_init__(self) -> None:
        if self.base_channels % self.groups:
            raise ConfigError(f"groups={self.groups} must divide base_channels={self.base_channels}")


class NoisyClassifier(nn.Module):
    """log p_φ(y | x_t, t): (B, 1, 28, 28) noisy images and integer times (B,) → (B, n_classes) logits."""

    def __init__(self, cfg: NoisyClassifierConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or NoisyClassifierConfig.from_dict(kwargs)
        self.cfg = cfg
        ch = cfg.base_channels
        emb = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(1, ch, 3, padding=1)
        widths = (ch, 2 * ch, 2 * ch)  # at 28, 14, 7
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        in_ch = ch
        for i, width in enumerate(widths):
            self.blocks.append(ResBlock(in_ch, width, emb, cfg.groups, 0.0))
            self.downs.append(nn.Conv2d(width, width, 3, stride=2, padding=1) if i < len(widths) - 1
                              else nn.Identity())
            in_ch = width
        self.norm = nn.GroupNorm(cfg.groups, in_ch)
        self.head = nn.Linear(in_ch, cfg.n_classes)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        emb = self.time_mlp(sinusoidal_embedding(t, self.cfg.base_channels).to(x.dtype))
        h = self.stem(x)
        for block, down in zip(self.blocks, self.downs):
            h = down(block(h, emb))
        h = F.silu(self.norm(h)).mean(dim=(2, 3))  # (B, C) global average
        return self.head(h)


class NoisyClassifierObjective:
    """Cross-entropy of the classifier on x_t ~ q(x_t | x_0), t uniform: trained by `train_diffusion` like a DDPM."""

    def __init__(self, network: NoisyClassifier, schedule: NoiseSchedule):
        self.network = network
        self.schedule = schedule

    def loss(self, x0: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("the noisy classifier is trained on labelled images: pass labels")
        s = self.schedule
        t = torch.randint(0, s.T, (x0.shape[0],), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return F.cross_entropy(self.network(s.q_sample(x0, t, noise), t.to(x0.dtype)), y)

    @torch.no_grad()
    def accuracy(self, x0: torch.Tensor, y: torch.Tensor, t: int, generator: torch.Generator | None = None) -> float:
        """Accuracy on x_t of the given images at one integer step t."""
        s = self.schedule
        tt = torch.full((x0.shape[0],), t, device=x0.device, dtype=torch.long)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        logits = self.network(s.q_sample(x0, tt, noise), tt.to(x0.dtype))
        return float((logits.argmax(1) == y).double().mean())


def classifier_guided_eps(ddpm, classifier: NoisyClassifier, scale: float):
    """An `eps_fn(x, t, y)` for `DDPM.sample`/`ddim_sample`: ε_θ(x, t) − s √(1 − ᾱ_t) ∇_x log p_φ(y | x, t).

    ε_θ is the (unconditional) DDPM's prediction; y are the target classes (B,).
    """
    if scale < 0:
        raise ValueError(f"the guidance scale must be ≥ 0, not {scale}")
    schedule = ddpm.schedule

    def eps_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("classifier guidance needs target labels y")
        eps = ddpm.network(x, t.to(x.dtype), None)
        if scale == 0:
            return eps
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            log_p = F.log_softmax(classifier(xg, t.to(x.dtype)), dim=1)
            grad, = torch.autograd.grad(log_p.gather(1, y[:, None]).sum(), xg)
        return eps - scale * gather((1 - schedule.alpha_bars).sqrt(), t, x) * grad

    return eps_fn
