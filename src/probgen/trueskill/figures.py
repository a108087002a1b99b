"""Figures of the TrueSkill chapter (matplotlib only)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, Rectangle
from scipy import stats


def factor_graph(ax=None):
    """The factor graph of the two-player model: priors, performance difference, outcome."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.2))
    var = {"s1": (1.0, 2.0), "s2": (3.0, 2.0), "t": (2.0, 0.9), "y": (2.0, -0.2)}
    fac = {
        "f_1": ((1.0, 3.0), r"$\mathcal{N}(s_1;\mu_1,\sigma_1^2)$"),
        "f_2": ((3.0, 3.0), r"$\mathcal{N}(s_2;\mu_2,\sigma_2^2)$"),
        "f_t": ((2.0, 1.5), r"$\mathcal{N}(t;s_1-s_2,\sigma_t^2)$"),
        "f_y": ((2.0, 0.35), r"$\delta(y-\mathrm{sign}(t))$"),
    }
    edges = [("f_1", "s1"), ("f_2", "s2"), ("s1", "f_t"), ("s2", "f_t"), ("f_t", "t"), ("t", "f_y"), ("f_y", "y")]
    pos = {**var, **{k: v[0] for k, v in fac.items()}}
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.plot([xa, xb], [ya, yb], color="0.3", lw=1.2, zorder=1)  # drawn under the nodes
    labels = {"s1": "$s_1$", "s2": "$s_2$", "t": "$t$", "y": "$y$"}
    for k, (x, y) in var.items():
        observed = k == "y"
        ax.add_patch(Circle((x, y), 0.22, facecolor="0.8" if observed else "white", edgecolor="black", lw=1.4,
                            zorder=2))
        ax.text(x, y, labels[k], ha="center", va="center", fontsize=12, zorder=3)
    for k, ((x, y), label) in fac.items():
        ax.add_patch(Rectangle((x - 0.09, y - 0.09), 0.18, 0.18, facecolor="black", zorder=2))
        ax.text(x + 0.18, y, label, ha="left", va="center", fontsize=9)
    ax.set_xlim(0.3, 4.6)
    ax.set_ylim(-0.6, 3.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Factor graph (shaded: observed)")
    return ax


def gaussian_overlay(ax, samples, fitted, *, label, color, bins=60):
    """Histogram of samples with the fitted Gaussian density on top."""
    ax.hist(samples, bins=bins, density=True, alpha=0.35, color=color, label=f"{label} samples")
    grid = np.linspace(samples.min(), samples.max(), 300)
    ax.plot(grid, stats.norm.pdf(grid, fitted.mean, fitted.std), color=color, lw=2,
            label=f"{label} fit N({fitted.mean:.2f}, {fitted.std:.2f}²)")
    return ax



def reliability_diagram(ax, table, *, label: str, color, level: float = 0.95, diagonal: bool = True,
                        count_offset: tuple[float, float] = (5, -11)):
    """Observed frequency against mean prediction per bin (a `evaluation.calibration_table`), with the
    binomial interval of each frequency as error bars, the bin sizes written next to the points and
    the diagonal of perfect calibration (diagonal=False for a second model on the same axes; a
    count_offset in points to the other side keeps its counts apart from the first model's)."""
    yerr = np.vstack([table["frequency"] - table["freq_lo"], table["freq_hi"] - table["frequency"]])
    ax.errorbar(table["mean_p"], table["frequency"], yerr=yerr, fmt="o", color=color, capsize=3, ms=5,
                label=f"{label} ({100 * level:.0f}% binomial intervals)")
    for x, y, n in zip(table["mean_p"], table["frequency"], table["n"]):
        ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=count_offset, fontsize=7, color=color,
                    ha="left" if count_offset[0] >= 0 else "right")
    if diagonal:
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    return ax
