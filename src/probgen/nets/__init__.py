"""Neural networks shared by the book's generative models."""

from .mlp import TimeMLP, TimeMLPConfig
from .unet import NULL_LABEL, UNet, UNetConfig, sinusoidal_embedding, unet_summary

__all__ = ["NULL_LABEL", "TimeMLP", "TimeMLPConfig", "UNet", "UNetConfig", "sinusoidal_embedding", "unet_summary"]
