"""When diffusion struggles: toy data with a difficulty knob, and memorization of small training sets.

- `toy`: DDPM and flow matching (a `TimeMLP`) on the 2-D sets of `probgen.data.toy2d`; `ToyStudyConfig`,
  `run_sweep` (family × difficulty × model × seed) and `run_remedies` (sampler steps, schedule,
  training length, width at one difficulty).
- `memorize`: MNIST DDPMs on training subsets of growing size and capacity, with snapshots along
  training; `MemorizationStudyConfig`, `run_memorization`, `snapshot_rows`, `onset_step`.
- `verdicts`: the chapter's sentences, computed from its tables and their spread over seeds
  (`toy_verdicts`, `remedy_verdicts`, `sampler_verdict`, `trend`, `onset_trend`, `control_sentence`).
"""

from . import memorize, toy, verdicts
from .memorize import MemorizationStudyConfig, run_memorization
from .toy import ToyModelConfig, ToyStudyConfig, run_remedies, run_sweep, toy_row, train_toy, truth_row

__all__ = ["MemorizationStudyConfig", "memorize", "verdicts", "run_memorization", "ToyModelConfig", "ToyStudyConfig", "run_remedies", "run_sweep", "toy", "toy_row", "train_toy",
           "truth_row"]
