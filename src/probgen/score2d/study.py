"""The experiments of the 2-D score-diffusion chapter, configured by profile.

The spiral part trains one score model per loss; the latent part reuses the
2-D VAE of the VAE-basics chapter (same config, so the same cached weights),
trains a score model on its codes, and a class-conditional one for
classifier-free guidance. Decoded digits are judged by the project's MNIST
classifier (`probgen.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..runtime import ConfigError, ProfileConfig
from .training import Score2DConfig

LOSS_NAMES = {"ism_exact": "implicit SM, exact divergence", "ism_hutchinson": "implicit SM, Hutchinson",
              "dsm": "denoising SM"}


@dataclass(frozen=True)
class SpiralStudyConfig(ProfileConfig):
    """Sizes of the score-diffusion chapter (one profile runs the whole experiment on a CPU)."""

    PROFILES = {
        "smoke": dict(K=250, steps=300, latent_steps=300, n_samples=500, n_per_class=10, classifier_epochs=1,
                      classifier_n_train=5_000, guidance_scales=(0.0, 7.5)),
        "quick": dict(steps=10_000, latent_steps=10_000, n_samples=2_000, n_per_class=100, classifier_epochs=2,
                      classifier_n_train=None, guidance_scales=(0.0, 1.0, 3.0, 7.5)),
        "full": dict(steps=30_000, latent_steps=30_000, n_samples=5_000, n_per_class=300, classifier_epochs=5,
                     classifier_n_train=None, guidance_scales=(0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0)),
    }

    beta_0: float = 0.001
    beta_1_first: float = 0.2  # the schedule as first stated in the exercise
    beta_1: float = 20.0  # the schedule used: the standard VP SDE
    K: int = 1000
    steps: int = 300  # optimiser steps per spiral score model
    latent_steps: int = 300  # optimiser steps per latent score model
    batch_size: int = 512
    lr: float = 1e-3
    hidden: int = 128
    n_samples: int = 500  # samples per sampler for the sample-quality numbers
    n_per_class: int = 10  # guided latent samples per digit and guidance scale
    guidance_scales: tuple = (0.0, 7.5)
    classifier_epochs: int = 1
    classifier_n_train: int | None = 5_000
    device: str = "cpu"

    def validate(self) -> None:
        for name in ("K", "steps", "latent_steps", "batch_size", "hidden", "n_samples", "n_per_class",
                     "classifier_epochs"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")
        if not (0 < self.beta_0 < self.beta_1_first and self.beta_0 < self.beta_1):
            raise ConfigError(f"need 0 < beta_0 < beta_1, got beta_0={self.beta_0}, beta_1={self.beta_1}")
        if any(w < 0 for w in self.guidance_scales):
            raise ConfigError(f"guidance_scales={self.guidance_scales!r} must be >= 0")

    def score_config(self, loss: str, *, steps: int | None = None, n_classes: int | None = None) -> Score2DConfig:
        return Score2DConfig(loss=loss, steps=steps or self.steps, batch_size=self.batch_size, lr=self.lr,
                             hidden=self.hidden, K=self.K, beta_0=self.beta_0, beta_1=self.beta_1,
                             n_classes=n_classes, seed=self.seed, device=self.device)


def latent_codes(vae_model, x: torch.Tensor) -> torch.Tensor:
    """Posterior means of the 2-D VAE for images x (N, 1, 28, 28), as float32 (N, 2)."""
    from ..vae import encode_dataset

    means, _ = encode_dataset(vae_model, x)
    return means.float()


@torch.no_grad()
def decode_for_classifier(vae_model, z: torch.Tensor) -> torch.Tensor:
    """Decoder means of latents z (N, 2), mapped from [0, 1] to the classifier's [−1, 1]."""
    p = next(vae_model.parameters())
    images = vae_model.decode(z.to(device=p.device, dtype=p.dtype)).cpu()
    return images * 2 - 1


def judge(classifier, images: torch.Tensor, intended: np.ndarray | None = None) -> dict:
    """Classifier verdicts on images in [−1, 1]: mean confidence (max probability), label entropy, accuracy."""
    from ..metrics import predict_proba

    proba = predict_proba(classifier, images).double().numpy()
    predicted = proba.argmax(1)
    counts = np.bincount(predicted, minlength=10) / len(predicted)
    nonzero = counts[counts > 0]
    out = {"confidence": float(proba.max(1).mean()), "label_entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()),
           "predicted": predicted}
    if intended is not None:
        out["accuracy"] = float((predicted == np.asarray(intended)).mean())
    return out
