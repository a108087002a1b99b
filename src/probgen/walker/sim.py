"""A deterministic 2-D ragdoll runner on the pymunk (Chipmunk2D) physics engine.

The body (SI units, y up, ground at y = 0, running towards +x):

- a torso (box 0.12 m x 0.5 m, 30 kg) with a head (circle, radius 0.1 m, 5 kg)
  fixed on top of it, so the two move as one rigid body;
- two thighs (capsules 0.45 m, 7 kg) on pivot joints at the hip;
- two calves (capsules 0.45 m, 3 kg), each with a foot (capsule from 5 cm behind
  to 15 cm in front of the ankle, 1 kg) rigidly attached, on pivot joints at the knee.

Body parts do not collide with each other, only with the ground (friction 1).
Each of the four joints has a rotary limit (hip: -1.3 to 1.3 rad, knee:
0 to 2.4 rad of flexion) and a servo: a `pymunk.SimpleMotor` whose rate is set
every physics step to ``gain * (target - angle)`` (clipped to `max_joint_speed`)
with its torque capped at `hip_torque` / `knee_torque`; a P-controller on the
joint velocity, i.e. PD control of the joint angle with a torque limit.

Joint angles: the hip angle is the thigh's angle relative to the torso
(positive = thigh swung forward, hip flexion); the knee angle is the flexion of
the knee (thigh angle minus calf angle; 0 = straight leg, positive = foot
behind the knee).

How a plan drives the body
--------------------------
A plan is 40 numbers in [-1, 1]: ``plan[:20]`` are thigh (hip) commands
``u_hip[0..19]`` and ``plan[20:]`` knee commands ``u_knee[0..19]``. Time is cut
into phases of `steps_per_phase` physics steps (6 steps of 1/120 s = 0.05 s by
default), so the 20 phases make a 1-second gait cycle that repeats until the time
limit. During phase k (k = 0, 1, 2, ...), with j = k mod 20:

- the left leg's targets are  hip = hip_range * u_hip[j],
  knee = knee_range * (u_knee[j] + 1) / 2;
- the right leg uses the same commands half a cycle later, j' = (j + 10) mod 20,

so a plan describes one leg's stride and the other leg copies it in anti-phase
(the symmetric gait of walking and running). With the defaults, hip targets lie
in [-1, 1] rad and knee targets in [0, 1.5] rad; the all-zero plan holds both
hips straight and both knees bent by 0.75 rad.

The run starts from an upright pose with straight legs and feet on the ground,
at rest, and lasts `seconds` of simulated time unless the runner falls first:
it has fallen when the torso tilts more than `max_torso_tilt` from vertical or
the torso or head touches the ground. The result's `distance` is the torso's
horizontal displacement (centre of mass of the torso + head body) from the
start to the end of the run (the moment of the fall, for a fall).

Determinism: the space is built afresh for every call, the time step and the
solver's iterations are fixed, and nothing is random, so the same plan gives a
bit-identical distance (on the same machine and pymunk build).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import pymunk

from ..runtime import ConfigError

N_PHASES = 20
PLAN_SIZE = 2 * N_PHASES

# Points recorded in each frame, in this order (the drawing joins them).
POINT_NAMES = (
    "head", "neck", "hip",
    "left_knee", "left_ankle", "left_heel", "left_toe",
    "right_knee", "right_ankle", "right_heel", "right_toe",
)
BODY_NAMES = ("torso", "left_thigh", "left_calf", "right_thigh", "right_calf")


@dataclass(frozen=True)
class WalkerParams:
    """Physical and control constants of the runner (the defaults are the book's simulator)."""

    dt: float = 1.0 / 120.0  # physics time step, seconds
    iterations: int = 20  # constraint-solver iterations per step
    steps_per_phase: int = 6  # physics steps per plan phase (0.05 s)
    gravity: float = 9.81  # m/s^2
    hip_range: float = 1.0  # rad: hip target = hip_range * u
    knee_range: float = 1.5  # rad: knee flexion target = knee_range * (u + 1) / 2
    gain: float = 12.0  # 1/s: joint speed per radian of angle error
    max_joint_speed: float = 12.0  # rad/s, cap of the servo's speed
    hip_torque: float = 600.0  # N m, torque cap of a hip servo
    knee_torque: float = 400.0  # N m, torque cap of a knee servo
    friction: float = 1.0
    max_torso_tilt: float = 1.0  # rad from vertical; beyond it the runner has fallen

    def __post_init__(self) -> None:
        for name in ("dt", "gravity", "hip_range", "knee_range", "gain", "max_joint_speed", "hip_torque",
                     "knee_torque", "max_torso_tilt"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}={value!r} must be a positive finite number")
        for name in ("iterations", "steps_per_phase"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Integral) and value >= 1):
                raise ConfigError(f"{name}={value!r} must be a positive integer")
        if not (isinstance(self.friction, numbers.Real) and self.friction >= 0):
            raise ConfigError(f"friction={self.friction!r} must be a non-negative number")

    @property
    def phase_seconds(self) -> float:
        return self.steps_per_phase * self.dt

    @property
    def cycle_seconds(self) -> float:
        return N_PHASES * self.phase_seconds


