"""Memorization: MNIST DDPMs trained on subsets of growing size and capacity, followed along training.

Each run trains the DDPM chapter's U-Net on a random subset of n training images (drawn with the seed)
for a fixed number of steps. At every step in `snapshot_steps` the EMA network draws `n_samples`
DDIM samples and is scored on two held-out quantities: the denoising loss on the subset itself and
on test images (same t and noise for both). `snapshot_rows` then finds each sample's two nearest
training images (`probgen.memorization`) and counts the near-copies (d1/d2 < 1/3). The trained
models of the size sweep also draw `n_fid` samples at the end of training, whose FID against as many
test images (with its bootstrap standard error) is the one the chapter states: the snapshots'
`n_samples` are too few for a FID that can be compared with the book's others.

A subset smaller than `EPOCH_STEPS` batches is repeated so that every step sees a full batch and an
epoch lasts about `EPOCH_STEPS` steps: the tiled set is a whole number of batches holding each image
equally often.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import checkpoints
from ..data import load_mnist
from ..diffusion.ddpm import DDPM
from ..diffusion.schedules import NoiseSchedule, ScheduleConfig
from ..diffusion.training import TrainConfig, train_diffusion
from ..memorization import DEFAULT_THRESHOLD, memorization_report
from ..nets.unet import UNet, UNetConfig
from ..runtime import ConfigError, ProfileConfig, check_choice, resolve_device
from ..runtime import progress as progress_bar


EPOCH_STEPS = 100  # a subset smaller than this many batches is repeated to fill them


@dataclass(frozen=True)
class MemorizationStudyConfig(ProfileConfig):
    """The memorization half of the chapter: a sweep over subset size, one over capacity, each with seeds.

    `quick` uses subsets of 10 to 100 images, which a 2-core CPU can drive to memorization in about a
    quarter of an hour; `full` (GPU) covers 10 to 60 000 images. Its 24 U-Nets are small, so a GPU runs them at
    the speed it launches kernels, not at its arithmetic rate: 20 000 steps each (2 560 epochs of the 1 000-image
    subsets, 43 of all 60 000) keep the study near 0.55 GPU-hours (`python -m probgen.cost --gpu-items`), where
    60 000 steps cost 1.6.
    """

    PROFILES = {
        "smoke": dict(sizes=(10, 40), base_channels=8, capacities=(8, 16), capacity_size=10, n_seeds=2, steps=30,
                      snapshot_steps=(15, 30), n_samples=16, sampler_steps=5, T=100, n_loss=32, batch_size=16,
                      n_fid=32, fid_bootstrap=20),
        "quick": dict(),
        "full": dict(sizes=(10, 100, 1000, 10_000, 60_000), base_channels=32, capacities=(8, 16, 32, 64),
                     capacity_size=1000, n_seeds=3, steps=20_000, batch_size=128, lr=1e-3, lr_decay=0.99985,
                     snapshot_steps=(500, 1000, 2000, 5000, 10_000, 20_000), n_samples=1000,
                     sampler_steps=50, n_loss=2000),
    }

    sizes: tuple[int, ...] = (10, 20, 40)  # training-set sizes of the size sweep
    base_channels: int = 32  # U-Net width of the size sweep
    capacities: tuple[int, ...] = (8, 16, 32)  # U-Net widths of the capacity sweep
    capacity_size: int = 10  # the training-set size of the capacity sweep
    channel_mults: tuple[int, ...] = (1, 2)
    patch_size: int = 2
    n_seeds: int = 2  # seeds seed, seed + 1, …: subset, initialisation, batches, sampling noise
    T: int = 1000
    steps: int = 1200
    batch_size: int = 32
    lr: float = 2e-3
    lr_decay: float = 0.9993  # per step (0.43 of the peak after 1200 steps)
    warmup_steps: int = 100
    ema_decay: float = 0.995
    snapshot_steps: tuple[int, ...] = (100, 200, 400, 800, 1200)
    n_samples: int = 100  # DDIM samples per snapshot
    sampler_steps: int = 25  # DDIM steps (η = 0)
    n_loss: int = 256  # images of the subset (tiled) and of the test set for the held-out losses
    n_fid: int = 1000  # DDIM samples of each final model of the size sweep for its FID (against as many test images)
    fid_bootstrap: int = 200  # bootstrap resamples behind each FID's standard error
    threshold: float = DEFAULT_THRESHOLD
    device: str = "auto"

    def validate(self) -> None:
        for name in ("sizes", "capacities", "channel_mults", "snapshot_steps"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        if any(n < 2 or n > 60_000 for n in self.sizes + (self.capacity_size,)):
            raise ConfigError(f"sizes={self.sizes!r} and capacity_size={self.capacity_size!r} must lie in 2…60000 "
                              "(the d1/d2 test needs two training images)")
        if not self.snapshot_steps or max(self.snapshot_steps) > self.steps:
            raise ConfigError(f"snapshot_steps={self.snapshot_steps!r} must be non-empty and at most steps={self.steps}")
        if self.n_fid < 2 or self.fid_bootstrap < 2:
            raise ConfigError(f"need n_fid ≥ 2 (got {self.n_fid}) and fid_bootstrap ≥ 2 (got {self.fid_bootstrap})")
        if self.n_samples < 2 or self.sampler_steps < 1 or self.sampler_steps > self.T:
            raise ConfigError(f"need n_samples ≥ 2 (got {self.n_samples}) and 1 ≤ sampler_steps ≤ T "
                              f"(got {self.sampler_steps})")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"threshold={self.threshold!r} must be in (0, 1]")
        for c in self.capacities + (self.base_channels,):
            self.unet(c)  # raises ConfigError for an impossible network

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.n_seeds))

    def runs(self) -> list[tuple[int, int]]:
        """The (size, base_channels) pairs to train: the size sweep, then the capacity sweep (no repeats)."""
        pairs = [(n, self.base_channels) for n in self.sizes] + [(self.capacity_size, c) for c in self.capacities]
        return list(dict.fromkeys(pairs))

    def unet(self, base_channels: int) -> UNetConfig:
        return UNetConfig(base_channels=base_channels, channel_mults=self.channel_mults, patch_size=self.patch_size)

    def schedule_config(self) -> ScheduleConfig:
        return ScheduleConfig.reference(self.T)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(epochs=self.steps, max_steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           lr_decay=self.lr_decay, warmup_steps=self.warmup_steps, ema_decay=self.ema_decay,
                           seed=seed, snapshot_steps=self.snapshot_steps, device=self.device)


def training_subset(n: int, seed: int) -> torch.Tensor:
    """(n, 1, 28, 28) float32 images in [−1, 1]: a random subset of MNIST's 60 000 training images."""
    images = load_mnist("trainval", "symmetric").images
    idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return torch.as_tensor(images[idx], dtype=torch.float32)


