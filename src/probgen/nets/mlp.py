"""A time-conditioned MLP for (B, D) data: the 2-D models' counterpart of the U-Net."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..runtime import ConfigError, FromDict
from .unet import NULL_LABEL, label_indices, sinusoidal_embedding


@dataclass(frozen=True)
class TimeMLPConfig(FromDict):
    """dim → hidden ×layers → dim, with the sinusoidal time embedding (and a class embedding) added per layer."""

    dim: int = 2
    hidden: int = 128
    layers: int = 3
    time_dim: int = 32
    n_classes: int | None = None
    time_scale: float = 1.0  # multiply t by this before the embedding (1000 for t in [0, 1])

    def __post_init__(self) -> None:
        for name in ("dim", "hidden", "layers", "time_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a positive integer")


class TimeMLP(nn.Module):
    """ε(x, t, y) for (B, dim) data: SiLU layers, each adding a projection of the time (+ class) embedding."""

    def __init__(self, cfg: TimeMLPConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or TimeMLPConfig.from_dict(kwargs)
        self.cfg = cfg
        self.time = nn.Sequential(nn.Linear(cfg.time_dim, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, cfg.hidden))
        self.class_emb = nn.Embedding(cfg.n_classes + 1, cfg.hidden) if cfg.n_classes is not None else None
        self.inp = nn.Linear(cfg.dim, cfg.hidden)
        self.hidden = nn.ModuleList(nn.Linear(cfg.hidden, cfg.hidden) for _ in range(cfg.layers))
        self.out = nn.Linear(cfg.hidden, cfg.dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.cfg.dim:
            raise ValueError(f"TimeMLP takes (B, {self.cfg.dim}) inputs, not {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        emb = self.time(sinusoidal_embedding(t * self.cfg.time_scale, self.cfg.time_dim).to(x.dtype))
        if self.class_emb is not None:
            emb = emb + self.class_emb(label_indices(y, x.shape[0], self.cfg.n_classes, x.device))
        elif y is not None and bool((torch.as_tensor(y) != NULL_LABEL).any()):
            raise ValueError("this TimeMLP is unconditional (n_classes=None) but was given class labels")
        h = torch.nn.functional.silu(self.inp(x))
        for layer in self.hidden:
            h = torch.nn.functional.silu(layer(h + emb))
        return self.out(h)

    def example_input(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs of one forward pass (x (1, dim), t (1,)), for architecture tables."""
        return torch.zeros(1, self.cfg.dim), torch.zeros(1)
