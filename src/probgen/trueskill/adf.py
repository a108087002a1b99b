"""Assumed density filtering: rate players from a sequence of matches, predicting each one first."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..runtime import progress as progress_bar
from .gaussian import Gaussian, outcome_probabilities
from .gibbs import gaussian_from_samples, gibbs_sample
from .message_passing import margin_update, moment_matching_update

METHODS = ("moment_matching", "gibbs")
REQUIRED_COLUMNS = ("player1", "player2", "outcome")


@dataclass
class ADFResult:
    """Final ratings and the one-step-ahead predictions made before each update."""

    ratings: dict
    predictions: pd.DataFrame
    n_matches: dict = field(default_factory=dict)

    def ranking_table(self) -> pd.DataFrame:
        """Players sorted by posterior mean: player, mean, var, std, conservative (mean - 3 std), n_matches."""
        rows = [{"player": p, "mean": g.mean, "var": g.var, "std": g.std, "conservative": g.mean - 3 * g.std,
                 "n_matches": self.n_matches.get(p, 0)} for p, g in self.ratings.items()]
        return pd.DataFrame(rows).sort_values("mean", ascending=False, kind="mergesort").reset_index(drop=True)

    def accuracy(self, exclude_draws: bool = True) -> float:
        """Fraction of matches whose winner was predicted (draws excluded by default)."""
        pred = self.predictions
        if exclude_draws:
            pred = pred[pred["outcome"] != 0]
        if len(pred) == 0:
            raise ValueError("no matches to score")
        return float((pred["predicted"] == pred["outcome"]).mean())


def adf(matches: pd.DataFrame, method: str = "moment_matching", *, prior_mean: float = 25.0,
        prior_var: float = (25.0 / 3.0) ** 2, perf_var: float = (25.0 / 6.0) ** 2, draw_margin: float = 0.0,
        advantage: float = 0.0, skip_draws: bool = True, margin_width: float = 0.0, margin_cap: int | None = None,
        n_samples: int = 1000, burn_in: int = 50, seed: int = 0, progress: bool = False) -> ADFResult:
    """Filter skills through `matches` in order.

    For each match: first predict it from the current beliefs (outcome probabilities
    and a predicted winner: player 1 iff p_win1 >= p_win2, so ties go to player 1,
    the home team / White), then update both players' Gaussians with the posterior
    of that match alone (moment matching, or a Gaussian fitted to Gibbs samples).

    Args:
        matches: DataFrame with player1, player2, outcome (+1 / -1 / 0 draw), in order.
        method: "moment_matching" or "gibbs".
        draw_margin: eps > 0 models draws as |t| < eps; with skip_draws=False draws then update.
        advantage: h added to s1 - s2 (home / White advantage).
        skip_draws: draws do not update the ratings (the base model); must be True if draw_margin == 0.
        margin_width: w > 0 switches to the score-margin model (moment matching only): `matches` needs a
            `margin` column (player 1's score minus player 2's, same sign as outcome), each match
            updates with t in `margin_interval(margin, w, margin_cap)`, and draws (|t| < w/2) update
            too, so pass skip_draws=False and leave draw_margin at 0 (the model's draw margin is w/2).
        margin_cap: margins of at least this size share one open-ended bin (None: no cap).
        n_samples, burn_in, seed: Gibbs settings (method="gibbs"); match k uses seed + k.
    Returns:
        ADFResult with ratings, predictions (one row per match; n_prev1 and n_prev2 count the
        updates each player had before it) and games played per player.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not allowed; choose one of {METHODS}")
    missing = [c for c in REQUIRED_COLUMNS if c not in matches.columns]
    if missing:
        raise ValueError(f"matches lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)}")
    outcomes = matches["outcome"].to_numpy()
    bad = ~np.isin(outcomes, (-1, 0, 1))
    if bad.any():
        raise ValueError(f"outcome must be +1, -1 or 0; row {int(np.argmax(bad))} has {outcomes[bad][0]!r}")
    margins = _checked_margins(matches, outcomes, method, draw_margin, skip_draws, margin_width, margin_cap)
    if margins is not None:
        draw_margin = margin_width / 2  # the margin model's draw bin: predictions use it
    elif not skip_draws and draw_margin <= 0:
        raise ValueError("updating on draws (skip_draws=False) needs a draw model: set draw_margin > 0")
    prior = Gaussian(prior_mean, prior_var)
    ratings: dict = defaultdict(lambda: prior)
    played: dict = defaultdict(int)
    rows = []
    iterator = zip(matches["player1"].to_numpy(), matches["player2"].to_numpy(), outcomes.astype(int))
    iterator = progress_bar(iterator, total=len(matches), desc=f"ADF ({method})", enabled=progress)
    for k, (a, b, y) in enumerate(iterator):
        if a == b:
            raise ValueError(f"match {k}: a player cannot play themself ({a!r})")
        pa, pb = ratings[a], ratings[b]
        win1, draw, win2 = outcome_probabilities(pa, pb, perf_var, draw_margin, advantage)
        predicted = 1 if win1 >= win2 else -1
        rows.append((a, b, y, win1, draw, win2, predicted, played[a], played[b]))
        if y == 0 and skip_draws:
            continue
        if margins is not None:
            new_a, new_b = margin_update(pa, pb, int(margins[k]), perf_var, margin_width=margin_width,
                                         margin_cap=margin_cap, advantage=advantage)
        elif method == "moment_matching":
            new_a, new_b = moment_matching_update(pa, pb, y, perf_var, draw_margin=draw_margin, advantage=advantage)
        else:
            s1, s2, _ = gibbs_sample(pa, pb, y, perf_var, n_samples=n_samples, burn_in=burn_in, seed=seed + k,
                                     draw_margin=draw_margin, advantage=advantage)
            new_a, new_b = gaussian_from_samples(s1), gaussian_from_samples(s2)
        ratings[a], ratings[b] = new_a, new_b
        played[a] += 1
        played[b] += 1
    predictions = pd.DataFrame(rows, columns=["player1", "player2", "outcome", "p_win1", "p_draw", "p_win2",
                                              "predicted", "n_prev1", "n_prev2"])
    return ADFResult(ratings=dict(ratings), predictions=predictions, n_matches=dict(played))


def _checked_margins(matches: pd.DataFrame, outcomes: np.ndarray, method: str, draw_margin: float, skip_draws: bool,
                     margin_width: float, margin_cap: int | None) -> np.ndarray | None:
    """The `margin` column as integers when the margin model is on (margin_width > 0), else None."""
    if margin_width == 0:
        return None
    if not (np.isfinite(margin_width) and margin_width > 0):
        raise ValueError(f"margin_width must be >= 0 and finite (0: no margin model), got {margin_width!r}")
    if method != "moment_matching":
        raise ValueError(f"the margin model is implemented for method='moment_matching' only, got {method!r}")
    if draw_margin != 0:
        raise ValueError("with margin_width > 0 the draw margin is margin_width / 2; leave draw_margin at 0")
    if skip_draws:
        raise ValueError("the margin model updates on every match (a draw is margin 0): pass skip_draws=False")
    if "margin" not in matches.columns:
        raise ValueError("margin_width > 0 needs a 'margin' column (player 1's score minus player 2's)")
    margins = matches["margin"].to_numpy()
    if not np.all(np.asarray(margins, dtype=float) == np.round(np.asarray(margins, dtype=float))):
        raise ValueError("the 'margin' column must hold integers (score differences)")
    margins = margins.astype(int)
    wrong = np.sign(margins) != outcomes
    if wrong.any():
        k = int(np.argmax(wrong))
        raise ValueError(f"row {k}: margin {margins[k]} disagrees with outcome {outcomes[k]} (signs must match)")
    if margin_cap is not None and (int(margin_cap) != margin_cap or margin_cap < 1):
        raise ValueError(f"margin_cap must be a positive integer or None, got {margin_cap!r}")
    return margins
