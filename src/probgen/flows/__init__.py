"""Flow matching and rectified flow (t = 0 noise, t = 1 data; the reverse of `probgen.diffusion.sde`).

- `matching`: `FlowMatching` (straight-line conditional flow matching; `loss`, `velocity`, `sample` with Euler or
  Heun, `pair_dataset` for reflow) and its result `FlowSample`.
- `straightness`: `straightness` (Liu et al.'s measure, `PathStraightness`) and `euler_jump_error`, from the
  per-sample `path_energies` and `euler_jump_norms`.
- `verdicts`: the chapter's sentences that compare results, worded from the numbers and their uncertainty.
"""

from .matching import METHODS, FlowMatching, FlowSample
from .straightness import PathStraightness, euler_jump_error, euler_jump_norms, path_energies, straightness

__all__ = ["FlowMatching", "FlowSample", "METHODS", "PathStraightness", "euler_jump_error", "euler_jump_norms",
           "path_energies", "straightness"]
