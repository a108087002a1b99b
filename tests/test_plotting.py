import os
import time
from pathlib import Path

import matplotlib.pyplot as plt

from probgen import paths, plotting
from tests.concurrency import race

PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def _figure(n_points: int):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(n_points), [i % 7 for i in range(n_points)])
    return fig


def test_savefig_is_deterministic_and_leaves_only_the_figure():
    before = os.umask(0o022)
    try:
        fig = _figure(10)
        first = plotting.savefig(fig, "a", chapter="ch").read_bytes()
        path = plotting.savefig(fig, "a.png", chapter="ch")
        plt.close(fig)
    finally:
        os.umask(before)
    assert path == paths.figures_dir() / "ch" / "a.png" and path.read_bytes() == first
    assert first.startswith(PNG_START) and first.endswith(PNG_END)
    assert [p.name for p in path.parent.iterdir()] == ["a.png"] and path.stat().st_mode & 0o777 == 0o644


def _save_figures(n_points: int, times: int) -> None:
    fig = _figure(n_points)
    for _ in range(times):
        plotting.savefig(fig, "race")
    plt.close(fig)


def _read_figures(folder: str, seconds: float) -> None:
    path, end = Path(folder) / "race.png", time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if not (data.startswith(PNG_START) and data.endswith(PNG_END)):
            raise AssertionError(f"a reader saw a half-written figure ({len(data)} bytes)")


def test_processes_saving_the_same_figure_at_once():
    # Two writers save figures of different sizes under one name while a reader reads it, four times;
    # no reader may ever see a half-written file (writing in place, it saw one in every round), no writer may fail.
    folder = paths.figures_dir()
    jobs = [(_save_figures, (50, 3)), (_save_figures, (5000, 3)), (_read_figures, (str(folder), 0.3))]
    assert race(jobs, rounds=4) == []
    assert [p.name for p in folder.iterdir()] == ["race.png"]


def test_plain_log_ticks_label_log_axes_with_plain_numbers():
    import matplotlib.pyplot as plt

    from probgen.plotting import plain_log_ticks

    fig, ax = plt.subplots()
    ax.plot([18, 400], [19, 45])
    ax.set(xscale="log", yscale="log")
    plain_log_ticks(ax)
    fig.canvas.draw()
    xs = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    ys = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert {"20", "50", "100", "200"} <= set(xs)
    assert all("×" not in t and "^" not in t and "$" not in t for t in xs + ys)
    assert [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()] == []
    plt.close(fig)


def test_plain_log_ticks_leaves_linear_axes_and_refuses_a_bad_axis():
    import matplotlib.pyplot as plt
    import pytest

    from probgen.plotting import plain_log_ticks

    fig, ax = plt.subplots()
    ax.set_xscale("log")
    before = ax.yaxis.get_major_formatter()
    plain_log_ticks(ax)
    assert ax.yaxis.get_major_formatter() is before
    with pytest.raises(ValueError, match="axis"):
        plain_log_ticks(ax, axis="z")
    plt.close(fig)