def tile_to_batches(x: torch.Tensor, batch_size: int, min_items: int = 0) -> torch.Tensor:
    """x repeated so that an epoch is a whole number of batches with every image equally often.

    For n < max(batch_size, min_items) the result holds k · lcm(n, B) items, the smallest k with at least
    `min_items`; otherwise x itself. (The trainer checkpoints at every epoch end, so an epoch of a few steps
    would write a checkpoint every few steps: `min_items` keeps epochs long.)
    """
    n = x.shape[0]
    if n >= max(batch_size, min_items):
        return x
    period = n * batch_size // math.gcd(n, batch_size)  # lcm(n, B)
    items = period * max(1, math.ceil(min_items / period))
    return x.repeat(items // n, *([1] * (x.ndim - 1)))


@torch.no_grad()
def fixed_loss(model: DDPM, x: torch.Tensor, seed: int, batch: int = 500) -> torch.Tensor:
    """The DDPM loss on fixed images with t and noise drawn from `seed`: comparable across snapshots."""
    device = next(model.network.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    total = 0.0
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch].to(device)
        total += float(model.loss(xb, generator=gen)) * xb.shape[0]
    return torch.tensor(total / x.shape[0])


def train_subset_ddpm(cfg: MemorizationStudyConfig, n: int, base_channels: int, seed: int, *, test: torch.Tensor,
                      log=print, progress: bool = True) -> tuple[DDPM, dict, torch.Tensor]:
    """Train (or load) the DDPM of one (size, width, seed); returns (model, record, the subset).

    record["snapshots"][step] = {"samples": (n_samples, 1, 28, 28), "train_loss": (), "test_loss": ()}.
    `test` are the held-out images of the test loss (the first `cfg.n_loss` are used).
    """
    subset = training_subset(n, seed)
    schedule = NoiseSchedule.from_config(cfg.schedule_config())
    unet_cfg = cfg.unet(base_channels)
    loss_train = tile_to_batches(subset, cfg.n_loss)[:cfg.n_loss]
    loss_test = test[:cfg.n_loss]

    def build() -> DDPM:
        torch.manual_seed(seed)
        return DDPM(UNet(unet_cfg), schedule, clip_x0=1.0)

    def snapshot(model: DDPM) -> dict[str, torch.Tensor]:
        gen = torch.Generator(device=next(model.network.parameters()).device).manual_seed(seed + 777)
        samples = torch.cat([model.ddim_sample(min(500, cfg.n_samples - i), steps=cfg.sampler_steps, generator=gen)
                             for i in range(0, cfg.n_samples, 500)])
        return {"samples": samples, "train_loss": fixed_loss(model, loss_train, seed + 1),
                "test_loss": fixed_loss(model, loss_test, seed + 1)}

    key = {"unet": checkpoints.config_dict(unet_cfg), "schedule": checkpoints.config_dict(cfg.schedule_config()),
           "n": n, "snapshot": {"n_samples": cfg.n_samples, "sampler_steps": cfg.sampler_steps,
                                "n_loss": cfg.n_loss, "test": checkpoints.data_fingerprint(loss_test)}}
    model, record = train_diffusion(f"memorize-{n}", key, build, cfg.train_config(seed),
                                    tile_to_batches(subset, cfg.batch_size, EPOCH_STEPS * cfg.batch_size),
                                    snapshot=snapshot, log=log,
                                    progress=progress)
    return model, record, subset


def snapshot_rows(record: dict, subset: torch.Tensor, *, threshold: float, fid_reference=None,
                  **labels: Any) -> list[dict]:
    """One row per snapshot: step, memorized fraction, median d1/d2, losses and (if given) FID.

    fid_reference: `metrics.fid_stats` of as many test images as there are samples, or None.
    """
    from ..metrics import fid_from_stats

    rows = []
    for step, snap in sorted(record["snapshots"].items()):
        rep = memorization_report(snap["samples"], subset, threshold=threshold)
        rows.append({**labels, "step": int(step), "memorized": rep["fraction"],
                     "median_ratio": float(rep["ratio"].median()), "train_loss": float(snap["train_loss"]),
                     "test_loss": float(snap["test_loss"]),
                     "fid": fid_from_stats(fid_reference, snap["samples"]) if fid_reference is not None else np.nan})
    return rows


# Samples per batch of `final_samples`: on a 2-core CPU the U-Net samples ~1.5x faster per image in batches of
# 100 than of 500 (bench/sampling_speed.py); the batch is part of the cache key, as it changes the noise.
FID_BATCH = 100


def final_samples(model: DDPM, record: dict, cfg: MemorizationStudyConfig, seed: int, *, log=print) -> torch.Tensor:
    """(n_fid, 1, 28, 28) DDIM samples (cfg.sampler_steps, η = 0) of a trained model, cached by its weights."""
    from ..diffusion.study import model_key

    device = next(model.network.parameters()).device

    def compute(resume, save):
        gen = torch.Generator(device=device).manual_seed(seed + 888)
        x = torch.cat([model.ddim_sample(min(FID_BATCH, cfg.n_fid - i), steps=cfg.sampler_steps, generator=gen).cpu()
                       for i in range(0, cfg.n_fid, FID_BATCH)])
        return {"samples": x.float()}, cfg.n_fid, {}

    key = {"model": model_key(record), "n": cfg.n_fid, "sampler_steps": cfg.sampler_steps, "seed": seed,
           "batch": FID_BATCH}
    return checkpoints.train_or_load("memorize-samples", key, compute, log=log)["state"]["samples"]


def control_row(subset: torch.Tensor, test: torch.Tensor, n_samples: int, *, threshold: float, **labels) -> dict:
    """The test's false-positive floor: real test images (novel by construction) scored against the subset."""
    rep = memorization_report(test[:n_samples], subset, threshold=threshold)
    return {**labels, "memorized": rep["fraction"], "median_ratio": float(rep["ratio"].median())}


def run_memorization(cfg: MemorizationStudyConfig, *, log=print, progress: bool = True) -> dict:
    """Every (size, width) of `cfg.runs()` for every seed.

    Returns {"rows": snapshot rows (n, width, seed, step, memorized, median_ratio, train_loss, test_loss,
    fid at N = n_samples), "controls": control rows (n, seed, memorized, median_ratio), "fids": rows (n, width,
    seed, step, N, fid, fid_se) of the final models of the size sweep at N = n_fid, "last": {(n, width, seed):
    (samples at the last snapshot, their report)}, "records": {(n, width, seed): record}}.
    """
    from ..diffusion.study import fid_with_se
    from ..metrics import extract_features, fid_stats, load_fid_classifier

    device = resolve_device(cfg.device)
    test = torch.as_tensor(load_mnist("test", "symmetric").images, dtype=torch.float32)
    classifier = load_fid_classifier(device)
    reference = fid_stats(test[:cfg.n_samples].to(device), classifier=classifier)
    fid_reference = fid_stats(test[:cfg.n_fid].to(device), classifier=classifier)
    jobs = [(n, c, s) for n, c in cfg.runs() for s in cfg.seeds]
    out: dict[str, Any] = {"rows": [], "controls": [], "fids": [], "last": {}, "records": {}}
    for n, width, seed in progress_bar(jobs, enabled=progress, desc="memorization runs"):
        model, record, subset = train_subset_ddpm(cfg, n, width, seed, test=test, log=log, progress=False)
        out["rows"] += snapshot_rows(record, subset, threshold=cfg.threshold, fid_reference=reference,
                                     n=n, width=width, seed=seed)
        last = record["snapshots"][max(record["snapshots"])]["samples"]
        out["last"][n, width, seed] = (last, memorization_report(last, subset, threshold=cfg.threshold), subset)
        out["records"][n, width, seed] = record
        if width == cfg.base_channels:
            samples = final_samples(model, record, cfg, seed, log=log)
            features = extract_features(classifier, samples.to(device))
            fid, se = fid_with_se(fid_reference, features, n_boot=cfg.fid_bootstrap, seed=seed)
            out["fids"].append({"n": n, "width": width, "seed": seed, "step": cfg.steps, "N": cfg.n_fid,
                                "fid": fid, "fid_se": se})
            out["controls"].append(control_row(subset, test[cfg.n_loss:], cfg.n_samples, threshold=cfg.threshold,
                                               n=n, seed=seed))
    return out


def onset_step(steps: np.ndarray, fraction: np.ndarray, level: float = 0.5) -> float:
    """The first step at which `fraction` reaches `level`, interpolated linearly in log(step) between
    snapshots; NaN if it never does (the memorization time is then beyond the run)."""
    steps, fraction = np.asarray(steps, dtype=float), np.asarray(fraction, dtype=float)
    above = np.nonzero(fraction >= level)[0]
    if above.size == 0:
        return float("nan")
    i = int(above[0])
    if i == 0:
        return float(steps[0])
    f0, f1 = fraction[i - 1], fraction[i]
    w = (level - f0) / (f1 - f0)
    return float(np.exp(np.log(steps[i - 1]) + w * (np.log(steps[i]) - np.log(steps[i - 1]))))
