import math

import numpy as np
import pytest

from probgen import walker
from probgen.runtime import ConfigError
from probgen.walker import PLAN_SIZE, POINT_NAMES, WalkerParams, check_plan, joint_targets, simulate

SHORT = 1.0  # simulated seconds: enough to exercise contacts and falls, cheap enough for CI


def _plan(seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, PLAN_SIZE)


def test_same_plan_gives_bit_identical_results():
    plan = _plan(1)
    a, b = simulate(plan, seconds=SHORT), simulate(plan, seconds=SHORT)
    assert a.distance == b.distance and a.time == b.time and a.fell == b.fell
    assert walker.distance(list(plan), seconds=SHORT) == a.distance  # a list is read the same as the array


def test_different_plans_give_different_distances():
    assert simulate(_plan(1), seconds=SHORT).distance != simulate(_plan(2), seconds=SHORT).distance


def test_zero_plan_runs_and_returns_a_finite_distance():
    res = simulate(np.zeros(PLAN_SIZE), seconds=2.0)
    assert math.isfinite(res.distance)
    assert 0 < res.time <= 2.0 and res.steps == round(res.time / walker.DEFAULT_PARAMS.dt)
    assert isinstance(res.fell, bool)


def test_integer_and_extreme_plans_are_accepted():
    for plan in ([1] * PLAN_SIZE, [-1] * PLAN_SIZE, np.ones(PLAN_SIZE, dtype=np.float32)):
        assert math.isfinite(simulate(plan, seconds=0.5).distance)


@pytest.mark.parametrize("plan, match", [
    (np.zeros(39), "length 39"),
    (np.zeros(41), "length 41"),
    (np.zeros((2, 20)), r"shape \(2, 20\)"),
    (np.r_[np.zeros(39), 1.5], r"outside \[-1, 1\] at indices \[39\]"),
    (np.r_[-1.0001, np.zeros(39)], r"outside \[-1, 1\] at indices \[0\]"),
    (np.r_[np.nan, np.zeros(39)], "non-finite"),
    (np.r_[np.zeros(39), np.inf], "non-finite"),
    ("0" * 40, "type str"),
    (None, "type NoneType"),
    (0.5, "type float"),
    (["a"] * 40, "dtype"),
    ([True] * 40, "dtype bool"),
    ([[0.0], [0.0, 1.0]] + [0.0] * 38, "could not be read|dtype object"),
])
def test_bad_plans_raise_a_clear_value_error(plan, match):
    with pytest.raises(ValueError, match=match) as err:
        simulate(plan)
    assert "40 finite numbers in [-1, 1]" in str(err.value)  # says what is expected


def test_bad_run_settings_are_rejected():
    with pytest.raises(ValueError, match="seconds"):
        simulate(np.zeros(PLAN_SIZE), seconds=0)
    with pytest.raises(ValueError, match="record_every"):
        simulate(np.zeros(PLAN_SIZE), record=True, record_every=0)
    with pytest.raises(ConfigError, match="gain"):
        WalkerParams(gain=-1.0)
    with pytest.raises(ConfigError, match="steps_per_phase"):
        WalkerParams(steps_per_phase=0)


def test_joint_targets_follow_the_documented_mapping():
    plan = np.linspace(-1, 1, PLAN_SIZE)
    targets = joint_targets(plan)  # (20, 4): left hip, left knee, right hip, right knee
    p = walker.DEFAULT_PARAMS
    np.testing.assert_allclose(targets[:, 0], p.hip_range * plan[:20])
    np.testing.assert_allclose(targets[:, 1], p.knee_range * (plan[20:] + 1) / 2)
    np.testing.assert_allclose(targets[:, 2], np.roll(targets[:, 0], -10))  # right leg: half a cycle later
    np.testing.assert_allclose(targets[3, 3], targets[13, 1])
    assert check_plan(plan).dtype == np.float64


def test_servos_reach_held_targets():
    # A constant plan holds the same targets; after 1 s the joints sit on them.
    plan = np.r_[np.full(20, 0.3), np.full(20, -0.6)]
    res = simulate(plan, seconds=0.5, record=True)
    torso, lthigh, lcalf, rthigh, rcalf = res.frames["angles"][-1]
    hip, knee = joint_targets(plan)[0, :2]
    assert lthigh - torso == pytest.approx(hip, abs=0.02)
    assert lthigh - lcalf == pytest.approx(knee, abs=0.02)
    assert rthigh - torso == pytest.approx(hip, abs=0.02)


def test_recorded_frames_have_documented_shapes_and_match_the_result():
    res = simulate(_plan(3), seconds=SHORT, record=True, record_every=4)
    f = res.frames
    n = len(f["t"])
    assert f["points"].shape == (n, len(POINT_NAMES), 2)
    assert f["positions"].shape == (n, 5, 2) and f["angles"].shape == (n, 5)
    assert f["t"][0] == 0 and f["t"][-1] == pytest.approx(res.time)
    assert np.all(np.diff(f["t"]) > 0)
    assert f["positions"][-1, 0, 0] - f["positions"][0, 0, 0] == pytest.approx(res.distance)
    # recording does not change the run
    assert simulate(_plan(3), seconds=SHORT).distance == res.distance


def test_a_fall_ends_the_run_early():
    # Knees fully bent and hips straight: the runner sits down backwards and falls.
    res = simulate(np.r_[np.zeros(20), np.ones(20)], seconds=5.0)
    assert res.fell and res.time < 5.0
