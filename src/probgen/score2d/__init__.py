"""Score-based diffusion in 2-D (exercise 7): the spiral mixture, its exact diffused scores, learned scores.

- `spiral`: the data, `SpiralMixture`, with exact `log_prob`.
- `forward`: the discretised VP process `VPSchedule`, the exact marginals `DiffusedMixture`
  (`log_prob_k`, `score_k`) and `reverse_sample` with any score function (`no_score` removes it).
- `nets`: `ScoreMLP` / `ConditionalScoreMLP` networks, `ScoreModel` (a network as a score on the
  schedule's steps) and `guided_score` (classifier-free guidance).
- `losses`: implicit score matching (exact and Hutchinson divergence) and denoising score matching.
- `training`: `Score2DConfig` and `train_score_model` (train-or-load, resumable).
- `metrics`: `mean_nll`, `energy_distance`, `mmd_rbf`, `score_error_grid`, `on_spiral_fraction`, and
  `nll_estimate` / `energy_distance_estimate` with their standard errors.
- `evaluation`: estimates with their uncertainty (`proportion_estimate`, `fid_bootstrap`, `fid_estimate`,
  `fid_of_samples`), for the latent guidance runs.
- `study`: the chapter's configuration, experiments and verdict sentences.
"""

from .evaluation import fid_bootstrap, fid_estimate, fid_of_samples, proportion_estimate
from .forward import DiffusedMixture, VPSchedule, no_score, per_sample, reverse_sample
from .losses import (LOSSES, divergence_exact, divergence_hutchinson, dsm_loss, ism_exact_loss, ism_hutchinson_loss,
                     sample_steps)
from .metrics import (energy_distance, energy_distance_estimate, grid_points, mean_nll, mmd_rbf, nll_estimate,
                      on_spiral_fraction, score_error_grid)
from .nets import ConditionalScoreMLP, ScoreMLP, ScoreModel, guided_score, sinusoidal_embedding
from .spiral import SpiralMixture, gaussian_mixture_log_prob, gaussian_mixture_score
from .training import Score2DConfig, build_score_model, train_score_model

__all__ = [
    "fid_bootstrap", "fid_estimate", "fid_of_samples", "proportion_estimate",
    "energy_distance_estimate", "nll_estimate", "on_spiral_fraction",
    "ConditionalScoreMLP", "DiffusedMixture", "LOSSES", "Score2DConfig", "ScoreMLP", "ScoreModel", "SpiralMixture",
    "VPSchedule", "build_score_model", "divergence_exact", "divergence_hutchinson", "dsm_loss", "energy_distance",
    "gaussian_mixture_log_prob", "gaussian_mixture_score", "grid_points", "guided_score", "ism_exact_loss",
    "ism_hutchinson_loss", "mean_nll", "mmd_rbf", "no_score", "per_sample", "reverse_sample", "sample_steps",
    "score_error_grid", "sinusoidal_embedding", "train_score_model",
]
