"""Parametric 2-D data sets with exact densities, each built from one difficulty number d in [0, 1].

A sweep is `[family(d) for d in grid]`, `family` one of `FAMILIES`:

- `ring_mixture(d)`: K equal Gaussians on a ring; the component std falls from 0.5 to 0.01 mode
  spacings (overlapping blobs → tiny, well-separated dots).
- `imbalanced_ring(d)`: K well-separated Gaussians on a ring (std 0.1 spacings) whose weights form a
  geometric ladder; the smallest weight falls from 1/K to 1e-3 (the "rare mode dropped" failure).
- `noisy_circle(d)`: a circle blurred by isotropic Gaussian noise whose std falls from 0.25 to
  0.0025 radii (a thin curved manifold); its "modes" are K equal angular sectors.
- `checkerboard(d)`: 8 uniform squares on the black cells of a 4×4 checkerboard whose side falls
  from the whole cell to 0.1 cell (disjoint support, `log_prob` = −inf outside the squares).

All data sets are scaled so that the average per-coordinate variance is about 1 (exactly 1 for the
equal-weight ones). Every set is a `Toy2D`: `sample`, exact `log_prob`, `assign` (which mode a point
belongs to, −1 when it belongs to none), the true `mode_weights`, and `describe()`.

The metrics `mode_coverage`, `empirical_mode_masses`, `mode_mass_error`, `mean_nll` and
`sample_metrics` compare samples of a model with the truth; the two-sample distances are those of
`probgen.score2d.metrics` (`energy_distance`, `mmd_rbf`). All tensors here are float64 on the CPU
unless the inputs live elsewhere; `log_prob` and `assign` accept points on any device.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable, Sequence

import torch

from ..runtime import ConfigError
from ..score2d.metrics import energy_distance, mmd_rbf

_LOG_2PI = math.log(2 * math.pi)


def check_difficulty(d: float) -> float:
    """Return `d` as a float if it is a finite number in [0, 1], else raise `ConfigError`."""
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not math.isfinite(d) or not 0.0 <= d <= 1.0:
        raise ConfigError(f"difficulty d={d!r} must be a finite number in [0, 1] (0 easy, 1 hard)")
    return float(d)


def log_interp(easy: float, hard: float, d: float) -> float:
    """The value a fraction d of the way from `easy` to `hard` on a log scale: easy·(hard/easy)^d."""
    return easy * (hard / easy) ** d


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}={value!r} must be an integer >= {low}")
    return value


def _check_points(x: torch.Tensor) -> torch.Tensor:
    """(N, 2) float64 points, or a `ValueError` that says which shape was given."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"expected points of shape (N, 2), got {tuple(x.shape)}; reshape with x.reshape(-1, 2)")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"expected real-valued points, got dtype {x.dtype}")
    return x.to(torch.float64)


