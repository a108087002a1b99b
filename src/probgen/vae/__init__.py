"""Variational autoencoders with Gaussian, mixture, flow and VampPrior priors (the VAE chapters)."""

from .aggregate import (
    PCAProjection,
    aggregate_posterior_samples,
    encode_dataset,
    image_grid,
    interpolate_latent,
    interpolate_pixels,
    latent_traversal,
    manifold_grid,
    plot_prior_vs_aggregate,
)
from .model import VAE, gaussian_kl_to_standard
from .nets import (
    BernoulliLikelihood,
    ConvDecoder,
    ConvEncoder,
    GaussianLikelihood,
    MLPDecoder,
    MLPEncoder,
    architecture_table,
)
from .priors import AffineCoupling, FlowPrior, MixtureOfGaussiansPrior, StandardGaussianPrior, VampPrior
from .training import VAETrainConfig, build_vae, evaluate, train_vae

__all__ = [
    "PCAProjection", "aggregate_posterior_samples", "encode_dataset", "image_grid", "interpolate_latent",
    "interpolate_pixels", "latent_traversal", "manifold_grid", "plot_prior_vs_aggregate",
    "VAE", "gaussian_kl_to_standard",
    "BernoulliLikelihood", "ConvDecoder", "ConvEncoder", "GaussianLikelihood", "MLPDecoder", "MLPEncoder",
    "architecture_table",
    "AffineCoupling", "FlowPrior", "MixtureOfGaussiansPrior", "StandardGaussianPrior", "VampPrior",
    "VAETrainConfig", "build_vae", "evaluate", "train_vae",
]
