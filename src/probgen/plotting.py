"""One house style and one way to save figures.

`savefig` writes PNGs into `figures/` with fixed DPI and no timestamps in the
metadata, so a rerun with the same numbers gives the same file; it writes
atomically, so a reader (the book build, another notebook) never sees half a
figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import ticker

from . import paths
from .atomic import atomic_path

HOUSE_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "text.usetex": False,  # no LaTeX dependency; mathtext renders $...$
    "svg.hashsalt": "probgen",
}

# Colour-blind-safe cycle (Okabe & Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    """Apply the house style to matplotlib's global settings."""
    plt.rcParams.update(HOUSE_STYLE)
    plt.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=PALETTE)


def plain_log_ticks(ax, axis: str = "both") -> None:
    """Label a log axis with plain numbers at 1, 2 and 5 times each power of ten (10, 20, 50, 100...).

    Matplotlib's default writes 2×10¹ and labels minor ticks that then collide on a short axis.
    Args: ax: the Axes; axis: "x", "y" or "both" (only those on a log scale are changed).
    """
    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis={axis!r}; choose 'x', 'y' or 'both'")
    for name in ("x", "y") if axis == "both" else (axis,):
        target = ax.xaxis if name == "x" else ax.yaxis
        if target.get_scale() != "log":
            continue
        target.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        target.set_minor_formatter(ticker.NullFormatter())


def savefig(fig, name: str, *, chapter: str | None = None) -> Path:
    """Save `fig` as `figures/[chapter/]name.png` deterministically and return the path."""
    folder = paths.figures_dir() / chapter if chapter else paths.figures_dir()
    path = folder / (name if name.endswith(".png") else f"{name}.png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, metadata={"Software": None})
    return path


use_style()
