"""Diffusion models: discrete DDPM/DDIM with guidance, continuous-time score SDEs, and one resumable trainer."""

from .ddpm import DDPM
from .latent import LatentDDPM, LatentNormalizer
from .schedules import NoiseSchedule, ScheduleConfig, gather
from .sde import (
    SDE,
    VESDE,
    VPSDE,
    ScoreSDE,
    SDESample,
    SubVPSDE,
    bits_per_dim,
    encode,
    euler_maruyama,
    log_likelihood,
    predictor_corrector,
    probability_flow,
    tweedie_denoise,
)
from .training import EMA, TrainConfig, train_diffusion

__all__ = [
    "DDPM", "LatentDDPM", "LatentNormalizer", "NoiseSchedule", "ScheduleConfig", "gather",
    "SDE", "VESDE", "VPSDE", "ScoreSDE", "SDESample", "SubVPSDE", "bits_per_dim", "encode", "euler_maruyama",
    "log_likelihood", "predictor_corrector", "probability_flow", "tweedie_denoise",
    "EMA", "TrainConfig", "train_diffusion",
]
