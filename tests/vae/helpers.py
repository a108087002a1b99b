"""Tiny models and data shared by the VAE tests (seconds on CPU)."""

import torch

from probgen.vae import (
    VAE,
    ConvDecoder,
    ConvEncoder,
    FlowPrior,
    MixtureOfGaussiansPrior,
    MLPDecoder,
    MLPEncoder,
    StandardGaussianPrior,
    VampPrior,
)

PRIOR_NAMES = ("gaussian", "mog", "flow", "vamp")


def make_prior(name, dim, encoder=None, input_shape=(1, 28, 28)):
    if name == "gaussian":
        return StandardGaussianPrior(dim)
    if name == "mog":
        return MixtureOfGaussiansPrior(dim, 3)
    if name == "flow":
        return FlowPrior(dim, n_layers=4, hidden=16)
    return VampPrior(dim, 5, encoder, input_shape)


def tiny_vae(prior="gaussian", nets="mlp", latent_dim=3, seed=0, **kwargs) -> VAE:
    torch.manual_seed(seed)
    if nets == "mlp":
        enc = MLPEncoder(latent_dim=latent_dim, hidden=(16,))
        dec = MLPDecoder(latent_dim=latent_dim, hidden=(16,))
    else:
        enc = ConvEncoder(latent_dim=latent_dim, channels=(4, 8), hidden=(16,))
        dec = ConvDecoder(latent_dim=latent_dim, channels=(4, 8), hidden=(16,))
    return VAE(enc, dec, make_prior(prior, latent_dim, enc), **kwargs)


def binary_images(n, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < p).float()
