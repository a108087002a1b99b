"""One resumable trainer for every diffusion-style model: Adam, warm-up and decay, gradient clipping, EMA.

A "model" is any object with a `.network` (nn.Module) and a
`.loss(x0, y=None, generator=None)` returning a scalar: `DDPM`, and the flow
matching and score-SDE models of the later chapters. The trainer

- caches the result under a hash of (kind, full config, data fingerprint), so a
  rerun loads it instead of training;
- writes a partial checkpoint (network, EMA, optimizer, history) atomically at
  every epoch end and every `save_every_s` seconds, and resumes from it: data
  order is a function of (seed, epoch) and each step's t and noise a function of
  (seed, step), so a resumed run takes exactly the steps an uninterrupted run
  would have taken;
- uses channels_last for images on every device; `precision="auto"` trains under bf16 autocast on
  CUDA and in fp32 on the CPU (bf16 is slower on CPUs without AMX), and "fp32" or "bf16" force one
  on any device; `compile=True` runs the network through torch.compile on any device (on the CPU
  it needs a C++ compiler). Checkpoints always hold the plain network's weights, never the compiled
  wrapper's, so they load into an uncompiled model;
- stops with a clear `FloatingPointError` on a NaN or infinite loss, leaving the
  last checkpoint in place.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from .. import checkpoints, runtime
from ..runtime import ConfigError, check_choice, is_cuda, progress as progress_bar, FromDict, resolve_device

HISTORY_KEYS = ("epoch", "step", "seconds", "loss", "lr", "images_per_s")
PRECISIONS = ("auto", "fp32", "bf16")


def autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype a `TrainConfig.precision` gives on `device` ("cpu", "cuda", "cuda:1"), or None for fp32."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        precision = "bf16" if is_cuda(device) else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


def autocast(precision: str, device: str) -> torch.autocast:
    """The autocast context of a `TrainConfig.precision` on `device` (disabled for fp32)."""
    dtype = autocast_dtype(precision, device)
    return torch.autocast(torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None)


@dataclass(frozen=True)
class TrainConfig(FromDict):
    """Optimisation settings (every field except `device`, `compile` and `save_every_s` names the checkpoint;
    `precision` does too, unless it is "auto")."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    lr_decay: float = 1.0  # multiplied into the learning rate after every step (the reference uses 0.9999)
    warmup_steps: int = 0  # linear warm-up from 0 to lr
    ema_decay: float = 0.999
    grad_clip: float | None = 1.0  # max gradient norm; None: no clipping
    seed: int = 0
    max_steps: int | None = None  # stop after this many steps (None: all epochs)
    preview_epochs: tuple[int, ...] = ()  # epochs after which `preview` is called on the EMA network
    snapshot_steps: tuple[int, ...] = ()  # steps after which `snapshot` is called on the EMA network
    device: str = "auto"
    compile: bool = False  # torch.compile the network (any device)
    precision: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on the CPU | "fp32" | "bf16" (autocast, any device)
    save_every_s: float = 300.0

    def __post_init__(self) -> None:
        check_choice("precision", self.precision, PRECISIONS)
        object.__setattr__(self, "preview_epochs", tuple(self.preview_epochs))
        object.__setattr__(self, "snapshot_steps", tuple(self.snapshot_steps))
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.snapshot_steps):
            raise ConfigError(f"snapshot_steps={self.snapshot_steps!r} must be positive step counts")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr={self.lr!r} must be a positive number")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay={self.lr_decay!r} must be in (0, 1]")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay={self.ema_decay!r} must be in [0, 1)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps={self.max_steps!r} must be None or positive")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps={self.warmup_steps!r} must be ≥ 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"grad_clip={self.grad_clip!r} must be None (no clipping) or positive")

    def cache_key(self) -> dict:
        key = checkpoints.config_dict(self)
        for name in ("device", "compile", "save_every_s"):
            key.pop(name)
        if not self.snapshot_steps:  # added later: runs without snapshots keep the keys they had
            key.pop("snapshot_steps")
        if self.precision == "auto":  # likewise; "auto" is what every run had before the field existed
            key.pop("precision")
        return key

    def lr_at(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return self.lr * warm * self.lr_decay**step


class EMA:
    """Exponential moving average of a network's weights, with the usual warm-up of the decay.

    decay_k = min(decay, (1 + k) / (10 + k)) at update k, so early averages are not dominated
    by the random initialisation. Buffers are copied, not averaged.
    """

    def __init__(self, network: nn.Module, decay: float):
        self.decay = decay
        self.shadow = copy.deepcopy(network).eval()
        self.shadow.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow.parameters(), network.parameters()):
            s.lerp_(p.detach(), 1 - d)
        for s, b in zip(self.shadow.buffers(), network.buffers()):
            s.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"shadow": checkpoints.cpu_state(self.shadow), "updates": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state["shadow"], strict=True)
        self.updates = int(state["updates"])


