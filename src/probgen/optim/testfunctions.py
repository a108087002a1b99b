"""Objectives with a known optimum on [-1, 1]^dim, for checking the optimisers."""

from __future__ import annotations

import numpy as np


def neg_sphere(x, centre: float = 0.3) -> float:
    """-||x - centre||^2: smooth, maximum 0 at x = (centre, ..., centre)."""
    x = np.asarray(x, dtype=np.float64)
    return -float(np.sum((x - centre) ** 2))


def neg_rastrigin(x, centre: float = 0.3, scale: float = 5.12) -> float:
    """Negative Rastrigin function of scale * (x - centre): many local maxima, global maximum 0 at x = centre."""
    z = scale * (np.asarray(x, dtype=np.float64) - centre)
    return -float(10 * z.size + np.sum(z ** 2 - 10 * np.cos(2 * np.pi * z)))