DEFAULT_PARAMS = WalkerParams()
DEFAULT_SECONDS = 10.0

# Geometry (metres) and masses (kg).
_TORSO_W, _TORSO_H, _TORSO_M = 0.12, 0.5, 30.0
_HEAD_R, _HEAD_M = 0.1, 5.0
_THIGH_L, _THIGH_R, _THIGH_M = 0.45, 0.05, 7.0
_CALF_L, _CALF_R, _CALF_M = 0.45, 0.04, 3.0
_FOOT_BACK, _FOOT_FRONT, _FOOT_R, _FOOT_M = 0.05, 0.15, 0.03, 1.0
_HIP_LIMITS = (-1.3, 1.3)
_KNEE_LIMITS = (0.0, 2.4)  # flexion
_GROUND_Y = 0.0


@dataclass
class WalkResult:
    """What a run gives back.

    Attributes:
        distance: horizontal displacement of the torso, metres (the objective).
        fell: whether the run ended by a fall.
        time: simulated seconds until the end of the run (the fall or the limit).
        steps: physics steps taken.
        frames: None unless `record=True`; then a dict of arrays over F frames:
            "t" (F,), "points" (F, len(POINT_NAMES), 2) world coordinates,
            "positions" (F, len(BODY_NAMES), 2) centres of mass and "angles" (F, len(BODY_NAMES)).
    """

    distance: float
    fell: bool
    time: float
    steps: int
    frames: dict | None = field(default=None, repr=False)


def check_plan(plan) -> np.ndarray:
    """Return `plan` as a float64 array of shape (40,), or raise ValueError saying what is wrong.

    A plan is a sequence (list, tuple or 1-D NumPy array) of 40 finite real
    numbers in [-1, 1]: 20 hip commands followed by 20 knee commands.
    """
    expected = (f"a plan is a 1-D sequence of {PLAN_SIZE} finite numbers in [-1, 1] "
                f"({N_PHASES} hip then {N_PHASES} knee commands)")
    if isinstance(plan, (str, bytes, dict, set)) or plan is None or isinstance(plan, numbers.Number):
        raise ValueError(f"plan of type {type(plan).__name__} is not allowed; {expected}")
    try:
        arr = np.asarray(plan)
    except (TypeError, ValueError) as err:  # ragged nested sequences
        raise ValueError(f"plan could not be read as an array ({err}); {expected}") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"plan has elements of dtype {arr.dtype}; {expected}")
    if arr.ndim != 1:
        raise ValueError(f"plan has shape {arr.shape}; {expected}")
    if arr.shape[0] != PLAN_SIZE:
        raise ValueError(f"plan has length {arr.shape[0]}; {expected}")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"plan has non-finite values (NaN or inf) at indices {bad.tolist()}; {expected}")
    out = np.flatnonzero(np.abs(arr) > 1.0)
    if out.size:
        raise ValueError(f"plan has values outside [-1, 1] at indices {out.tolist()} "
                         f"(e.g. plan[{out[0]}] = {arr[out[0]]!r}); {expected}")
    return arr