class Toy2D(ABC):
    """A 2-D distribution with exact density and a partition of the plane into modes.

    Attributes:
        name: the family name (a key of `FAMILIES`).
        difficulty: the d in [0, 1] it was built from.
        length_scale: the smallest physical length (component std, ring width, square side);
            a grid or histogram must resolve it to show the density.
        bound: half-width L of a box [−L, L]² holding all but a negligible (< 1e-6) part of the mass.
    """

    name: str
    difficulty: float
    length_scale: float
    bound: float

    @property
    @abstractmethod
    def mode_weights(self) -> torch.Tensor:
        """(K,) float64 true masses of the modes; they sum to 1."""

    @property
    def n_modes(self) -> int:
        """K, the number of modes that `assign` can return."""
        return int(self.mode_weights.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 2) float64 samples; the same seeded CPU `generator` gives the same samples."""
        return self.sample_labelled(n, generator)[0]

    @abstractmethod
    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """((n, 2) float64 samples, (n,) long generating mode of each), e.g. to colour a scatter plot.

        The label is the component (square) drawn, or for `NoisyCircle` the sector of the circle
        point before the noise; `assign` of the sample agrees with it when the modes are well separated.
        """

    @abstractmethod
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) float64 exact log-density of (N, 2) points (−inf off the support, if it has an edge)."""

    @abstractmethod
    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) long: the mode in 0..K−1 each of the (N, 2) points belongs to, or −1 for none."""

    @abstractmethod
    def params(self) -> dict:
        """The physical parameters the difficulty was mapped to."""

    def describe(self) -> str:
        """One line: family, difficulty, number of modes and physical parameters."""
        p = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params().items())
        return f"{self.name}(d={self.difficulty:.3g}): {self.n_modes} modes; {p}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    def _check_n(self, n: int) -> int:
        return _check_int("n", n, 0)


def _draw(weights: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) component indices drawn with probabilities `weights`."""
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    return torch.multinomial(weights, n, replacement=True, generator=generator)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class GaussianMixture2D(Toy2D):
    """Σ_k w_k N(μ_k, σ² I): K isotropic components with one common std σ.

    `assign` rule: a point goes to its highest-responsibility component k* = argmax_k
    (log w_k − ‖x − μ_k‖² / 2σ²) (ties: the lowest index), unless it is farther than `far`·σ from
    μ_{k*} (or not finite): then −1. Under the truth a fraction exp(−far²/2) of each component
    (3.4e-4 for far = 4) lies beyond that radius.
    """

    def __init__(self, name: str, difficulty: float, centres: torch.Tensor, weights: torch.Tensor, std: float,
                 far: float = 4.0, extra: dict | None = None) -> None:
        if not std > 0:
            raise ConfigError(f"std={std!r} must be positive")
        if not far > 0:
            raise ConfigError(f"far={far!r} must be positive (a radius in units of the component std)")
        self.name = name
        self.difficulty = difficulty
        self.centres = centres.to(torch.float64)  # (K, 2)
        self._weights = weights.to(torch.float64)  # (K,)
        self.std = float(std)
        self.far = float(far)
        self.length_scale = self.std
        self.bound = float(self.centres.abs().max()) + 6 * self.std
        self._extra = dict(extra or {})

    @property
    def mode_weights(self) -> torch.Tensor:
        return self._weights.clone()

    def params(self) -> dict:
        return {**self._extra, "std": self.std, "far": self.far}

    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 2) samples (a component drawn with the weights, plus N(0, σ² I) noise) and (n,) components."""
        idx = _draw(self._weights, self._check_n(n), generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return self.centres[idx] + self.std * noise, idx

    def _log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K) log w_k + log N(x; μ_k, σ² I)."""
        c = self.centres.to(x.device)
        sq = ((x[:, None, :] - c) ** 2).sum(-1)  # exact differences, no cancellation
        return torch.log(self._weights.to(x.device)) - 0.5 * sq / self.std ** 2 - _LOG_2PI - 2 * math.log(self.std)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) log Σ_k w_k N(x; μ_k, σ² I) of (N, 2) points."""
        x = _check_points(x)
        return torch.logsumexp(self._log_joint(x), dim=1)

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) highest-responsibility component, −1 beyond `far`·σ of it or for non-finite points."""
        x = _check_points(x)
        k = torch.argmax(torch.nan_to_num(self._log_joint(x), nan=-math.inf), dim=1)
        dist = (x - self.centres.to(x.device)[k]).norm(dim=1)
        ok = torch.isfinite(x).all(dim=1) & (dist <= self.far * self.std)
        return torch.where(ok, k, torch.full_like(k, -1))


