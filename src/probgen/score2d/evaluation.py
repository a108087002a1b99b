"""Comparisons with their uncertainty, for the latent classifier-free-guidance runs of the score chapter.

A sentence that ranks two settings is computed here from the numbers and their
errors, so it reads correctly at every profile:

- class accuracies are binomial proportions: `binomial_se`, and `compare_proportions`
  for the difference of two independent ones (normal approximation, 95% by default);
- FIDs get a bootstrap interval over the generated samples (`fid_bootstrap`; the
  reference statistics are held fixed), and `compare_fid` ranks two of them by the
  bootstrap distribution of their difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..metrics import bootstrap_fids

Z_95 = 1.959963984540054  # the 97.5% quantile of N(0, 1)


@dataclass(frozen=True)
class Comparison:
    """The difference a − b of one quantity between two settings, its 95% interval, and the verdict as a sentence."""

    difference: float
    low: float
    high: float
    sentence: str

    @property
    def decided(self) -> bool:
        """True when the interval of the difference excludes zero."""
        return self.low > 0 or self.high < 0


def binomial_se(p: float, n: int) -> float:
    """Standard error √(p(1 − p)/n) of a proportion p measured on n independent trials."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of trials")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p!r} is not a proportion in [0, 1]")
    return math.sqrt(p * (1.0 - p) / n)


def compare_proportions(p_a: float, n_a: int, p_b: float, n_b: int, *, names: tuple[str, str],
                        what: str = "class accuracy", z: float = Z_95) -> Comparison:
    """Compare two independent proportions (e.g. class accuracies) by their difference ± z standard errors.

    The sentence says which is higher and by how many percentage points when the interval
    p_a − p_b ± z·√(SE_a² + SE_b²) excludes zero, and that they cannot be told apart otherwise.
    At p = 0 or 1 the binomial SE is 0; the interval then uses the SE of one success or failure
    in n (the "rule of one"), so a perfect score on few trials is not declared certain.

    Args:
        p_a, n_a: proportion and number of trials of setting a; p_b, n_b likewise.
        names: how the sentence names settings a and b.
        what: the quantity, as the sentence names it.
        z: half-width of the interval in standard errors (1.96: 95%).
    Returns:
        a `Comparison` of p_a − p_b in proportions (the sentence in percentage points).
    """
    if z <= 0:
        raise ValueError(f"z={z!r} must be positive")
    se = [max(binomial_se(p, n), binomial_se(1.0 / n, n)) for p, n in ((p_a, n_a), (p_b, n_b))]
    diff = p_a - p_b
    half = z * math.sqrt(se[0] ** 2 + se[1] ** 2)
    low, high = diff - half, diff + half
    pts = f"{100 * abs(diff):.1f} ± {100 * half:.1f} percentage points"
    if low > 0 or high < 0:
        better, worse = names if diff > 0 else names[::-1]
        sentence = f"{better} reach a higher {what} than {worse}, by {pts}"
    else:
        sentence = (f"the {what} of {names[0]} and of {names[1]} cannot be told apart "
                    f"(difference {100 * diff:+.1f} ± {100 * half:.1f} percentage points, N = {n_a} and {n_b})")
    return Comparison(diff, low, high, sentence)


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
        {"fid": FID of all samples, "low", "high": the interval, "replicates": (n_boot,) array}.
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
    return {"fid": fid, "low": float(low), "high": float(high), "replicates": replicates}


def compare_fid(a: dict, b: dict, *, names: tuple[str, str], level: float = 0.95) -> Comparison:
    """Rank two `fid_bootstrap` results by the bootstrap distribution of FID_a − FID_b (lower is better).

    The replicates of a and b come from independent resamples, so their pairwise differences
    are draws of the difference's bootstrap distribution; its central `level` range, shifted by
    its mean onto FID_a − FID_b as in `fid_bootstrap`, decides.
    """
    ra, rb = np.asarray(a["replicates"]), np.asarray(b["replicates"])
    if ra.shape != rb.shape:
        raise ValueError(f"both results need the same number of bootstrap replicates, not {ra.shape} and {rb.shape}")
    tail = (1 - level) / 2
    diff = a["fid"] - b["fid"]
    low, high = (float(v) for v in diff + np.quantile((ra - rb) - (ra - rb).mean(), [tail, 1 - tail]))
    if low > 0 or high < 0:
        better, worse = names if high < 0 else names[::-1]
        sentence = (f"{better} reach a lower FID than {worse}, by {abs(diff):.1f} "
                    f"({level:.0%} bootstrap interval {min(abs(low), abs(high)):.1f} to {max(abs(low), abs(high)):.1f})")
    else:
        sentence = (f"the FIDs of {names[0]} and of {names[1]} cannot be told apart "
                    f"(difference {diff:+.1f}, {level:.0%} bootstrap interval {low:+.1f} to {high:+.1f})")
    return Comparison(diff, low, high, sentence)
