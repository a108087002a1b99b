"""A deterministic 2-D ragdoll runner on pymunk: ``distance = simulate(plan).distance``.

See `probgen.walker.sim` for the body, the controller and exactly how the 40
numbers of a plan drive the joints.
"""

from .draw import animate, draw_pose, frame_panels, frame_strip, render_frames
from .sim import (BODY_NAMES, DEFAULT_PARAMS, DEFAULT_SECONDS, N_PHASES, PLAN_SIZE, POINT_NAMES, WalkerParams,
                  WalkResult, check_plan, distance, joint_targets, simulate)

__all__ = [
    "simulate", "distance", "check_plan", "joint_targets", "WalkerParams", "WalkResult", "DEFAULT_PARAMS",
    "DEFAULT_SECONDS", "N_PHASES", "PLAN_SIZE", "POINT_NAMES", "BODY_NAMES",
    "draw_pose", "frame_strip", "frame_panels", "render_frames", "animate",
]