class NoisyCircle(Toy2D):
    """A uniform point on the circle of radius R plus N(0, σ² I) noise.

    Exact density (integrate the Gaussian over the angle θ of the circle point; r = ‖x‖):
        p(x) = (1 / 2π) ∫ N(x; R(cos θ, sin θ), σ² I) dθ
             = exp(−(r² + R²) / 2σ²) I₀(rR / σ²) / (2πσ²),
    I₀ the modified Bessel function. With I₀(z) = i0e(z) e^z (the scaled, overflow-free Bessel),
        log p(x) = −log(2πσ²) − (r − R)² / 2σ² + log i0e(rR / σ²).
    This is finite and smooth everywhere, the origin included (I₀(0) = 1): unlike a noise added to
    the radius alone, whose density p(r) / 2πr has a 1/r singularity at r → 0, nothing needs special
    handling. The radius follows a Rice distribution (≈ N(R, σ²) for σ ≪ R).

    Modes: K equal angular sectors [2πk/K, 2π(k+1)/K). `assign` gives the sector of a point's angle
    when |r − R| ≤ `far`·σ, else −1 (and −1 for non-finite points), so covering only part of the
    circle shows up as missing modes. The true sector masses are exactly 1/K (rotation symmetry),
    minus the small mass outside the band.
    """

    def __init__(self, name: str, difficulty: float, radius: float, std: float, n_sectors: int = 8,
                 far: float = 4.0) -> None:
        if not radius > 0 or not std > 0:
            raise ConfigError(f"radius={radius!r} and std={std!r} must be positive")
        if not far > 0:
            raise ConfigError(f"far={far!r} must be positive (a band half-width in units of the std)")
        self.name = name
        self.difficulty = difficulty
        self.radius = float(radius)
        self.std = float(std)
        self.n_sectors = _check_int("n_sectors", n_sectors, 1)
        self.far = float(far)
        self.length_scale = self.std
        self.bound = self.radius + 6 * self.std

    @property
    def mode_weights(self) -> torch.Tensor:
        return torch.full((self.n_sectors,), 1.0 / self.n_sectors, dtype=torch.float64)

    def params(self) -> dict:
        return {"radius": self.radius, "std": self.std, "std/radius": self.std / self.radius, "far": self.far}

    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n = self._check_n(n)
        theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x = self.radius * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1) + self.std * noise
        sector = torch.clamp((theta / (2 * math.pi / self.n_sectors)).floor().long(), 0, self.n_sectors - 1)
        return x, sector

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_points(x)
        r = x.norm(dim=1)
        var = self.std ** 2
        return (-_LOG_2PI - math.log(var) - 0.5 * (r - self.radius) ** 2 / var
                + torch.log(torch.special.i0e(r * self.radius / var)))

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_points(x)
        r = x.norm(dim=1)
        angle = torch.remainder(torch.atan2(x[:, 1], x[:, 0]), 2 * math.pi)
        k = torch.clamp((angle / (2 * math.pi / self.n_sectors)).floor().long(), 0, self.n_sectors - 1)
        ok = torch.isfinite(x).all(dim=1) & ((r - self.radius).abs() <= self.far * self.std)
        return torch.where(ok, k, torch.full_like(k, -1))


