import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from probgen import walker  # noqa: E402


@pytest.fixture(scope="module")
def recorded():
    plan = np.random.default_rng(0).uniform(-1, 1, walker.PLAN_SIZE)
    return walker.simulate(plan, seconds=1.0, record=True)


def test_frame_strip_draws_every_requested_pose(recorded):
    ax = walker.frame_strip(recorded, n_frames=5)
    assert _heads(ax) == 5
    plt.close(ax.figure)


def test_frame_panels_and_render_frames(recorded):
    fig = walker.frame_panels(recorded, n_frames=4)
    assert len(fig.axes) == 4
    plt.close(fig)
    res, ax = walker.render_frames(np.zeros(walker.PLAN_SIZE), n_frames=3, seconds=0.5)
    assert res.frames is not None and _heads(ax) == 3
    plt.close(ax.figure)


def _heads(ax):
    return sum(isinstance(p, Circle) for p in ax.patches)


def test_animation_renders_one_frame_per_recorded_pose():
    res = walker.simulate(np.zeros(walker.PLAN_SIZE), seconds=0.2, record=True)
    html = walker.animate(res).to_jshtml()
    assert html.count("data:image/png") == len(res.frames["t"])


def test_drawing_needs_recorded_frames():
    res = walker.simulate(np.zeros(walker.PLAN_SIZE), seconds=0.2)
    with pytest.raises(ValueError, match="record=True"):
        walker.frame_strip(res)
    with pytest.raises(ValueError, match="POINT_NAMES"):
        walker.draw_pose(plt.gca(), np.zeros((3, 2)))
    plt.close("all")
