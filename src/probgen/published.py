"""Published reference numbers set beside ours on the results page.

Each entry names the chapter and the headline number of ours it is compared with (`Results.headline`), the
published value (a mean with its standard error, a range, or a bound), where it comes from, and what differs
between their setting and ours. The verdict ("better", "equal", "worse"; for a bound "meets", "misses",
"cannot tell") is computed from our number's standard error by `judge`, so it is true for whatever profile the
book was built from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .reporting import versus_reference
from .stats import Estimate

EXERCISES = "EXERCISES.md"
GP_ANSWER = "public answer to the GP exercise (issue 19)"


@dataclass(frozen=True)
class Published:
    """One published number.

    Exactly one of: `value` (with `se`, 0 when the source gives none), `low`/`high` (a range: published values
    that differ by setting, or a number rounded to its last digit), `bound` (a target: "< 104" is
    bound=104, better="lower").
    """

    chapter: str
    headline: str
    better: str  # "higher" or "lower"
    source: str
    differs: str
    value: float | None = None
    se: float = 0.0
    low: float | None = None
    high: float | None = None
    bound: float | None = None
    shown: str | None = None  # how the source writes it, when that differs from the parsed number

    def __post_init__(self) -> None:
        kinds = [self.value is not None, self.low is not None or self.high is not None, self.bound is not None]
        if sum(kinds) != 1:
            raise ValueError(f"{self.chapter}/{self.headline}: give exactly one of value, low/high or bound")
        if (self.low is None) != (self.high is None) or (self.low is not None and self.low > self.high):
            raise ValueError(f"{self.chapter}/{self.headline}: a range needs low <= high, got {self.low}, {self.high}")
        if self.better not in ("higher", "lower"):
            raise ValueError(f"{self.chapter}/{self.headline}: better={self.better!r} must be 'higher' or 'lower'")

    @property
    def text(self) -> str:
        """The published number as the results page shows it."""
        if self.shown is not None:
            return self.shown
        if self.bound is not None:
            return f"{'<' if self.better == 'lower' else '>'} {self.bound:g}"
        if self.low is not None:
            return f"{self.low:g} to {self.high:g}"
        return f"{self.value:g}" + (f" ± {1.96 * self.se:.2g}" if self.se > 0 else "")


def rounded(chapter: str, headline: str, shown: float, decimals: int, **kw) -> Published:
    """A published number given to `decimals` places: the range of values that round to it."""
    half = 0.5 * 10.0 ** -decimals
    return Published(chapter, headline, low=shown - half, high=shown + half, shown=f"{shown:.{decimals}f}", **kw)


_VAE_DIFFERS = "5 runs of 'tens of epochs' there; our seeds and epochs are in the label"
_FID_DIFFERS = "same classifier architecture, other weights: only roughly comparable"

REFERENCES: tuple[Published, ...] = (
    Published("01_vae_basics", "reference_val_neg_elbo", "lower", EXERCISES + ": 784-400-20 VAE, 20 epochs",
              "theirs a validation −ELBO, ours the test −ELBO", bound=104.0),
    Published("01_vae_priors", "elbo_gaussian", "higher", EXERCISES + ": public coursework, mean of 5 runs",
              _VAE_DIFFERS, value=-88.8, se=0.7 / math.sqrt(5), shown="-88.8 (std 0.7 over 5 runs)"),
    Published("01_vae_priors", "elbo_mog", "higher", EXERCISES + ": public coursework, mean of 5 runs",
              _VAE_DIFFERS, value=-88.2, se=0.7 / math.sqrt(5), shown="-88.2 (std 0.7 over 5 runs)"),
    Published("01_vae_priors", "elbo_flow", "higher", EXERCISES + ": public coursework, mean of 5 runs",
              _VAE_DIFFERS, value=-88.1, se=0.4 / math.sqrt(5), shown="-88.1 (std 0.4 over 5 runs)"),
    Published("02_ddpm", "ddpm_fid", "lower", EXERCISES + ": coursework FID at N = 1000", _FID_DIFFERS, value=37.0),
    Published("03_latent_ddpm", "vae_prior_fid", "lower", EXERCISES + ": coursework FID of a VAE at N = 1000",
              _FID_DIFFERS + "; ours the β-VAE in the label", value=42.0),
    Published("03_latent_ddpm", "latent_fid", "lower", EXERCISES + ": coursework latent DDPM, N = 1000, over β",
              _FID_DIFFERS + "; their range spans β, ours is our best β", low=82.0, high=153.0),
    *(rounded("08_gp_noisy_inputs", f"{key}_lml_headline", shown, 1, better="higher", source=GP_ANSWER + what,
              differs="same data and model; one decimal given")
      for key, shown, what in (("B1a", -15.8, ""), ("B1b", -26.2, ""), ("B1c", 10.0, ""),
                               ("B2", 0.7, " (first-order Taylor model)"))),
    Published("09_trueskill", "serie_a_accuracy_mp", "higher", EXERCISES + ": public answers, draws excluded",
              "same 272 decisive matches; their range spans their settings",
              low=0.654, high=0.662),
    Published("09_trueskill", "serie_a_home_always", "higher", EXERCISES + ": the home team always wins",
              "same 272 decisive matches: should agree exactly", value=0.610),
)


def judge(ours: Estimate, ref: Published, z: float = 1.96) -> str:
    """Our estimate against a published number: "better", "equal" or "worse" (a range counts as equal when
    our interval meets it); against a bound "meets", "misses" or "cannot tell"."""
    sign = 1 if ref.better == "higher" else -1
    lo, hi = ours.interval(z)
    if ref.bound is not None:
        if (sign > 0 and lo > ref.bound) or (sign < 0 and hi < ref.bound):
            return "meets"
        if (sign > 0 and hi <= ref.bound) or (sign < 0 and lo >= ref.bound):
            return "misses"
        return "cannot tell"
    if ref.low is not None:
        if hi < ref.low:
            return "better" if sign < 0 else "worse"
        if lo > ref.high:
            return "better" if sign > 0 else "worse"
        return "equal"
    return versus_reference(ours, Estimate(ref.value, ref.se), quantity="", better=ref.better, z=z).word


def published_table(runs: list[dict]):
    """One row per published reference: our number (± 1.96 se) from this build, theirs, the verdict, the source
    and what differs. `runs` comes from `reporting.chapter_runs`; a reference whose chapter or headline this
    build lacks says so."""
    import pandas as pd

    by_chapter = {r["chapter"]: r for r in runs}
    rows = []
    for ref in REFERENCES:
        run = by_chapter.get(ref.chapter)
        head = ((run or {}).get("payload") or {}).get("headlines", {}).get(ref.headline)
        if head is None or not isinstance(head.get("value"), (int, float)) or not math.isfinite(head["value"]):
            ours, verdict, label = "–", "not in this build", ref.headline
        else:
            est = Estimate(head["value"], head.get("se") or 0.0)
            ours = head["text"] + (f" ± {head['interval']}" if head.get("interval") else "")
            verdict, label = judge(est, ref), head["label"]
        rows.append({"chapter": ref.chapter, "quantity": label, "ours": ours, "published": ref.text,
                     "ours vs published": verdict, "source": ref.source, "what differs": ref.differs})
    return pd.DataFrame(rows)