class SquareMixture(Toy2D):
    """Σ_k w_k Uniform([a_k, a_k + s) × [b_k, b_k + s)): K disjoint squares of side s.

    The density is w_k / s² on square k and 0 elsewhere, so `log_prob` is −inf off the support
    (metrics must not average it: `mean_nll` reports that fraction separately). Squares are
    half-open, so every point belongs to at most one. `assign` gives the square containing a point,
    −1 if none (no tolerance: a sample just off an edge is off the support).
    """

    def __init__(self, name: str, difficulty: float, corners: torch.Tensor, side: float, weights: torch.Tensor,
                 extra: dict | None = None) -> None:
        if not side > 0:
            raise ConfigError(f"side={side!r} must be positive")
        self.name = name
        self.difficulty = difficulty
        self.corners = corners.to(torch.float64)  # (K, 2) lower-left corners
        self.side = float(side)
        self._weights = weights.to(torch.float64)
        self.length_scale = self.side
        self.bound = float(torch.cat([self.corners, self.corners + self.side]).abs().max())
        self._extra = dict(extra or {})

    @property
    def mode_weights(self) -> torch.Tensor:
        return self._weights.clone()

    def params(self) -> dict:
        return {**self._extra, "side": self.side}

    def sample_labelled(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        idx = _draw(self._weights, self._check_n(n), generator)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        return self.corners[idx] + self.side * u, idx

    def assign(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_points(x)
        lo = self.corners.to(x.device)
        inside = ((x[:, None, :] >= lo) & (x[:, None, :] < lo + self.side)).all(-1)  # (N, K)
        k = torch.argmax(inside.to(torch.int8), dim=1)
        return torch.where(inside.any(dim=1), k, torch.full_like(k, -1))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        k = self.assign(x)
        logw = torch.log(self._weights.to(k.device)) - 2 * math.log(self.side)
        return torch.where(k >= 0, logw[k.clamp(min=0)], torch.full(k.shape, -math.inf, dtype=torch.float64,
                                                                       device=k.device))


# --------------------------------------------------------------------------------------------------
# Families: one difficulty number → physical parameters


def _ring(n_modes: int) -> torch.Tensor:
    """(K, 2) points on the unit circle at angles 2πk/K."""
    a = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return torch.stack([torch.cos(a), torch.sin(a)], dim=1)


def _unit_scale(centres: torch.Tensor, weights: torch.Tensor, within_var: float) -> float:
    """The factor c such that c·(data) has average per-coordinate variance 1.

    `within_var` is each component's per-coordinate variance (σ² or s²/12).
    """
    mean = weights @ centres
    trace = float(weights @ ((centres - mean) ** 2).sum(1)) + 2 * within_var
    return math.sqrt(2.0 / trace)


def ring_mixture(d: float, n_modes: int = 8, far: float = 4.0) -> GaussianMixture2D:
    """K equal-weight Gaussians on a ring; the component std shrinks with d.

    σ / spacing = 0.5 · (0.01 / 0.5)^d (0.5 at d = 0, 0.07 at d = 0.5, 0.01 at d = 1), spacing
    = 2R sin(π/K) the distance of neighbouring centres. The ring radius R is then chosen so that the
    per-coordinate variance R²/2 + σ² is 1 (R = 1.24 at d = 0 → 1.41 at d = 1 for K = 8).
    At d = 0 neighbouring modes overlap (one fuzzy ring); from d ≈ 0.3 on they are well separated.
    """
    d = check_difficulty(d)
    _check_int("n_modes", n_modes, 2)
    rel = log_interp(0.5, 0.01, d)
    unit = _ring(n_modes)
    w = torch.full((n_modes,), 1.0 / n_modes, dtype=torch.float64)
    std = rel * 2 * math.sin(math.pi / n_modes)
    c = _unit_scale(unit, w, std ** 2)
    return GaussianMixture2D("ring", d, c * unit, w, c * std, far=far,
                             extra={"radius": c, "std/spacing": rel})


def imbalanced_weights(n_modes: int, min_weight: float) -> torch.Tensor:
    """(K,) weights w_k ∝ ρ^{k/(K−1)} (a geometric ladder, w_0 largest) whose smallest is `min_weight`."""
    _check_int("n_modes", n_modes, 2)
    if not 0 < min_weight <= 1.0 / n_modes:
        raise ConfigError(f"min_weight={min_weight!r} must be in (0, 1/n_modes = {1.0 / n_modes:.4g}]")
    e = torch.arange(n_modes, dtype=torch.float64) / (n_modes - 1)

    def smallest(log_rho: float) -> float:
        w = torch.exp(log_rho * e)
        return float(w[-1] / w.sum())

    lo, hi = -80.0, 0.0  # smallest(hi) = 1/K >= min_weight >= smallest(lo); smallest grows with log ρ
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if smallest(mid) < min_weight else (lo, mid)
    w = torch.exp(0.5 * (lo + hi) * e)
    return w / w.sum()


def imbalanced_ring(d: float, n_modes: int = 8, min_weight: float = 1e-3, rel_std: float = 0.1,
                    far: float = 4.0) -> GaussianMixture2D:
    """K well-separated Gaussians on a ring with a geometric ladder of weights.

    The smallest weight is (1/K)·(K·min_weight)^d: 1/K (balanced) at d = 0, `min_weight` (1e-3) at
    d = 1, ≈ 0.011 at d = 0.5 for K = 8; the weights go down geometrically around the ring from mode
    0 (heaviest) to mode K−1 (rarest). Geometry is fixed across d: σ = `rel_std`·spacing (0.1: every
    mode is 5σ from the mid-point to its neighbours), radius such that the balanced ring has unit
    per-coordinate variance.
    """
    d = check_difficulty(d)
    _check_int("n_modes", n_modes, 2)
    if not 0 < rel_std < 0.5:
        raise ConfigError(f"rel_std={rel_std!r} must be in (0, 0.5) (component std over mode spacing)")
    if not 0 < min_weight <= 1.0 / n_modes:
        raise ConfigError(f"min_weight={min_weight!r} must be in (0, 1/n_modes = {1.0 / n_modes:.4g}]")
    smallest = log_interp(1.0 / n_modes, min_weight, d)
    w = imbalanced_weights(n_modes, smallest)
    unit = _ring(n_modes)
    std = rel_std * 2 * math.sin(math.pi / n_modes)
    c = _unit_scale(unit, torch.full((n_modes,), 1.0 / n_modes, dtype=torch.float64), std ** 2)
    return GaussianMixture2D("imbalanced", d, c * unit, w, c * std, far=far,
                             extra={"radius": c, "min_weight": float(w.min()), "max_weight": float(w.max())})


def noisy_circle(d: float, n_sectors: int = 8, far: float = 4.0) -> NoisyCircle:
    """A circle blurred by isotropic Gaussian noise of std σ; the ring gets thinner with d.

    σ / R = 0.25 · (0.01)^d (0.25 at d = 0, 0.025 at d = 0.5, 0.0025 at d = 1); R is chosen so that the
    per-coordinate variance (R² + 2σ²)/2 is 1 (R = 1.37 → 1.41).
    """
    d = check_difficulty(d)
    rel = log_interp(0.25, 0.0025, d)
    radius = math.sqrt(2.0 / (1.0 + 2 * rel ** 2))
    return NoisyCircle("circle", d, radius, rel * radius, n_sectors=n_sectors, far=far)


def checkerboard(d: float) -> SquareMixture:
    """8 equal-weight uniform squares on the black cells of a 4×4 checkerboard; they shrink with d.

    Square side / cell side = 0.1^d (1 at d = 0: the classic checkerboard, squares touching at their
    corners; 0.32 at d = 0.5; 0.1 at d = 1: small islands far apart), each square centred in its cell.
    The board is scaled to unit per-coordinate variance (cell 0.87 at d = 0 → 0.89 at d = 1).
    """
    d = check_difficulty(d)
    frac = log_interp(1.0, 0.1, d)
    cells = torch.tensor([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0], dtype=torch.float64)
    centres = cells - 1.5  # cell centres of a board [−2, 2]² with unit cells
    w = torch.full((centres.shape[0],), 1.0 / centres.shape[0], dtype=torch.float64)
    c = _unit_scale(centres, w, frac ** 2 / 12)
    side = c * frac
    return SquareMixture("squares", d, c * centres - side / 2, side, w, extra={"cell": c, "side/cell": frac})


FAMILIES: dict[str, Callable[[float], Toy2D]] = {
    "ring": ring_mixture,
    "imbalanced": imbalanced_ring,
    "circle": noisy_circle,
    "squares": checkerboard,
}


def make_toy(family: str, d: float, **kwargs) -> Toy2D:
    """`FAMILIES[family](d, **kwargs)`, with a `ConfigError` naming the families for an unknown name."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown toy family {family!r}; choose one of {', '.join(map(repr, FAMILIES))}")
    return FAMILIES[family](d, **kwargs)


def sweep(family: str, difficulties: Sequence[float], **kwargs) -> list[Toy2D]:
    """`[make_toy(family, d) for d in difficulties]`."""
    return [make_toy(family, d, **kwargs) for d in difficulties]


# --------------------------------------------------------------------------------------------------
# Metrics of model samples against the truth


def empirical_mode_masses(toy: Toy2D, samples: torch.Tensor) -> tuple[torch.Tensor, float]:
    """((K,) fraction of the samples `assign` puts in each mode, fraction it puts in none (−1)).

    Non-finite samples count as "in none". The K fractions and the last number sum to 1.
    """
    k = toy.assign(samples).cpu()
    n = k.shape[0]
    if n == 0:
        raise ValueError("no samples given; pass an (N, 2) tensor with N >= 1")
    counts = torch.bincount(k[k >= 0], minlength=toy.n_modes).to(torch.float64)
    return counts / n, float((k < 0).sum()) / n


def mode_coverage(toy: Toy2D, samples: torch.Tensor, min_fraction: float = 0.1) -> float:
    """Fraction of the K modes receiving at least `min_fraction` of their expected number of samples.

    Mode k is covered when count_k ≥ min_fraction · w_k · N (so at least one sample). A perfect
    sampler can miss a mode by chance when w_k · N is small: with N = 10 000, w = 1e-3 and
    min_fraction = 0.1, it expects 10 samples there and misses with probability e^−10 ≈ 5e-5; keep
    min_fraction · w_min · N ≳ 1 and check the floor with `mode_coverage(toy, toy.sample(N))`.
    """
    if not 0 < min_fraction <= 1:
        raise ConfigError(f"min_fraction={min_fraction!r} must be in (0, 1]")
    masses, _ = empirical_mode_masses(toy, samples)
    return float((masses >= min_fraction * toy.mode_weights).to(torch.float64).mean())


def mode_mass_error(toy: Toy2D, samples: torch.Tensor) -> float:
    """Total variation ½ (Σ_k |p̂_k − w_k| + p̂_none) between the `assign` masses and the true weights.

    In [0, 1]; samples in no mode (−1, e.g. between modes or off the support) count fully as error.
    Even true samples do not score 0: there is sampling noise (≈ √(K / 2πN)) and the truth's own small
    mass in no mode (e^(−far²/2) = 3.4e-4 for the Gaussian families with far = 4, 0 for the squares);
    compare with the floor `mode_mass_error(toy, toy.sample(N))`. At small d of `ring_mixture` the
    modes overlap and the assignment is by responsibility, but the equal-weight symmetry keeps each
    region's true mass 1/K.
    """
    masses, none = empirical_mode_masses(toy, samples)
    return 0.5 * (float((masses - toy.mode_weights).abs().sum()) + none)


def mean_nll(toy: Toy2D, samples: torch.Tensor) -> dict:
    """−log p(x) of (N, 2) samples under the true density, robust to points with zero density.

    Returns a dict:
        nll: mean of −log p over the samples with finite log p (nats per point; NaN if none);
        nll_sem: its standard error;
        off_support: fraction of samples with log p = −inf (off the squares) or non-finite samples;
        n: number of samples.
    Lower `nll` is better but also rewards collapse onto a few modes; read it with `mode_coverage`
    and a two-sample distance. For reference, the truth's entropy is ≈ `mean_nll(toy, toy.sample(N))`.
    """
    x = _check_points(samples)
    n = x.shape[0]
    if n == 0:
        raise ValueError("no samples given; pass an (N, 2) tensor with N >= 1")
    lp = toy.log_prob(x).cpu()
    ok = torch.isfinite(lp) & torch.isfinite(x.cpu()).all(dim=1)
    nll = -lp[ok]
    m = int(ok.sum())
    mean = float(nll.mean()) if m else float("nan")
    sem = float(nll.std(unbiased=True) / math.sqrt(m)) if m > 1 else float("nan")
    return {"nll": mean, "nll_sem": sem, "off_support": 1.0 - m / n, "n": n}


def sample_metrics(toy: Toy2D, samples: torch.Tensor, reference: torch.Tensor | None = None,
                   n_reference: int = 2000, generator: torch.Generator | None = None, min_fraction: float = 0.1,
                   mmd_bandwidth: float = 0.1, max_pairs: int = 4000) -> dict:
    """All the metrics of this module for (N, 2) model samples, as one flat dict (a table row).

    `reference` are true samples for the two-sample distances (`n_reference` fresh ones from
    `toy.sample` with `generator` when None). Energy distance and MMD use at most `max_pairs` samples of
    each set (their cost is quadratic) and only the finite ones; `n_nonfinite` counts the others.
    """
    x = _check_points(samples).cpu()
    if reference is None:
        reference = toy.sample(n_reference, generator=generator)
    y = _check_points(reference).cpu()
    finite = torch.isfinite(x).all(dim=1)
    xf, yf = x[finite][:max_pairs], y[:max_pairs]
    masses, none = empirical_mode_masses(toy, x)
    out = {"family": toy.name, "difficulty": toy.difficulty,
           "mode_coverage": mode_coverage(toy, x, min_fraction),
           "mode_mass_error": mode_mass_error(toy, x), "no_mode": none,
           "min_mode_mass_ratio": float((masses / toy.mode_weights).min()),
           **mean_nll(toy, x), "n_nonfinite": int((~finite).sum())}
    two_sample = xf.shape[0] > 1 and yf.shape[0] > 1
    out["energy_distance"] = energy_distance(xf, yf) if two_sample else float("nan")
    out["mmd_rbf"] = mmd_rbf(xf, yf, bandwidth=mmd_bandwidth) if two_sample else float("nan")
    return out
