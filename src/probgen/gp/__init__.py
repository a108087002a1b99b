"""Gaussian-process regression with noisy inputs: kernels, marginal likelihoods, fits and NUTS over Δ."""

from .data import SIGMA_X2, SIGMA_Y2, NoisyInputData, generate, load_part_b, true_df, true_f
from .fitting import PARAMS, VARIANTS, Fit, Variant, fit_gradient, fit_grid
from .kernels import SquaredExponential, central_difference, joint_f_df_covariance
from .nuts import delta_averaged_posterior_f, delta_model, run_chain, run_nuts
from .regression import (NotPositiveDefiniteError, log_marginal_likelihood, noisy_input_covariance,
                         noisy_input_log_marginal_likelihood, noisy_input_posterior_f, posterior_f,
                         sample_joint_f_df)

__all__ = [
    "SIGMA_X2", "SIGMA_Y2", "NoisyInputData", "generate", "load_part_b", "true_df", "true_f",
    "PARAMS", "VARIANTS", "Fit", "Variant", "fit_gradient", "fit_grid",
    "SquaredExponential", "central_difference", "joint_f_df_covariance",
    "delta_averaged_posterior_f", "delta_model", "run_chain", "run_nuts",
    "NotPositiveDefiniteError", "log_marginal_likelihood", "noisy_input_covariance",
    "noisy_input_log_marginal_likelihood", "noisy_input_posterior_f", "posterior_f", "sample_joint_f_df",
]
