"""Small statistical estimates shared by the chapters' verdicts."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np


def wilson_interval(events: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion events/n, inside [0, 1].

    Unlike p ± z·se it is well defined at 0 and n events and never of zero width; z = 1.96 gives 95 %.
    """
    if not (isinstance(events, numbers.Integral) and isinstance(n, numbers.Integral)) or n < 1 or not 0 <= events <= n:
        raise ValueError(f"need integers 0 <= events <= n and n >= 1, got events={events!r}, n={n!r}")
    f = events / n
    centre = (f + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(f * (1 - f) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Estimate:
    """A measured value and its standard error (for an interval value ± z·se and for comparisons).

    An exact quantity (a count, a closed form) has se = 0.
    """

    value: float
    se: float = 0.0

    def __post_init__(self) -> None:
        value, se = float(self.value), float(self.se)
        if not (math.isfinite(value) and math.isfinite(se) and se >= 0):
            raise ValueError(f"an estimate needs a finite value and a finite se ≥ 0, got {self.value!r} ± {self.se!r}")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "se", se)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """The normal-approximation interval value ± z·se (z = 1.96: 95%)."""
        return self.value - z * self.se, self.value + z * self.se

    @classmethod
    def of_mean(cls, values) -> "Estimate":
        """The mean of independent draws with its standard error std/√n (n ≥ 2)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size < 2 or not np.all(np.isfinite(x)):
            raise ValueError(f"the mean's standard error needs at least 2 finite values, got {x.size}")
        return cls(float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)))


def binomial_estimate(correct: int, n: int) -> Estimate:
    """The fraction correct/n with the Agresti–Caffo standard error √(p̃(1 − p̃)/(n + 2)), p̃ = (correct + 1)/(n + 2).

    Adding one success and one failure keeps the error positive at 0/n and n/n (the plain √(p̂(1 − p̂)/n) is 0
    there), and makes the difference test of `Difference` hold its level for small n (Agresti & Caffo 2000).
    """
    if not (isinstance(n, numbers.Integral) and n >= 1 and isinstance(correct, numbers.Integral)
            and 0 <= correct <= n):
        raise ValueError(f"need integers 0 ≤ correct ≤ n, n ≥ 1; got correct={correct!r}, n={n!r}")
    p_adj = (correct + 1) / (n + 2)
    return Estimate(correct / n, math.sqrt(p_adj * (1 - p_adj) / (n + 2)))


def mean_over_runs(values, *, level: float = 0.95, floor: float = 0.0) -> Estimate:
    """The mean of a quantity measured once in each of S ≥ 2 independent runs (e.g. retrained models).

    With few runs their standard deviation s is itself uncertain, so the standard error is scaled such that
    value ± 1.96·se is Student's t interval of the mean at `level`: se = (t_{S−1} / z)·s/√S, with t_{S−1} and
    z the two-sided quantiles of Student's t with S − 1 degrees of freedom and of the normal.

    Args:
        values: (S,) one value per run.
        level: coverage of the interval value ± 1.96·se (0.95 for the book's 1.96).
        floor: a lower bound on the standard error known from elsewhere (the sampling noise of each run),
            which a small S can undershoot by chance.
    """
    from scipy.stats import norm, t

    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be in (0, 1)")
    if not (math.isfinite(floor) and floor >= 0):
        raise ValueError(f"floor={floor!r} must be a finite number ≥ 0")
    plain = Estimate.of_mean(values)  # checks S ≥ 2 finite values
    q = 0.5 + level / 2
    runs = np.asarray(values).size
    return Estimate(plain.value, max(plain.se * float(t.ppf(q, runs - 1) / norm.ppf(q)), floor))


def proportion_over_runs(correct, n: int, level: float = 0.95) -> Estimate:
    """The mean of a proportion measured in S ≥ 2 independent runs (e.g. retrained models), n trials each.

    One run's proportion varies for two reasons: the n trials (binomial) and the run itself (its training
    seed, or the floating-point path of another CPU). The spread of the S proportions measures both; the
    standard error is that of `mean_over_runs` (Student's t interval). A run's true variance is never below
    its binomial part, so the standard error is never below the binomial error of the pooled S·n trials
    (`binomial_estimate`), even when the S proportions happen to agree.

    Args:
        correct: (S,) number of successes of each run, integers in [0, n].
        n: trials per run.
        level: coverage of the interval value ± 1.96·se (0.95 for the book's 1.96).
    """
    k = np.asarray(correct)
    if k.ndim != 1 or k.size < 2 or not np.issubdtype(k.dtype, np.integer):
        raise ValueError(f"need the integer successes of at least 2 runs, got {correct!r}")
    if not (isinstance(n, numbers.Integral) and n >= 1) or k.min() < 0 or k.max() > n:
        raise ValueError(f"need 0 ≤ correct ≤ n for every run and n ≥ 1; got correct={correct!r}, n={n!r}")
    return mean_over_runs(k / n, level=level, floor=binomial_estimate(int(k.sum()), int(n * k.size)).se)


@dataclass(frozen=True)
class Difference:
    """a − b for two independent estimates, told apart when |a − b| > z·√(se_a² + se_b²)."""

    a: Estimate
    b: Estimate
    z: float = 1.96

    @property
    def value(self) -> float:
        return self.a.value - self.b.value

    @property
    def se(self) -> float:
        return math.hypot(self.a.se, self.b.se)

    @property
    def sign(self) -> int:
        """+1 if a is higher beyond the noise, −1 if lower, 0 if the two cannot be told apart."""
        if abs(self.value) <= self.z * self.se:
            return 0
        return 1 if self.value > 0 else -1
