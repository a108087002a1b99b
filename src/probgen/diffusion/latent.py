"""Latent DDPM: the same DDPM code on a VAE's latent codes, sampled and decoded through the VAE.

Codes are the posterior means of the training images, standardised per
dimension with the training set's mean and standard deviation, so the DDPM
sees data of unit scale whatever β did to the latent space; sampling undoes
the standardisation and decodes with the VAE's decoder mean.
"""

from __future__ import annotations

import torch

from ..runtime import param_like
from .ddpm import DDPM


class LatentNormalizer:
    """Per-dimension standardisation z ↦ (z − mean) / std with statistics of the training codes (N, D)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        if mean.shape != std.shape or mean.ndim != 1:
            raise ValueError(f"mean and std must both be (D,), got {tuple(mean.shape)} and {tuple(std.shape)}")
        if not torch.all(std > 0):
            raise ValueError("every latent dimension needs a positive std; a dimension that is constant over the "
                             "training codes carries no information: drop it or lower β")
        self.mean = mean.double()
        self.std = std.double()

    @classmethod
    def fit(cls, codes: torch.Tensor, floor: float = 1e-6) -> "LatentNormalizer":
        """Mean and std of (N, D) codes; stds below `floor` (collapsed dimensions) are raised to it."""
        if codes.ndim != 2 or codes.shape[0] < 2:
            raise ValueError(f"codes must be (N, D) with N ≥ 2, not {tuple(codes.shape)}")
        c = codes.double()
        return cls(c.mean(0), c.std(0).clamp(min=floor))

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return ((z.double() - self.mean.to(z.device)) / self.std.to(z.device)).to(z.dtype)

    def denormalize(self, u: torch.Tensor) -> torch.Tensor:
        return (u.double() * self.std.to(u.device) + self.mean.to(u.device)).to(u.dtype)

    def state_dict(self) -> dict:
        return {"mean": self.mean.clone(), "std": self.std.clone()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "LatentNormalizer":
        return cls(state["mean"], state["std"])


class LatentDDPM:
    """A DDPM on standardised VAE codes plus the VAE that encodes and decodes them.

    Args:
        ddpm: a `DDPM` whose network takes (B, D) codes (e.g. `probgen.nets.TimeMLP(dim=D)`).
        vae: a trained `probgen.vae.VAE` with a D-dimensional latent.
        normalizer: the statistics of the training codes.
    """

    def __init__(self, ddpm: DDPM, vae, normalizer: LatentNormalizer):
        self.ddpm = ddpm
        self.vae = vae
        self.normalizer = normalizer

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised posterior means (B, D) of images x (B, C, H, W)."""
        mean, _ = self.vae.encode(x.to(**param_like(self.vae)))
        return self.normalizer.normalize(mean)

    @torch.no_grad()
    def decode(self, u: torch.Tensor) -> torch.Tensor:
        """Decoder means (B, C, H, W) of standardised codes u (B, D)."""
        return self.vae.decode(self.normalizer.denormalize(u).to(**param_like(self.vae)))

    @torch.no_grad()
    def sample_latents(self, n: int, *, steps: int | None = None, eta: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """n standardised codes: ancestral sampling (steps None) or DDIM with `steps` and `eta`."""
        dim = self.normalizer.mean.numel()
        if steps is None:
            return self.ddpm.sample((n, dim), generator=generator)
        return self.ddpm.ddim_sample((n, dim), steps=steps, eta=eta, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, steps: int | None = None, eta: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n decoded samples (n, C, H, W); see `sample_latents`."""
        return self.decode(self.sample_latents(n, steps=steps, eta=eta, generator=generator))
