"""Score networks s_θ(x, t) for 2-D points (the spiral, or a 2-D latent space), optionally class-conditional.

How t enters: t ∈ [0, 1] is mapped to a sinusoidal embedding
[sin(ω_1 t), cos(ω_1 t), ..., sin(ω_{E/2} t), cos(ω_{E/2} t)] with frequencies ω_j spaced geometrically
from 1 to 1000 (the transformer position code, with t·1000 playing the position), which is
concatenated to x before the first layer (and to every hidden layer's input, so the time
dependence cannot be washed out). `time_embedding="scalar"` feeds t itself instead, for comparison.
A class label enters the same way, through a learned embedding; index n_classes is the null label ∅.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..runtime import ConfigError, check_choice
from .forward import VPSchedule, per_sample

TIME_EMBEDDINGS = ("sinusoidal", "scalar")
PARAMETRISATIONS = ("noise", "score")


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_frequency: float = 1000.0) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, dim) features sin(ω_j t), cos(ω_j t), ω_j geometric in [1, max_frequency]."""
    if dim % 2:
        raise ValueError(f"the embedding dimension must be even, not {dim}")
    freqs = torch.exp(torch.linspace(0.0, math.log(max_frequency), dim // 2, dtype=t.dtype, device=t.device))
    angles = t[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ScoreMLP(nn.Module):
    """An MLP f(x, t[, c]) -> (B, dim): `layers` hidden layers of width `hidden`, SiLU, the embeddings concatenated
    to the input of every layer.

    Args:
        dim: dimension of x (2 for the spiral and a 2-D latent space).
        hidden: width of the hidden layers.
        layers: number of hidden layers.
        time_embedding: "sinusoidal" (E = embedding_dim features) or "scalar" (t itself).
        embedding_dim: E, also the size of the label embedding.
        n_classes: None for an unconditional net; else labels 0..n_classes−1 and the null label n_classes.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, time_embedding: str = "sinusoidal",
                 embedding_dim: int = 32, n_classes: int | None = None) -> None:
        super().__init__()
        check_choice("time_embedding", time_embedding, TIME_EMBEDDINGS)
        for name, value in (("dim", dim), ("hidden", hidden), ("layers", layers), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if time_embedding == "sinusoidal" and embedding_dim % 2:
            raise ConfigError(f"embedding_dim={embedding_dim} must be even for a sinusoidal embedding")
        if n_classes is not None and (not isinstance(n_classes, int) or n_classes < 1):
            raise ConfigError(f"n_classes={n_classes!r} must be None or a positive integer")
        self.dim, self.time_embedding = dim, time_embedding
        self.embedding_dim, self.n_classes = embedding_dim, n_classes
        cond = embedding_dim if time_embedding == "sinusoidal" else 1
        if n_classes is not None:
            self.label_embedding = nn.Embedding(n_classes + 1, embedding_dim)
            cond += embedding_dim
        widths = [dim] + [hidden] * layers
        self.hidden_layers = nn.ModuleList(nn.Linear(w + cond, hidden) for w in widths[:-1])
        self.out = nn.Linear(hidden + cond, dim)

    @property
    def null_label(self) -> int | None:
        """The label index meaning "no class" (∅), used for classifier-free guidance."""
        return self.n_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(B, dim) points, (B,) times in [0, 1] (and (B,) labels, None meaning ∅) -> (B, dim)."""
        t = t.to(x.dtype).expand(x.shape[0])
        if self.time_embedding == "sinusoidal":
            cond = sinusoidal_embedding(t, self.embedding_dim)
        else:
            cond = t[:, None]  # (B,) -> (B, 1)
        if self.n_classes is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.n_classes, dtype=torch.long, device=x.device)
            cond = torch.cat([cond, self.label_embedding(labels.long().expand(x.shape[0]))], dim=-1)
        elif labels is not None:
            raise ValueError("this ScoreMLP is unconditional (n_classes=None) but labels were given")
        h = x
        for layer in self.hidden_layers:
            h = nn.functional.silu(layer(torch.cat([h, cond], dim=-1)))
        return self.out(torch.cat([h, cond], dim=-1))


class ConditionalScoreMLP(ScoreMLP):
    """A `ScoreMLP` with a learned label embedding for `n_classes` classes plus the null label n_classes."""

    def __init__(self, n_classes: int, **kwargs) -> None:
        super().__init__(n_classes=n_classes, **kwargs)


class ScoreModel(nn.Module):
    """A score function s_θ(x, k) on the steps of `schedule`, built from a network f(x, t = k/K).

    parametrisation "noise": s = −f/σ_k with σ_k = √(1 − ᾱ_k), f predicting the noise (keeps f of
    order one when the score is of order 1/σ_k); "score": s = f. Step k = 0 is not allowed with
    "noise" (σ_0 = 0).
    """

    def __init__(self, net: ScoreMLP, schedule: VPSchedule, parametrisation: str = "noise") -> None:
        super().__init__()
        check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
        self.net, self.schedule, self.parametrisation = net, schedule, parametrisation
        self.register_buffer("sigmas", schedule.sigmas.clone(), persistent=False)  # float64, cast at use

    def forward(self, x: torch.Tensor, k: int | torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """(B, dim) points at step k (int or (B,)) -> (B, dim) scores."""
        if isinstance(k, int):
            k_t = torch.full((x.shape[0],), k, dtype=torch.long, device=x.device)
        else:
            k_t = torch.as_tensor(k, device=x.device).long()
        if self.parametrisation == "noise" and bool((k_t == 0).any()):
            raise ValueError("the noise parametrisation has no score at k = 0 (σ_0 = 0); use steps 1..K")
        if isinstance(labels, int):
            labels = torch.full((x.shape[0],), labels, dtype=torch.long, device=x.device)
        t = k_t.to(x.dtype) / self.schedule.K
        f = self.net(x, t, labels)
        if self.parametrisation == "score":
            return f
        return -f / per_sample(self.sigmas, k_t, x)


def guided_score(model: ScoreModel, label: int | torch.Tensor, w: float):
    """Classifier-free guidance: the score function (x, k) -> (1 + w) s(x, k, c) − w s(x, k, ∅).

    w = 0 is the conditional score, w = −1 the unconditional one; larger w sharpens towards class c.
    """
    if model.net.n_classes is None:
        raise ValueError("guided_score needs a class-conditional model (ScoreMLP with n_classes)")
    null = model.net.null_label

    def score_fn(x: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
        return (1 + w) * model(x, k, label) - w * model(x, k, null)

    return score_fn