def _step_generator(device: str, seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The generator of one step's t and noise: a function of (seed, step) and, under torchrun, of the rank (each
    process draws for its own shard of the batch; rank 0 draws what a single process would)."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step + rank * 10**12)


def _train_or_load_distributed(kind: str, key: dict, train: Callable, ddp: "runtime.Distributed", log) -> dict:
    """`checkpoints.train_or_load` for a torchrun job: rank 0 holds the cache's lock, loads or resumes, and writes
    every checkpoint; the other ranks read the same checkpoint, train alongside without writing, and load the
    finished one. The cache key is that of a single process with the same global batch."""
    path = checkpoints.cache_path(kind, key)
    if ddp.rank == 0:
        payload = checkpoints.train_or_load(kind, key, train, log=log)
    else:
        payload = None
        try:
            found = checkpoints.load_checkpoint(path, kind=kind, config=key) if path.exists() else None
        except checkpoints.CheckpointError:  # rank 0 moves it aside and starts afresh: so does this rank
            found = None
        if found is None or not found["complete"]:
            train(resume=found, save=lambda *args, **kwargs: None)
    torch.distributed.barrier()  # rank 0 has written the finished checkpoint
    return payload if payload is not None else checkpoints.load_checkpoint(path, kind=kind, config=key)


def _call_on_ema(model, ema: EMA, fn: Callable, network: nn.Module):
    """fn(model) with the EMA weights in `model.network`; a dict result is moved to the CPU item by item."""
    original = model.network
    model.network = ema.shadow
    try:
        out = fn(model)
    finally:
        model.network = original
        network.train()
    return {k: v.cpu() for k, v in out.items()} if isinstance(out, dict) else out


