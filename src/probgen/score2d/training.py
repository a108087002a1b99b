"""Train (or load from cache) a 2-D score model s_θ(x, t) by score matching, from one frozen config."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .. import checkpoints
from ..runtime import progress as progress_bar, ConfigError, FromDict, check_choice, resolve_device
from .forward import VPSchedule
from .losses import LOSSES, PROBES, WEIGHTINGS
from .nets import PARAMETRISATIONS, TIME_EMBEDDINGS, ScoreMLP, ScoreModel

HISTORY_KEYS = ("step", "loss", "seconds")
NOT_IN_CACHE_KEY = ("checkpoint_every",)  # changes when partial checkpoints are written, never the result


@dataclass(frozen=True)
class Score2DConfig(FromDict):
    """Every hyperparameter of one score-model run; its hash (with the data's fingerprint) names the checkpoint."""

    loss: str = "dsm"  # "ism_exact" | "ism_hutchinson" | "dsm"
    weighting: str = "sigma2"  # λ_k: "sigma2" (σ_k² = 1 − ᾱ_k) | "none" (1)
    n_probes: int = 1  # Hutchinson probes per point ("ism_hutchinson")
    probe: str = "rademacher"  # "rademacher" | "gaussian" ("ism_hutchinson")
    parametrisation: str = "noise"  # "noise": s = −f/σ_k | "score": s = f
    steps: int = 2000  # optimiser steps
    batch_size: int = 512  # points per step, drawn with replacement from the data
    lr: float = 1e-3  # Adam learning rate
    hidden: int = 128  # width of the MLP's hidden layers
    layers: int = 3  # number of hidden layers
    time_embedding: str = "sinusoidal"  # "sinusoidal" | "scalar"
    embedding_dim: int = 32  # size of the time (and label) embedding
    K: int = 1000  # steps of the discretised forward process
    beta_0: float = 0.001  # β(0)
    beta_1: float = 20.0  # β(1); the exercise's first value 0.2 leaves ᾱ_K ≈ 0.90
    n_classes: int | None = None  # None: unconditional; else labels 0..n_classes−1 are expected
    p_uncond: float = 0.1  # probability of replacing a label by the null label (classifier-free guidance)
    log_every: int = 50  # the history holds the mean loss of each block of this many steps
    checkpoint_every: int = 500  # steps between partial checkpoints (not part of the cache key)
    seed: int = 0  # initialisation, batches, steps k and noise
    device: str = "cpu"  # "auto" | "cpu" | "cuda"

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, tuple(LOSSES))
        check_choice("weighting", self.weighting, WEIGHTINGS)
        check_choice("probe", self.probe, PROBES)
        check_choice("parametrisation", self.parametrisation, PARAMETRISATIONS)
        check_choice("time_embedding", self.time_embedding, TIME_EMBEDDINGS)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("n_probes", "steps", "batch_size", "hidden", "layers", "embedding_dim", "K", "log_every",
                     "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if self.time_embedding == "sinusoidal" and self.embedding_dim % 2:
            raise ConfigError(f"embedding_dim={self.embedding_dim} must be even for a sinusoidal time embedding")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed={self.seed!r} must be a non-negative integer")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} must be a positive number")
        if self.n_classes is not None and (not isinstance(self.n_classes, int) or self.n_classes < 1):
            raise ConfigError(f"n_classes={self.n_classes!r} must be None or a positive integer")
        if not 0 <= self.p_uncond < 1:
            raise ConfigError(f"p_uncond={self.p_uncond!r} must be in [0, 1)")
        self.schedule()  # checks K, beta_0 and beta_1

    def schedule(self) -> VPSchedule:
        return VPSchedule(K=self.K, beta_0=self.beta_0, beta_1=self.beta_1)



def build_score_model(cfg: Score2DConfig, dim: int = 2) -> ScoreModel:
    """A freshly initialised score model for `cfg`, seeded by `cfg.seed` (global RNG state untouched), on CPU."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = ScoreMLP(dim=dim, hidden=cfg.hidden, layers=cfg.layers, time_embedding=cfg.time_embedding,
                       embedding_dim=cfg.embedding_dim, n_classes=cfg.n_classes)
    return ScoreModel(net, cfg.schedule(), parametrisation=cfg.parametrisation)


def cache_config(cfg: Score2DConfig, data: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
    """What names the checkpoint: the config (less `NOT_IN_CACHE_KEY`) and fingerprints of the data and labels."""
    key = {k: v for k, v in checkpoints.config_dict(cfg).items() if k not in NOT_IN_CACHE_KEY}
    key["data"] = checkpoints.data_fingerprint(data)
    key["labels"] = None if labels is None else checkpoints.data_fingerprint(labels)
    return key


def step_loss(model: ScoreModel, cfg: Score2DConfig, x0: torch.Tensor, generator: torch.Generator,
              labels: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) the configured loss on a batch; labels (if any) are dropped to ∅ with probability p_uncond."""
    if labels is not None:
        drop = torch.rand(labels.shape, generator=generator, device=labels.device) < cfg.p_uncond
        labels = torch.where(drop, torch.full_like(labels, model.net.null_label), labels)

    def score_fn(x, k):
        return model(x, k, labels)

    kwargs = {"weighting": cfg.weighting}
    if cfg.loss == "ism_hutchinson":
        kwargs.update(n_probes=cfg.n_probes, probe=cfg.probe)
    return LOSSES[cfg.loss](score_fn, x0, model.schedule, generator, **kwargs)


