"""Drawing the runner with matplotlib: one pose, a strip of poses, an animation."""

from __future__ import annotations

import numpy as np

from ..plotting import PALETTE
from .sim import DEFAULT_PARAMS, DEFAULT_SECONDS, POINT_NAMES, WalkerParams, WalkResult, simulate

_IDX = {name: i for i, name in enumerate(POINT_NAMES)}
_HEAD_RADIUS = 0.1
_LEG_CHAINS = {side: [_IDX[f"{side}_{p}"] for p in ("knee", "ankle", "heel", "toe", "ankle")]
               for side in ("left", "right")}
_SIDE_COLOURS = {"left": PALETTE[0], "right": PALETTE[1]}  # near leg dark blue, far leg orange
_TORSO_COLOUR = "0.2"


def draw_pose(ax, points: np.ndarray, *, alpha: float = 1.0, linewidth: float = 2.5, colours=None) -> None:
    """Draw one pose given its `points` (len(POINT_NAMES), 2) in world coordinates (metres).

    Stick figure: torso from hip to neck, a circle for the head, each leg
    hip-knee-ankle with the foot as a heel-toe segment.
    """
    points = np.asarray(points, dtype=float)
    if points.shape != (len(POINT_NAMES), 2):
        raise ValueError(f"points has shape {points.shape}; "
                         f"expected ({len(POINT_NAMES)}, 2) in the order of POINT_NAMES")
    colours = colours or _SIDE_COLOURS
    hip = _IDX["hip"]
    for side in ("right", "left"):  # the far leg first, so the near one is drawn on top
        chain = points[[hip] + _LEG_CHAINS[side]]
        ax.plot(chain[:, 0], chain[:, 1], color=colours[side], lw=linewidth, alpha=alpha, solid_capstyle="round",
                solid_joinstyle="round")
    trunk = points[[hip, _IDX["neck"]]]
    ax.plot(trunk[:, 0], trunk[:, 1], color=_TORSO_COLOUR, lw=linewidth * 1.6, alpha=alpha, solid_capstyle="round")
    head = points[_IDX["head"]]
    ax.add_patch(_circle(head, _HEAD_RADIUS, alpha))


def _circle(centre, radius, alpha):
    from matplotlib.patches import Circle

    return Circle(tuple(centre), radius, facecolor="white", edgecolor=_TORSO_COLOUR, lw=1.5, alpha=alpha, zorder=3)


def _frame_indices(result: WalkResult, n_frames: int) -> np.ndarray:
    if result.frames is None:
        raise ValueError("the result has no frames; run simulate(plan, record=True)")
    if int(n_frames) < 1:
        raise ValueError(f"n_frames={n_frames!r} must be at least 1")
    total = len(result.frames["t"])
    return np.unique(np.round(np.linspace(0, total - 1, int(n_frames))).astype(int))


def draw_ground(ax, x_min: float, x_max: float) -> None:
    ax.axhline(0.0, color="0.4", lw=1.0, zorder=0)
    ax.axhspan(-0.08, 0.0, color="0.85", zorder=0, lw=0)
    ax.set_ylim(-0.08, 1.75)
    ax.set_xlim(x_min, x_max)
    ax.set_aspect("equal")
    ax.set_yticks([])
    ax.grid(False)


def frame_strip(result: WalkResult, n_frames: int = 8, ax=None, *, label_times: bool = True, fade: bool = True):
    """Draw `n_frames` poses evenly spaced in time on one axes, each where it was (a chronophotograph).

    Args:
        result: a run recorded with `simulate(plan, record=True)`.
        n_frames: poses to draw (including the first and the last).
        ax: matplotlib axes; a new wide figure when None.
        label_times: write each pose's time (s) above it.
        fade: earlier poses lighter.

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    idx = _frame_indices(result, n_frames)
    pts = result.frames["points"]  # (F, P, 2)
    x_lo, x_hi = pts[idx, :, 0].min() - 0.3, pts[idx, :, 0].max() + 0.3
    if ax is None:
        _, ax = plt.subplots(figsize=(min(16.0, max(6.0, 1.3 * (x_hi - x_lo))), 2.6))
    last_label = -np.inf
    min_gap = 0.1 * (x_hi - x_lo)  # labels closer than this would overprint each other
    for j, i in enumerate(idx):
        alpha = 0.35 + 0.65 * (j + 1) / len(idx) if fade else 1.0
        draw_pose(ax, pts[i], alpha=alpha)
        x_head = pts[i, _IDX["head"], 0]
        if label_times and abs(x_head - last_label) >= min_gap:
            ax.text(x_head, 1.62, f"{result.frames['t'][i]:.1f} s", ha="center", fontsize=8)
            last_label = x_head
    draw_ground(ax, x_lo, x_hi)
    ax.set_xlabel("x (m)")
    ax.set_title(f"distance {result.distance:.2f} m in {result.time:.1f} s" + (" (fell)" if result.fell else ""))
    return ax


def frame_panels(result: WalkResult, n_frames: int = 6, fig=None, *, width: float = 1.6):
    """Draw `n_frames` poses evenly spaced in time side by side, one panel each, centred on the hip.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    idx = _frame_indices(result, n_frames)
    if fig is None:
        fig = plt.figure(figsize=(1.6 * len(idx), 2.4))
    axes = fig.subplots(1, len(idx), squeeze=False)[0]
    pts = result.frames["points"]
    for ax, i in zip(axes, idx):
        draw_pose(ax, pts[i])
        x = pts[i, _IDX["hip"], 0]
        draw_ground(ax, x - width / 2, x + width / 2)
        ax.set_xticks([])
        ax.set_title(f"t = {result.frames['t'][i]:.2f} s\nx = {x:.2f} m", fontsize=8)
    return fig


def render_frames(plan, n_frames: int = 8, ax=None, *, seconds: float = DEFAULT_SECONDS,
                  params: WalkerParams = DEFAULT_PARAMS):
    """Simulate `plan` with recording and draw its `frame_strip`; returns (result, axes)."""
    result = simulate(plan, seconds=seconds, record=True, params=params)
    return result, frame_strip(result, n_frames, ax)


def animate(result: WalkResult, *, interval_ms: float | None = None, follow: bool = True, width: float = 3.0):
    """A matplotlib `FuncAnimation` of a recorded run (one frame per recorded pose).

    Args:
        interval_ms: delay between frames; default real time.
        follow: keep the runner's hip in the middle of the view.
        width: metres of ground in view.

    Save with ``anim.save("run.gif", writer="pillow")`` or show in a notebook
    with ``IPython.display.HTML(anim.to_jshtml())``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    if result.frames is None:
        raise ValueError("the result has no frames; run simulate(plan, record=True)")
    t, pts = result.frames["t"], result.frames["points"]
    if interval_ms is None:
        interval_ms = 1000 * float(np.median(np.diff(t))) if len(t) > 1 else 100.0
    fig, ax = plt.subplots(figsize=(6, 2.8))

    def update(i):
        ax.clear()
        x = pts[i, _IDX["hip"], 0] if follow else pts[0, _IDX["hip"], 0]
        draw_pose(ax, pts[i])
        draw_ground(ax, x - width / 2, x + width / 2)
        ax.set_title(f"t = {t[i]:.2f} s, x = {pts[i, _IDX['hip'], 0]:.2f} m")
        return []

    anim = FuncAnimation(fig, update, frames=len(t), interval=interval_ms, blit=False)
    plt.close(fig)
    return anim