def joint_targets(plan, params: WalkerParams = DEFAULT_PARAMS) -> np.ndarray:
    """Targets of the four joints in each of the 20 phases of a cycle.

    Returns:
        (20, 4) array of radians: columns are left hip, left knee, right hip,
        right knee (knee = flexion), row k is phase k of the cycle.
    """
    u = check_plan(plan)
    hip = params.hip_range * u[:N_PHASES]  # (20,)
    knee = params.knee_range * (u[N_PHASES:] + 1.0) / 2.0  # (20,)
    shift = np.roll(np.arange(N_PHASES), -N_PHASES // 2)  # phase k -> (k + 10) mod 20
    return np.stack([hip, knee, hip[shift], knee[shift]], axis=1)


class _Runner:
    """The pymunk space of one run (built afresh for every call, for determinism)."""

    def __init__(self, params: WalkerParams):
        self.params = params
        space = pymunk.Space()
        space.gravity = (0.0, -params.gravity)
        space.iterations = params.iterations
        space.sleep_time_threshold = math.inf  # never put bodies to sleep
        self.space = space

        ground = pymunk.Segment(space.static_body, (-100.0, _GROUND_Y), (10_000.0, _GROUND_Y), 0.0)
        ground.friction = params.friction
        space.add(ground)

        no_self = pymunk.ShapeFilter(group=1)  # shapes of one group never collide with each other
        ankle_y = _GROUND_Y + _FOOT_R
        knee_y = ankle_y + _CALF_L
        hip_y = knee_y + _THIGH_L
        torso_y = hip_y + _TORSO_H / 2

        self.torso = pymunk.Body()
        torso_box = pymunk.Poly.create_box(self.torso, (_TORSO_W, _TORSO_H))
        head = pymunk.Circle(self.torso, _HEAD_R, (0.0, _TORSO_H / 2 + _HEAD_R))
        torso_box.mass, head.mass = _TORSO_M, _HEAD_M
        self.torso.position = (0.0, torso_y)
        self._add(self.torso, [torso_box, head], no_self)

        self.legs = []
        for _ in range(2):
            thigh = pymunk.Body()
            thigh_shape = pymunk.Segment(thigh, (0.0, _THIGH_L / 2), (0.0, -_THIGH_L / 2), _THIGH_R)
            thigh_shape.mass = _THIGH_M
            thigh.position = (0.0, hip_y - _THIGH_L / 2)
            self._add(thigh, [thigh_shape], no_self)

            calf = pymunk.Body()
            calf_shape = pymunk.Segment(calf, (0.0, _CALF_L / 2), (0.0, -_CALF_L / 2), _CALF_R)
            foot = pymunk.Segment(calf, (-_FOOT_BACK, -_CALF_L / 2), (_FOOT_FRONT, -_CALF_L / 2), _FOOT_R)
            calf_shape.mass, foot.mass = _CALF_M, _FOOT_M
            calf.position = (0.0, ankle_y + _CALF_L / 2)
            self._add(calf, [calf_shape, foot], no_self)

            hip_joint = pymunk.PivotJoint(self.torso, thigh, (0.0, hip_y))
            knee_joint = pymunk.PivotJoint(thigh, calf, (0.0, knee_y))
            # RotaryLimitJoint bounds b.angle - a.angle: thigh - torso = hip angle,
            # calf - thigh = -knee flexion.
            hip_limit = pymunk.RotaryLimitJoint(self.torso, thigh, *_HIP_LIMITS)
            knee_limit = pymunk.RotaryLimitJoint(thigh, calf, -_KNEE_LIMITS[1], -_KNEE_LIMITS[0])
            hip_motor = pymunk.SimpleMotor(self.torso, thigh, 0.0)
            knee_motor = pymunk.SimpleMotor(thigh, calf, 0.0)
            hip_motor.max_force = params.hip_torque  # for a motor, max_force caps the torque
            knee_motor.max_force = params.knee_torque
            space.add(hip_joint, knee_joint, hip_limit, knee_limit, hip_motor, knee_motor)
            self.legs.append((thigh, calf, hip_motor, knee_motor))

    def _add(self, body, shapes, shape_filter) -> None:
        for s in shapes:
            s.filter = shape_filter
            s.friction = self.params.friction
        self.space.add(body, *shapes)

    def points(self) -> np.ndarray:
        """World coordinates of `POINT_NAMES`, shape (11, 2)."""
        t = self.torso
        pts = [t.local_to_world((0.0, _TORSO_H / 2 + _HEAD_R)), t.local_to_world((0.0, _TORSO_H / 2)),
               t.local_to_world((0.0, -_TORSO_H / 2))]
        for thigh, calf, _, _ in self.legs:
            pts += [thigh.local_to_world((0.0, -_THIGH_L / 2)), calf.local_to_world((0.0, -_CALF_L / 2)),
                    calf.local_to_world((-_FOOT_BACK, -_CALF_L / 2)), calf.local_to_world((_FOOT_FRONT, -_CALF_L / 2))]
        return np.array([(p.x, p.y) for p in pts])

    def bodies(self):
        (lt, lc, _, _), (rt, rc, _, _) = self.legs
        return (self.torso, lt, lc, rt, rc)

    def fallen(self) -> bool:
        angle = self.torso.angle
        if abs(angle) > self.params.max_torso_tilt:
            return True
        c, s = abs(math.cos(angle)), abs(math.sin(angle))
        y = self.torso.position.y
        torso_bottom = y - (_TORSO_H / 2 * c + _TORSO_W / 2 * s)
        head_bottom = y + (_TORSO_H / 2 + _HEAD_R) * math.cos(angle) - _HEAD_R
        return min(torso_bottom, head_bottom) <= _GROUND_Y + 1e-3


def simulate(plan, *, seconds: float = DEFAULT_SECONDS, record: bool = False, record_every: int = 4,
             params: WalkerParams = DEFAULT_PARAMS) -> WalkResult:
    """Run the ragdoll with `plan` for up to `seconds` of simulated time.

    Args:
        plan: 40 numbers in [-1, 1] (see the module docstring for how they drive the joints).
        seconds: time limit of the run, simulated seconds (rounded down to whole steps).
        record: keep frames of the body's pose (for drawing).
        record_every: physics steps between recorded frames (4 steps = 30 frames per second).
        params: physical and control constants.

    Returns:
        A `WalkResult`; `result.distance` is the objective.
    """
    targets = joint_targets(plan, params)  # (20, 4): left hip, left knee, right hip, right knee
    if not (isinstance(seconds, numbers.Real) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds={seconds!r} must be a positive finite number")
    if not (isinstance(record_every, numbers.Integral) and record_every >= 1):
        raise ValueError(f"record_every={record_every!r} must be a positive integer")
    n_steps = int(math.floor(seconds / params.dt + 1e-9))
    runner = _Runner(params)
    torso = runner.torso
    (lt, lc, lhm, lkm), (rt, rc, rhm, rkm) = runner.legs
    rows = targets.tolist()
    gain, vmax, dt = params.gain, params.max_joint_speed, params.dt
    step_fn = runner.space.step
    x0 = torso.position.x

    frames = {"t": [], "points": [], "positions": [], "angles": []} if record else None

    def snapshot(step: int) -> None:
        frames["t"].append(step * dt)
        frames["points"].append(runner.points())
        bodies = runner.bodies()
        frames["positions"].append([(b.position.x, b.position.y) for b in bodies])
        frames["angles"].append([b.angle for b in bodies])

    fell = False
    step = 0
    if record:
        snapshot(0)
    while step < n_steps:
        lh, lk, rh, rk = rows[(step // params.steps_per_phase) % N_PHASES]
        a_t, a_lt, a_lc, a_rt, a_rc = torso.angle, lt.angle, lc.angle, rt.angle, rc.angle
        # A SimpleMotor drives b.w - a.w towards -rate; hip angle = thigh - torso,
        # knee flexion = thigh - calf.
        lhm.rate = -_clip(gain * (lh - (a_lt - a_t)), vmax)
        rhm.rate = -_clip(gain * (rh - (a_rt - a_t)), vmax)
        lkm.rate = _clip(gain * (lk - (a_lt - a_lc)), vmax)
        rkm.rate = _clip(gain * (rk - (a_rt - a_rc)), vmax)
        step_fn(dt)
        step += 1
        if record and step % record_every == 0:
            snapshot(step)
        if runner.fallen():
            fell = True
            break
    if record and (step % record_every != 0):
        snapshot(step)
    if frames is not None:
        frames = {k: np.asarray(v, dtype=np.float64) for k, v in frames.items()}
    return WalkResult(distance=float(torso.position.x - x0), fell=fell, time=step * dt, steps=step, frames=frames)


def _clip(value: float, bound: float) -> float:
    return bound if value > bound else (-bound if value < -bound else value)


def distance(plan, *, seconds: float = DEFAULT_SECONDS, params: WalkerParams = DEFAULT_PARAMS) -> float:
    """The objective: torso distance covered by `plan` (metres); `simulate(plan).distance`.

    A module-level function, so `functools.partial(distance, seconds=...)` can be
    sent to worker processes.
    """
    return simulate(plan, seconds=seconds, params=params).distance