def train_score_model(cfg: Score2DConfig, data: torch.Tensor, labels: torch.Tensor | None = None, *,
                      log: Callable[[str], None] = print, progress: bool = True) -> tuple[ScoreModel, dict]:
    """Train a score model with Adam, or load it from the cache if this (config, data) was trained before.

    Every step draws `batch_size` points with replacement, steps k ~ U{1..K} and noise from one
    generator seeded by `cfg.seed`; its state is saved in the partial checkpoints written every
    `checkpoint_every` steps, so an interrupted run resumes and ends with the same weights.

    Args:
        cfg: the run's hyperparameters.
        data: (N, D) training points (the spiral, or 2-D latent codes).
        labels: (N,) integer classes in 0..n_classes−1, for a class-conditional model (cfg.n_classes set).
        log: where messages go (cache hits, resumption, the final loss).
        progress: show a progress bar (`runtime.progress`) over steps.
    Returns:
        (model in eval mode on the config's device, history) where history["step"] and history["loss"] give
        the mean loss of each block of `log_every` steps, and history["seconds"] the training time of each block.
    Raises:
        FloatingPointError: the loss became NaN or infinite.
    """

    if data.dim() != 2:
        raise ValueError(f"data must be (N, D) points, not of shape {tuple(data.shape)}")
    if (labels is None) != (cfg.n_classes is None):
        raise ConfigError("labels are needed exactly when n_classes is set "
                          f"(n_classes={cfg.n_classes!r}, labels {'given' if labels is not None else 'not given'})")
    if labels is not None:
        labels = labels.long()
        if labels.shape != (data.shape[0],) or labels.min() < 0 or labels.max() >= cfg.n_classes:
            raise ValueError(f"labels must be (N,) = ({data.shape[0]},) integers in 0..{cfg.n_classes - 1}")
    device = resolve_device(cfg.device)
    key = cache_config(cfg, data, labels)
    dim = data.shape[1]

    def train(resume, save):
        model = build_score_model(cfg, dim).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        history = {k: [] for k in HISTORY_KEYS}
        start, block = 0, []  # block: losses of the steps since the last history entry
        if resume is not None:
            model.load_state_dict(resume["state"]["model"], strict=True)
            optimizer.load_state_dict(resume["state"]["optimizer"])
            generator.set_state(resume["state"]["generator"])
            history = {k: list(v) for k, v in resume["metrics"]["history"].items()}
            start = int(resume["step"])
            block = list(resume["metrics"]["block"])
        x_all = data.to(device=device, dtype=torch.get_default_dtype())
        y_all = None if labels is None else labels.to(device)
        model.train()
        bar = progress_bar(range(start, cfg.steps), desc=f"score model ({cfg.loss})", enabled=progress,
                           initial=start, total=cfg.steps)
        t0 = time.perf_counter()
        for step in bar:
            idx = torch.randint(x_all.shape[0], (cfg.batch_size,), generator=generator, device=device)
            loss = step_loss(model, cfg, x_all[idx], generator, None if y_all is None else y_all[idx]).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"score-matching loss ({cfg.loss}) became {loss.item()} at step {step + 1} "
                    f"(lr={cfg.lr:g}, weighting={cfg.weighting!r}, parametrisation={cfg.parametrisation!r}); "
                    f"try a lower learning rate, e.g. lr={cfg.lr / 10:g}, or weighting='sigma2' with "
                    "parametrisation='noise', which keep every step's term of order one")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            block.append(loss.item())
            done = step + 1
            if len(block) == cfg.log_every or done == cfg.steps:
                history["step"].append(done)
                history["loss"].append(sum(block) / len(block))
                history["seconds"].append(time.perf_counter() - t0)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
                block, t0 = [], time.perf_counter()
            if done % cfg.checkpoint_every == 0 and done < cfg.steps:
                save(_state(model, optimizer, generator), done, {"history": history, "block": block})
        bar.close()
        return {"model": checkpoints.cpu_state(model)}, cfg.steps, {"history": history}

    payload = checkpoints.train_or_load("score2d", key, train, log=log)
    model = checkpoints.restore_model(build_score_model(cfg, dim), payload, device)
    history = payload["metrics"]["history"]
    if history["loss"]:
        log(f"score model ({cfg.loss}, {cfg.steps} steps): final loss {history['loss'][-1]:.4f}")
    return model, history


def _state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict:
    return {"model": checkpoints.cpu_state(model), "optimizer": optimizer.state_dict(),
            "generator": generator.get_state()}
