"""Maximum-marginal-likelihood fits of the chapter's four GP variants.

A variant is data: which observation model, which inputs, and which of the
three parameters (lengthscale ℓ, signal variance s², noise variance σ_y²) are
held fixed. `fit_gradient` (L-BFGS on log-parameters, several starts) and
`fit_grid` (a coarse then a fine log-spaced grid) take any variant, so the book
can show that the two fits agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch

from .data import SIGMA_Y2, NoisyInputData
from .kernels import SquaredExponential
from .regression import (NotPositiveDefiniteError, log_marginal_likelihood, noisy_input_log_marginal_likelihood,
                         noisy_input_posterior_f, posterior_f)

PARAMS = ("lengthscale", "variance", "noise_var")
MODELS = ("standard", "input_noise")
INPUTS = ("observed", "true")
# Search box of the grid and of the random starts of the gradient fit (natural units, searched in log space).
BOUNDS = {"lengthscale": (0.02, 5.0), "variance": (0.01, 20.0), "noise_var": (1e-5, 1.0)}


@dataclass(frozen=True)
class Variant:
    """One model of the chapter: observation model, inputs, and the fixed parameters (the rest are fitted)."""

    key: str
    label: str
    model: str = "standard"  # "standard": y = f(x) + ε; "input_noise": y ≈ f(x) − Δ f'(x) + ε
    inputs: str = "observed"  # "observed": the noisy x; "true": x − Δ
    fixed: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model={self.model!r}: must be one of {MODELS}")
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs={self.inputs!r}: must be one of {INPUTS}")
        unknown = set(self.fixed) - set(PARAMS)
        if unknown:
            raise ValueError(f"fixed parameters {sorted(unknown)} unknown; parameters are {PARAMS}")

    @property
    def free(self) -> tuple[str, ...]:
        return tuple(p for p in PARAMS if p not in self.fixed)

    def inputs_of(self, data: NoisyInputData) -> torch.Tensor:
        return data.x if self.inputs == "observed" else data.x_true

    def log_marginal_likelihood(self, data: NoisyInputData, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """log p(y | inputs, [Δ,] θ, σ_y²) at `params` (each a scalar or a (G,) batch)."""
        kernel = SquaredExponential(params["lengthscale"], params["variance"])
        x = self.inputs_of(data)
        if self.model == "standard":
            return log_marginal_likelihood(x, data.y, kernel, params["noise_var"])
        return noisy_input_log_marginal_likelihood(x, data.y, data.delta, kernel, params["noise_var"])

    def posterior_f(self, data: NoisyInputData, params: Mapping[str, float], x_star: torch.Tensor):
        """Posterior mean and variance of f at x_star (Δ* = 0 for the input-noise model)."""
        kernel = SquaredExponential(params["lengthscale"], params["variance"])
        x = self.inputs_of(data)
        if self.model == "standard":
            return posterior_f(x, data.y, x_star, kernel, params["noise_var"])
        return noisy_input_posterior_f(x, data.y, data.delta, x_star, kernel, params["noise_var"])


VARIANTS: dict[str, Variant] = {v.key: v for v in (
    Variant("B1a", "B.1 (a) σ_y² fitted, noisy x", fixed={}),
    Variant("B1b", "B.1 (b) σ_y² fixed, noisy x", fixed={"noise_var": SIGMA_Y2}),
    Variant("B1c", "B.1 (c) σ_y² fixed, true x", inputs="true", fixed={"noise_var": SIGMA_Y2}),
    Variant("B2", "B.2 input-noise model, Δ known", model="input_noise", fixed={}),
)}


@dataclass(frozen=True)
class Fit:
    """The result of one fit: all three parameters (fitted and fixed), log marginal likelihood, method."""

    variant: Variant
    params: dict
    log_marginal_likelihood: float
    method: str
    evaluations: int

    def row(self) -> dict:
        return {"variant": self.variant.key, "method": self.method, **self.params,
                "log marginal likelihood": self.log_marginal_likelihood, "evaluations": self.evaluations}


def _full_params(variant: Variant, free_values: Mapping[str, torch.Tensor]) -> dict:
    params = {p: torch.as_tensor(v, dtype=torch.float64) for p, v in variant.fixed.items()}
    params.update(free_values)
    return params


def fit_gradient(variant: Variant, data: NoisyInputData, *, starts: int = 8, seed: int = 0,
                 max_iter: int = 200) -> Fit:
    """Maximise the log marginal likelihood with L-BFGS over log-parameters from several random starts."""
    rng = np.random.default_rng(seed)
    best, evaluations = None, 0
    for _ in range(starts):
        log_init = {p: rng.uniform(math.log(BOUNDS[p][0]), math.log(BOUNDS[p][1])) for p in variant.free}
        theta = torch.tensor([log_init[p] for p in variant.free], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([theta], max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                                tolerance_change=1e-12)

        def closure():
            nonlocal evaluations
            opt.zero_grad()
            evaluations += 1
            loss = -variant.log_marginal_likelihood(data, _full_params(variant, dict(zip(variant.free, theta.exp()))))
            loss.backward()
            return loss

        try:
            opt.step(closure)
        except NotPositiveDefiniteError:
            continue  # a start that wandered into a singular corner; the other starts cover the space
        with torch.no_grad():
            params = _full_params(variant, dict(zip(variant.free, theta.exp())))
            try:
                lml = float(variant.log_marginal_likelihood(data, params))
            except NotPositiveDefiniteError:
                continue
        if math.isfinite(lml) and (best is None or lml > best[1]):
            best = ({p: float(v) for p, v in params.items()}, lml)
    if best is None:
        raise RuntimeError(f"every one of {starts} starts of the gradient fit of {variant.key} failed")
    return Fit(variant, {p: best[0][p] for p in PARAMS}, best[1], "gradient (L-BFGS)", evaluations)


def _grid_lml(variant: Variant, data: NoisyInputData, axes: dict[str, np.ndarray], chunk: int = 4096) -> np.ndarray:
    """Log marginal likelihood on the product grid of `axes` (free parameters only), shape (len(ax1), ...)."""
    names = list(axes)
    mesh = np.stack(np.meshgrid(*(axes[n] for n in names), indexing="ij"), -1).reshape(-1, len(names))
    out = np.empty(len(mesh))
    with torch.no_grad():
        for start in range(0, len(mesh), chunk):
            block = torch.as_tensor(mesh[start:start + chunk], dtype=torch.float64)
            params = _full_params(variant, {n: block[:, i] for i, n in enumerate(names)})
            try:
                out[start:start + chunk] = variant.log_marginal_likelihood(data, params).numpy()
            except NotPositiveDefiniteError:  # rare: evaluate this block point by point
                for j, row in enumerate(block):
                    try:
                        out[start + j] = float(variant.log_marginal_likelihood(
                            data, _full_params(variant, dict(zip(names, row)))))
                    except NotPositiveDefiniteError:
                        out[start + j] = -np.inf
    return out.reshape([len(axes[n]) for n in names])


@dataclass(frozen=True)
class GridFit:
    fit: Fit
    axes: dict  # the coarse grid's axes (free parameter -> values)
    lml: np.ndarray  # the coarse grid's log marginal likelihoods


def fit_grid(variant: Variant, data: NoisyInputData, *, points: int = 30, refine_points: int = 21) -> GridFit:
    """Grid search: a log-spaced grid over BOUNDS, then a finer grid spanning ±1 coarse cell around the best."""
    axes = {p: np.geomspace(*BOUNDS[p], points) for p in variant.free}
    lml = _grid_lml(variant, data, axes)
    best_index = np.unravel_index(np.argmax(lml), lml.shape)
    fine = {}
    for p, i in zip(variant.free, best_index):
        ratio = axes[p][1] / axes[p][0]
        fine[p] = np.geomspace(axes[p][i] / ratio, axes[p][i] * ratio, refine_points)
    fine_lml = _grid_lml(variant, data, fine)
    j = np.unravel_index(np.argmax(fine_lml), fine_lml.shape)
    free = {p: float(fine[p][k]) for p, k in zip(variant.free, j)}
    params = {p: float(v) for p, v in _full_params(variant, free).items()}
    fit = Fit(variant, {p: params[p] for p in PARAMS}, float(fine_lml[j]), "grid search", lml.size + fine_lml.size)
    return GridFit(fit, axes, lml)


def profile_over(grid: GridFit, keep: tuple[str, str] = ("lengthscale", "variance")) -> np.ndarray:
    """The coarse grid's log marginal likelihood maximised over every axis not in `keep` (for a contour plot)."""
    names = list(grid.axes)
    drop = tuple(i for i, n in enumerate(names) if n not in keep)
    return grid.lml.max(axis=drop) if drop else grid.lml
