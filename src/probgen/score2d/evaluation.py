"""Estimates with their uncertainty, for the latent classifier-free-guidance runs of the score chapter.

- class accuracies are binomial proportions (`proportion_estimate`, the book's
  `probgen.stats.binomial_estimate` of a proportion k/n);
- FIDs get a bootstrap interval and standard error over the generated samples
  (`fid_bootstrap`; the reference statistics are held fixed), and `fid_estimate` turns one into an
  `Estimate`; `fid_of_samples` is the same FID without the resamples.

Comparisons between the two CFG settings are made over training runs, where these single-run errors
are not enough (`probgen.score2d.study.compare_over_runs`).
"""

from __future__ import annotations

import numpy as np

from ..metrics import bootstrap_fids
from ..stats import Estimate, binomial_estimate


def _count(p: float, n: int) -> int:
    """The number of successes behind a proportion p of n trials (p must be k/n for an integer k)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of trials")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p!r} is not a proportion in [0, 1]")
    k = round(p * n)
    if abs(k - p * n) > 1e-6 * n:
        raise ValueError(f"p={p!r} is not a whole number of successes out of n={n}")
    return int(k)


def proportion_estimate(p: float, n: int) -> Estimate:
    """A proportion p = k/n of n independent trials as an `Estimate` (`stats.binomial_estimate`: its standard
    error stays positive at 0/n and n/n)."""
    return binomial_estimate(_count(p, n), int(n))


def fid_bootstrap(features: np.ndarray, reference: tuple[np.ndarray, np.ndarray], *, n_boot: int,
                  generator: np.random.Generator, level: float = 0.95) -> dict:
    """FID of generated features against fixed reference statistics, with a bootstrap interval.

    The generated samples are resampled with replacement `n_boot` times and the FID recomputed.
    A resample repeats samples, which shrinks its covariance, so the replicates sit above the
    estimate: the interval is the central `level` range of the replicates shifted by their mean
    onto the FID of all samples (their spread, not their level). It measures how much the FID of
    this many samples moves from one draw of samples to the next, not the bias of the FID at
    finite N (compare only FIDs at the same N).

    The distances are those of `metrics.bootstrap_fids` (the "eigh" method of `metrics.frechet_distance`
    with the reference's square root computed once, on one thread), clamped at 0.

    Args:
        features: (N, d) features of the generated images (`metrics.extract_features`).
        reference: (mu (d,), sigma (d, d)) of the reference images (`metrics.fid_stats`).
        n_boot: number of bootstrap replicates (≥ 2).
        generator: the NumPy generator that draws the resamples.
        level: coverage of the interval, in (0, 1).
    Returns:
        {"fid": FID of all samples, "se": the replicates' standard deviation (the FID's bootstrap standard
        error), "low", "high": the interval, "replicates": (n_boot,) array}.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be (N, d) with N ≥ 2, not of shape {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features contain NaN or infinite values")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot={n_boot!r} must be an integer ≥ 2")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be in (0, 1)")
    n = features.shape[0]
    # one resample after another from `generator`; row 0 is the full set, so one call scores everything
    index = np.stack([np.arange(n)] + [generator.integers(0, n, n) for _ in range(n_boot)])  # (1 + B, N)
    fids = np.maximum(bootstrap_fids(reference, features, index), 0.0)
    fid, replicates = float(fids[0]), fids[1:]
    tail = (1 - level) / 2
    low, high = fid + np.quantile(replicates - replicates.mean(), [tail, 1 - tail])
    return {"fid": fid, "se": float(replicates.std(ddof=1)), "low": float(low), "high": float(high),
            "replicates": replicates}


def fid_of_samples(features: np.ndarray, reference: tuple[np.ndarray, np.ndarray]) -> float:
    """The FID of all generated features against fixed reference statistics: the "fid" of `fid_bootstrap`
    (the same distance, clamped at 0), without its resamples."""
    features = np.asarray(features, dtype=np.float64)
    return float(max(bootstrap_fids(reference, features, np.arange(len(features))[None])[0], 0.0))


def fid_estimate(result: dict) -> Estimate:
    """A `fid_bootstrap` result as an `Estimate` (the FID of all samples ± its bootstrap standard error)."""
    return Estimate(result["fid"], float(np.std(result["replicates"], ddof=1)))
