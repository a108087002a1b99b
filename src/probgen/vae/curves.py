"""Training curves of a VAE: negative ELBO, reconstruction and KL per epoch, training against held-out."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

CURVE_TERMS = (
    ("neg_elbo", "−ELBO"),
    ("reconstruction_nll", "reconstruction: −E_q log p(x|z)"),
    ("kl", "KL(q(z|x) ‖ p(z))"),
)


def plot_training_curves(history: Mapping[str, Sequence[float]], axes=None, *, label: str | None = None,
                         color=None, held_out: str = "held-out"):
    """Draw a `train_vae` history on three axes: −ELBO, reconstruction NLL and KL, in nats per image.

    Training values (the average over each epoch, solid) and held-out values (end of each epoch,
    dashed) share one colour, so several models can be drawn on the same axes by calling this
    once per model with its own `label` and `color`.

    Args:
        history: maps "epoch" and "train_<term>", "val_<term>" for the three terms to per-epoch lists.
        axes: three matplotlib Axes; None makes a new 1 x 3 figure.
        label: the model's name in the legend (None: the legend names only training and held-out).
        color: line colour (None: the next in the axes' cycle).
        held_out: what the held-out set is called in the legend.
    Returns:
        (figure, axes).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    missing = [f"{split}_{key}" for key, _ in CURVE_TERMS for split in ("train", "val")
               if f"{split}_{key}" not in history]
    if "epoch" not in history or missing:
        raise ValueError(f"history lacks {(['epoch'] if 'epoch' not in history else []) + missing}; "
                         "pass the history returned by probgen.vae.train_vae")
    if axes is None:
        fig, axes = plt.subplots(1, len(CURVE_TERMS), figsize=(13, 3.6))
    axes = list(np.atleast_1d(axes))
    if len(axes) != len(CURVE_TERMS):
        raise ValueError(f"plot_training_curves draws on {len(CURVE_TERMS)} axes, got {len(axes)}")
    epochs = np.asarray(history["epoch"])
    prefix = "" if label is None else f"{label}: "
    for ax, (key, title) in zip(axes, CURVE_TERMS):
        (line,) = ax.plot(epochs, history[f"train_{key}"], marker="o", ms=3, color=color,
                          label=f"{prefix}training (epoch average)")
        ax.plot(epochs, history[f"val_{key}"], marker="s", ms=3, ls="--", color=line.get_color(),
                label=f"{prefix}{held_out} (end of epoch)")
        ax.set(xlabel="epoch", ylabel="nats per image", title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return axes[0].figure, axes