def train_diffusion(kind: str, key: dict, build: Callable[[], Any], cfg: TrainConfig, data: torch.Tensor,
                    labels: torch.Tensor | None = None, *, preview: Callable[[Any], torch.Tensor] | None = None,
                    snapshot: Callable[[Any], dict[str, torch.Tensor]] | None = None,
                    log: Callable[[str], None] = print, progress: bool = True) -> tuple[Any, dict]:
    """Train `build()` on `data` (or load it from the cache); return (model with EMA weights, record).

    Args:
        kind: cache kind, e.g. "ddpm".
        key: everything else that defines the model (network and schedule configs, ...); together
            with `cfg.cache_key()` and the data fingerprints it names the checkpoint.
        build: returns a fresh model (an object with `.network` and `.loss`), on the CPU.
        cfg: optimisation settings.
        data: (N, …) training examples; labels: (N,) class labels or None.
        preview: called on a model whose network holds the EMA weights after each epoch in
            `cfg.preview_epochs`; returns a tensor kept in the record (e.g. a grid of samples).
        snapshot: the same after each step in `cfg.snapshot_steps`, returning a dict of tensors
            (e.g. samples and held-out losses, to follow a quantity along training).
    Returns:
        (model, record): the model's network holds the EMA weights, in eval mode, on the device;
        record = {"history": per-epoch lists (HISTORY_KEYS), "previews": {epoch: tensor},
        "snapshots": {step: dict of CPU tensors},
        "losses": per-step losses averaged over blocks of 50 steps, "step": steps taken,
        "network_state": the raw (non-EMA) weights}.
    """

    device = resolve_device(cfg.device)
    ddp = runtime.distributed(device)  # None unless this process is one of a torchrun job
    rank, world = (ddp.rank, ddp.world) if ddp else (0, 1)
    device = ddp.device if ddp else device
    if ddp and cfg.batch_size < world:
        raise ConfigError(f"batch_size={cfg.batch_size} cannot be shared among {world} processes")
    if labels is not None and labels.shape != (data.shape[0],):
        raise ValueError(f"labels must have shape ({data.shape[0]},), not {tuple(labels.shape)}")
    if not torch.isfinite(data).all():
        raise ValueError("the training data contain NaN or infinite values")
    full_key = {**key, "train": cfg.cache_key(), "data": checkpoints.data_fingerprint(data),
                "labels": None if labels is None else checkpoints.data_fingerprint(labels)}
    n = data.shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.max_steps,
                                                                                  cfg.epochs * steps_per_epoch)
    images = data.ndim == 4
    memory_format = torch.channels_last if images else torch.contiguous_format

    def train(resume, save):
        model = build()
        network = model.network.to(device, memory_format=memory_format)
        ema = EMA(network, cfg.ema_decay)
        optimizer = torch.optim.Adam(network.parameters(), lr=cfg.lr)
        record = {"history": {k: [] for k in HISTORY_KEYS}, "previews": {}, "snapshots": {}, "losses": []}
        step = 0
        if resume is not None:
            network.load_state_dict(resume["state"]["network"], strict=True)
            ema.load_state_dict(resume["state"]["ema"])
            optimizer.load_state_dict(resume["state"]["optimizer"])
            record = copy.deepcopy(resume["metrics"])
            record.setdefault("snapshots", {})
            step = int(resume["step"])
        if ddp:  # gradients are averaged across processes in backward; `network` stays the plain module
            from torch.nn.parallel import DistributedDataParallel

            model.network = DistributedDataParallel(network, device_ids=[torch.device(device).index] if
                                                    runtime.is_cuda(device) else None)
            torch.distributed.barrier()  # every process has read the checkpoint it resumes from before any save
        if cfg.compile:  # the checkpoint is written from `network`, the plain module (no "_orig_mod." prefixes)
            model.network = torch.compile(model.network)
        mixed = autocast(cfg.precision, device)
        x_all = data.to(device)
        y_all = None if labels is None else labels.to(device).long()

        def payload():
            return {"network": checkpoints.cpu_state(network), "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict()}

        last_save = time.perf_counter()
        block: list[float] = list(record.pop("_block", []))
        partial_epoch = record.pop("_epoch", None)  # (loss sum, images, seconds) of an epoch cut by a save
        bar = progress_bar(total=total_steps, initial=step, desc=kind, enabled=progress)
        while step < total_steps:
            epoch, offset = divmod(step, steps_per_epoch)
            order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch)).to(device)
            t_epoch, seen, loss_sum, seconds_before = time.perf_counter(), 0, 0.0, 0.0
            if offset and partial_epoch is not None:  # resuming inside this epoch: keep its running totals
                loss_sum, seen, seconds_before = partial_epoch
            partial_epoch = None
            network.train()
            for b in range(offset, steps_per_epoch):
                if step >= total_steps:
                    break
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                batch = idx.shape[0]
                idx = idx[rank::world]  # this process's shard of the global batch (all of it without torchrun)
                x = x_all[idx].contiguous(memory_format=memory_format) if images else x_all[idx]
                y = None if y_all is None else y_all[idx]
                lr = cfg.lr_at(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with mixed:
                    loss = model.loss(x, y, generator=_step_generator(device, cfg.seed, step, rank))
                if ddp:  # the global batch's mean loss, and gradients weighted so their average is its gradient
                    total = loss.detach().float() * idx.shape[0]
                    torch.distributed.all_reduce(total)
                    global_loss = total / batch
                    loss = loss * (idx.shape[0] * world / batch)
                else:
                    global_loss = loss
                if not torch.isfinite(global_loss):
                    raise FloatingPointError(
                        f"{kind}: the loss became {global_loss.item()} at step {step + 1} (lr={lr:g}); the last "
                        f"checkpoint is kept. Try a lower lr (e.g. {cfg.lr / 3:g}) or gradient clipping (grad_clip=1).")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    nn.utils.clip_grad_norm_(network.parameters(), cfg.grad_clip)
                optimizer.step()
                ema.update(network)
                value = global_loss.item()
                loss_sum += value * batch
                seen += batch
                block.append(value)
                if len(block) == 50:
                    record["losses"].append(sum(block) / 50)
                    block = []
                step += 1
                bar.update(1)
                if snapshot is not None and step in cfg.snapshot_steps and rank == 0:
                    record["snapshots"][step] = _call_on_ema(model, ema, snapshot, network)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}")
                if time.perf_counter() - last_save > cfg.save_every_s and step < total_steps:
                    running = (loss_sum, seen, seconds_before + time.perf_counter() - t_epoch)
                    save(payload(), step, {**record, "_block": block, "_epoch": running})
                    last_save = time.perf_counter()
            if seen:  # an epoch finished (or the run stopped at max_steps inside it)
                seconds = seconds_before + time.perf_counter() - t_epoch
                h = record["history"]
                h["epoch"].append(epoch + 1)
                h["step"].append(step)
                h["seconds"].append(seconds)
                h["loss"].append(loss_sum / seen)
                h["lr"].append(lr)
                h["images_per_s"].append(seen / seconds)
            if (preview is not None and (epoch + 1) in cfg.preview_epochs and step == (epoch + 1) * steps_per_epoch
                    and rank == 0):
                record["previews"][epoch + 1] = _call_on_ema(model, ema, preview, network).cpu()
            if step < total_steps:
                save(payload(), step, {**record, "_block": block})
                last_save = time.perf_counter()
        bar.close()
        return payload(), step, record

    if ddp is None:
        payload = checkpoints.train_or_load(kind, full_key, train, log=log)
    else:
        payload = _train_or_load_distributed(kind, full_key, train, ddp, log)
    model = build()
    model.network.load_state_dict(payload["state"]["ema"]["shadow"], strict=True)
    # Sampling in channels_last too: on the CPU the U-Net's convolutions run ~1.8x faster with the same
    # outputs (bench/sampling_speed.py measures it); the input may stay in the default layout.
    model.network.to(device, memory_format=memory_format).eval()
    record = dict(payload["metrics"])
    record["step"] = payload["step"]
    record["network_state"] = payload["state"]["network"]
    return model, record
