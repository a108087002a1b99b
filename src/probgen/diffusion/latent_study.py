"""The experiments of the latent-DDPM chapter, configured by profile.

For every β: a β-VAE with a Gaussian likelihood on MNIST in [−1, 1], then a
DDPM on its standardised latent codes (`LatentDDPM`). Every model is sampled
on the same device with the same batch size and scored with the same FID as
the pixel-space DDPM of the DDPM chapter, whose cached model and samples this
chapter reuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import checkpoints
from ..data import load_mnist
from ..nets.mlp import TimeMLP, TimeMLPConfig
from ..runtime import ConfigError, ProfileConfig, check_choice, resolve_device
from ..vae import VAETrainConfig, encode_dataset, train_vae
from .ddpm import DDPM
from .latent import LatentDDPM, LatentNormalizer
from .schedules import NoiseSchedule, ScheduleConfig
from .study import DDPMStudyConfig
from .training import TrainConfig, train_diffusion


@dataclass(frozen=True)
class LatentStudyConfig(ProfileConfig):
    """Every setting of the latent-DDPM chapter (the pixel DDPM comes from `DDPMStudyConfig` of the same profile)."""

    PROFILES = {
        "smoke": dict(n_train=1000, betas=(1e-6, 1.0), vae_epochs=1, latent_epochs=2, latent_hidden=64, T=100,
                      n_fid_large=200, sample_batch=100),
        "quick": dict(n_train=None, vae_epochs=10, latent_epochs=30, n_fid_large=2000, sample_batch=500),
        "full": dict(n_train=None, vae_epochs=50, latent_epochs=200, latent_hidden=1024, n_fid_large=10_000,
                     sample_batch=2000),
    }

    n_train: int | None = None  # first n of the 60 000 training images
    betas: tuple[float, ...] = (1e-6, 1e-4, 1e-2, 1.0)
    # the β-VAE: MLP 784-512-512-D, Gaussian likelihood with fixed std on pixels in [−1, 1]
    latent_dim: int = 16
    vae_hidden: tuple[int, ...] = (512, 512)
    likelihood_std: float = 1.0
    vae_epochs: int = 10
    vae_batch_size: int = 128
    vae_lr: float = 1e-3
    # the latent DDPM: TimeMLP on D-dimensional codes
    latent_hidden: int = 512
    latent_layers: int = 4
    T: int = 1000
    latent_epochs: int = 30
    latent_batch_size: int = 256
    latent_lr: float = 1e-3
    latent_ema_decay: float = 0.999
    # evaluation: rows are compared at the pixel DDPM's N; latent models also at n_fid_large
    n_fid_large: int = 2000
    sample_batch: int = 500
    device: str = "auto"

    def validate(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "vae_hidden", tuple(int(h) for h in self.vae_hidden))
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        if not self.betas or min(self.betas) < 0:
            raise ConfigError(f"betas={self.betas!r} must be a non-empty tuple of non-negative numbers")
        for name in ("latent_dim", "vae_epochs", "latent_epochs", "latent_hidden", "latent_layers", "T",
                     "n_fid_large", "sample_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a positive integer")

    def ddpm_config(self) -> DDPMStudyConfig:
        """The pixel-space DDPM this chapter compares against (the DDPM chapter's model, same profile)."""
        return DDPMStudyConfig.for_profile(self.profile, seed=self.seed, device=self.device)

    def vae_config(self, beta: float) -> VAETrainConfig:
        return VAETrainConfig(latent_dim=self.latent_dim, hidden=self.vae_hidden, epochs=self.vae_epochs,
                              batch_size=self.vae_batch_size, lr=self.vae_lr, seed=self.seed, n_train=self.n_train,
                              view="symmetric", likelihood="gaussian", likelihood_std=self.likelihood_std, beta=beta,
                              device=self.device)

    def latent_network(self) -> TimeMLPConfig:
        return TimeMLPConfig(dim=self.latent_dim, hidden=self.latent_hidden, layers=self.latent_layers, time_dim=64)

    def schedule(self) -> NoiseSchedule:
        """Linear β from 1e-4 to 0.02 at T = 1000 (scaled by 1000/T otherwise), as the pixel DDPM."""
        return NoiseSchedule.from_config(ScheduleConfig.reference(self.T))


def load_images(cfg: LatentStudyConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training images (first n_train of 60 000), their labels, and the 10 000 test images; [−1, 1], float32."""
    train = load_mnist("trainval", "symmetric", limit=cfg.n_train)
    test = load_mnist("test", "symmetric")
    return (torch.as_tensor(train.images, dtype=torch.float32), torch.as_tensor(train.labels).long(),
            torch.as_tensor(test.images, dtype=torch.float32))


def train_beta_vae(cfg: LatentStudyConfig, beta: float, train_x: torch.Tensor, test_x: torch.Tensor, *,
                   log=print, progress: bool = True):
    """The β-VAE for one β (cached); returns (VAE in eval mode, history). Validation is on the test images."""
    return train_vae(cfg.vae_config(beta), train_x=train_x, val_x=test_x, log=log, progress=progress)


def train_latent_ddpm(cfg: LatentStudyConfig, vae, train_x: torch.Tensor, *, log=print,
                      progress: bool = True) -> tuple[LatentDDPM, dict]:
    """A DDPM on the standardised posterior means of `train_x` under `vae` (cached under the codes' fingerprint)."""
    codes, _ = encode_dataset(vae, train_x)
    normalizer = LatentNormalizer.fit(codes)
    data = normalizer.normalize(codes.double()).float()
    net_cfg = cfg.latent_network()
    schedule = cfg.schedule()

    def build() -> DDPM:
        torch.manual_seed(cfg.seed)
        return DDPM(TimeMLP(net_cfg), schedule)

    train_cfg = TrainConfig(epochs=cfg.latent_epochs, batch_size=cfg.latent_batch_size, lr=cfg.latent_lr,
                            ema_decay=cfg.latent_ema_decay, seed=cfg.seed, device=cfg.device)
    key = {"net": checkpoints.config_dict(net_cfg), "T": cfg.T}
    ddpm, record = train_diffusion("latent-ddpm", key, build, train_cfg, data, log=log, progress=progress)
    vae.to(resolve_device(cfg.device))
    return LatentDDPM(ddpm, vae, normalizer), record


__all__ = ["LatentStudyConfig", "load_images", "train_beta_vae", "train_latent_ddpm"]
