"""probgen: deep generative models and probabilistic machine learning, as a reproducible report."""

__version__ = "0.1.0"
