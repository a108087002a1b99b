"""Variational autoencoders with Gaussian, mixture, flow and VampPrior priors (the VAE chapters)."""

from .aggregate import (
    PCAProjection,
    aggregate_posterior_samples,
    encode_dataset,
    grid_mass,
    highest_density_levels,
    image_grid,
    interpolate_codes,
    interpolate_latent,
    interpolate_pixels,
    interpolation_alphas,
    interpolation_rows,
    latent_traversal,
    log_prior_at,
    manifold_grid,
    plot_limits,
    plot_prior_vs_aggregate,
    prior_density_grid,
    prior_vs_aggregate_2d,
)
from .curves import plot_training_curves
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
    "PCAProjection", "aggregate_posterior_samples", "encode_dataset", "grid_mass", "highest_density_levels",
    "image_grid", "interpolate_codes", "interpolate_latent", "interpolate_pixels", "interpolation_alphas",
    "interpolation_rows", "latent_traversal", "log_prior_at", "manifold_grid", "plot_limits", "plot_prior_vs_aggregate",
    "prior_density_grid", "prior_vs_aggregate_2d", "plot_training_curves",
    "VAE", "gaussian_kl_to_standard",
    "BernoulliLikelihood", "ConvDecoder", "ConvEncoder", "GaussianLikelihood", "MLPDecoder", "MLPEncoder",
    "architecture_table",
    "AffineCoupling", "FlowPrior", "MixtureOfGaussiansPrior", "StandardGaussianPrior", "VampPrior",
    "VAETrainConfig", "build_vae", "evaluate", "train_vae",
]
