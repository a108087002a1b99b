"""Figures of the GP chapter (matplotlib and ArviZ only)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plotting import PALETTE
from .data import NoisyInputData, true_f


def posterior_band(ax, x_star, mean, var, data: NoisyInputData, *, inputs: str = "observed", title: str = "",
                   color: str = PALETTE[0]):
    """Posterior mean and 95% interval of f, the true f, and the data at the inputs the model saw."""
    x_star, mean, sd = (np.asarray(a, dtype=float) for a in (x_star, mean, np.sqrt(var)))
    ax.fill_between(x_star, mean - 1.96 * sd, mean + 1.96 * sd, color=color, alpha=0.25, lw=0,
                    label="95% interval of f")
    ax.plot(x_star, mean, color=color, lw=2, label="posterior mean")
    ax.plot(x_star, true_f(x_star), color="black", lw=1.2, ls="--", label="true f")
    x = (data.x if inputs == "observed" else data.x_true).numpy()
    ax.scatter(x, data.y.numpy(), s=18, color=PALETTE[3], zorder=3,
               label="data at noisy x" if inputs == "observed" else "data at true x − Δ")
    ax.set(xlabel="x", ylabel="f(x)", title=title, xlim=(-1.05, 1.05), ylim=(-2.0, 2.8))
    return ax


def likelihood_surface(ax, grid, fit_points: dict, *, keep=("lengthscale", "variance")):
    """Log marginal likelihood over (ℓ, s²) relative to its maximum, profiled over any other fitted parameter.

    Plotting the drop below the best grid point (in nats) puts every variant on one colour scale.
    """
    from .fitting import profile_over

    surface = profile_over(grid, keep)
    a, b = (grid.axes[k] for k in keep)
    levels = -np.array([40.0, 20, 10, 5, 2, 1, 0.5, 0])
    cs = ax.contourf(a, b, (surface - surface.max()).T, levels=levels, cmap="viridis", extend="min")
    styles = (dict(marker="o", color="white", edgecolor="black"), dict(marker="x", color="red"))
    for (label, params), style in zip(fit_points.items(), styles):
        ax.scatter(params[keep[0]], params[keep[1]], s=60, lw=1.5, label=label, zorder=3, **style)
    ax.set(xscale="log", yscale="log", xlabel=keep[0], ylabel=keep[1])
    return cs


def joint_sample(axes, check: dict):
    """Left: a joint draw of f and f'. Right: f' against the central differences of f."""
    x, f, df, fd = (np.asarray(check[k]) for k in ("x", "f", "df", "central_difference"))
    ax0, ax1 = axes
    ax0.plot(x, f, color=PALETTE[0], label="f")
    ax0.plot(x, df, color=PALETTE[1], label="f′ (joint draw)")
    ax0.set(xlabel="x", title="A joint draw of (f, f′) from the prior")
    ax0.legend()
    ax1.plot(x, df, color=PALETTE[1], lw=3, alpha=0.6, label="f′ (joint draw)")
    ax1.plot(x[1:-1], fd, color="black", lw=1, ls="--", label="central difference of f")
    ax1.set(xlabel="x", title=f"f′ against finite differences (RMSE {check['rmse']:.2g})")
    ax1.legend(loc="upper left")
    return axes


def delta_pair(ax, idata, pair: tuple[int, int], truth: tuple[float, float], sigma_x: float):
    """Scatter of the posterior draws of (Δ_a, Δ_b) with the true values and the prior's 2σ circle."""
    draws = idata.posterior["delta"].values  # (chain, draw, N)
    a, b = pair
    for c in range(draws.shape[0]):
        ax.scatter(draws[c, :, a], draws[c, :, b], s=4, alpha=0.35, color=PALETTE[c % len(PALETTE)],
                   label=f"chain {c + 1}")
    ax.add_patch(plt.Circle((0, 0), 2 * sigma_x, fill=False, ls=":", color="0.4", label="prior, 2σ_x"))
    ax.scatter(*truth, marker="*", s=160, color="red", edgecolor="black", zorder=4, label="true (Δ in the file)")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set(xlabel=f"Δ{a + 1}", ylabel=f"Δ{b + 1}", aspect="equal")
    ax.legend(loc="lower left", fontsize=8)
    return ax


def data_overview(ax, data: NoisyInputData):
    """The data at the observed inputs and at the true inputs x − Δ, joined by arrows, with the true f."""
    grid = np.linspace(-1, 1, 300)
    ax.plot(grid, true_f(grid), color="black", lw=1.2, ls="--", label="true f")
    x, xt, y = data.x.numpy(), data.x_true.numpy(), data.y.numpy()
    for a, b, v in zip(x, xt, y):
        ax.annotate("", xy=(b, v), xytext=(a, v), arrowprops=dict(arrowstyle="->", color="0.5", lw=0.8))
    ax.scatter(x, y, s=22, color=PALETTE[3], zorder=3, label="(noisy x, y): what B.1 (a), (b) see")
    ax.scatter(xt, y, s=22, facecolor="white", edgecolor=PALETTE[0], zorder=3, label="(true x − Δ, y)")
    ax.set(xlabel="x", ylabel="y", title="The 20 observations; arrows move each point by −Δ")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def delta_recovery(ax, idata, true_delta, sigma_x: float):
    """Posterior mean ± sd of every Δ_i (NUTS) against the value in the file, with the prior ±σ_x band."""
    draws = idata.posterior["delta"].values.reshape(-1, len(true_delta))  # (chain·draw, N)
    i = np.arange(1, len(true_delta) + 1)
    ax.axhspan(-sigma_x, sigma_x, color="0.9", label="prior ±σ_x")
    ax.errorbar(i, draws.mean(0), yerr=draws.std(0), fmt="o", color=PALETTE[0], ms=4, capsize=2,
                label="posterior mean ± sd")
    ax.scatter(i, np.asarray(true_delta), marker="x", color=PALETTE[3], s=40, zorder=3, label="Δ in the file")
    ax.set(xlabel="i", ylabel="Δ_i", xticks=i)
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    return ax
