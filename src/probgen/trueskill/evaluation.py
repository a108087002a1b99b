"""Scoring one-step-ahead predictions: per-match scores, paired comparisons with their
standard errors, verdict sentences computed from them, and calibration tables.

Every function takes an ADF predictions table (columns outcome, p_win1, p_draw, p_win2)
or plain arrays, so the notebook only calls and plots. The sentences that compare two
models are worded by `probgen.reporting.compare` (the one wording of the book); this
module supplies the estimates (binomial for accuracies, paired over the same matches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..reporting import Verdict, compare
from ..stats import Estimate, binomial_estimate, wilson_interval

PREDICTION_COLUMNS = ("outcome", "p_win1", "p_draw", "p_win2")


def prediction_columns(pred: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in PREDICTION_COLUMNS if c not in pred.columns]
    if missing:
        raise ValueError(f"predictions lack column(s) {missing}; pass the `predictions` table of an ADF result")
    return (pred["p_win1"].to_numpy(float), pred["p_draw"].to_numpy(float), pred["p_win2"].to_numpy(float),
            pred["outcome"].to_numpy(int))


def log_prob_observed(pred: pd.DataFrame, *, three_way: bool) -> np.ndarray:
    """log p(what happened) per match.

    three_way=True: log of the probability given to win, draw or loss (one value per match;
    a model without draws gives a draw probability 0, so use it only for draw models).
    three_way=False: decisive matches only, with the win probability renormalised over
    win/loss, log(p_win / (p_win1 + p_win2)) (one value per decisive match), which puts
    models with and without draws on one scale.
    """
    p1, pdraw, p2, y = prediction_columns(pred)
    if three_way:
        p = np.select([y == 1, y == 0], [p1, pdraw], p2)
        return np.log(np.maximum(p, np.finfo(float).tiny))
    decisive = y != 0
    p_obs = np.where(y == 1, p1, p2) / (p1 + p2)
    return np.log(np.maximum(p_obs[decisive], np.finfo(float).tiny))


def correct_winner(pred: pd.DataFrame) -> np.ndarray:
    """1.0 where the winner of a decisive match was predicted (player 1 iff p_win1 >= p_win2), else 0.0;
    one value per decisive match."""
    p1, _, p2, y = prediction_columns(pred)
    decisive = y != 0
    guess = np.where(p1 >= p2, 1, -1)
    return (guess[decisive] == y[decisive]).astype(float)


def decisive_win_probability(pred: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(p, y) over the decisive matches: p = p_win1 / (p_win1 + p_win2), the predicted probability that
    player 1 wins given that someone wins (p(y = +1) itself for a model without draws), and y = 1 where
    player 1 won, 0 where player 2 did."""
    p1, _, p2, y = prediction_columns(pred)
    decisive = y != 0
    return (p1 / (p1 + p2))[decisive], (y[decisive] == 1).astype(int)


def mean_and_se(x) -> tuple[float, float]:
    """Sample mean and its standard error std(x, ddof=1) / sqrt(n); for 0/1 values this is the
    binomial standard error sqrt(p (1 - p) / (n - 1))."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need a 1-D array of at least 2 values, got shape {x.shape}")
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0.0) | (x == 1.0)))


@dataclass(frozen=True)
class PairedDifference:
    """Two models scored on the same matches: means, standard errors and the paired difference a - b.

    For 0/1 scores (a prediction right or wrong) se_a and se_b are binomial standard errors
    (`probgen.stats.binomial_estimate`); otherwise the standard errors of the means. The difference's
    standard error is that of the per-match differences, which accounts for the two models being right
    or wrong on the same matches.
    """

    name_a: str
    name_b: str
    quantity: str
    mean_a: float
    se_a: float
    mean_b: float
    se_b: float
    diff: float
    se_diff: float
    n: int
    items: str = "matches"  # what the N counts, for the sentence ("matches", "games")

    def verdict(self, digits: int = 3) -> Verdict:
        """The comparison, higher being better, worded by `reporting.compare` (± is 1.96 standard errors)."""
        return compare(Estimate(self.mean_a, self.se_a), Estimate(self.mean_b, self.se_b),
                       names=(self.name_a, self.name_b), quantity=self.quantity, better="higher",
                       fmt=f"{{:.{digits}f}}", difference=Estimate(self.diff, self.se_diff),
                       tie=f"on these N = {self.n} {self.items}")

    @property
    def resolved(self) -> bool:
        """True when |a - b| exceeds 1.96 standard errors of the paired difference."""
        return self.verdict().sign != 0

    def sentence(self, digits: int = 3) -> str:
        """The verdict as a sentence: which model is better and by how much, or that the two cannot be told
        apart on these N matches."""
        return self.verdict(digits).sentence


def paired_difference(a, b, *, names: tuple[str, str], quantity: str, items: str = "matches") -> PairedDifference:
    """Compare per-match scores `a` and `b` of two models on the same matches (higher is better).

    The standard error of the difference is that of the paired differences a_i - b_i, which
    accounts for the two models being right or wrong on the same matches. Scores that are all
    0 or 1 (hits) get binomial standard errors for their means.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same matches: shapes {a.shape} and {b.shape}")
    ma, sa = mean_and_se(a)
    mb, sb = mean_and_se(b)
    if _is_binary(a) and _is_binary(b):
        ea, eb = binomial_estimate(int(a.sum()), len(a)), binomial_estimate(int(b.sum()), len(b))
        sa, sb = ea.se, eb.se
    d, sd = mean_and_se(a - b)
    return PairedDifference(names[0], names[1], quantity, ma, sa, mb, sb, d, sd, len(a), items)


def accuracy(pred: pd.DataFrame) -> Estimate:
    """The share of decisive matches whose winner was predicted, with its binomial standard error."""
    hits = correct_winner(pred)
    if len(hits) == 0:
        raise ValueError("no decisive matches to score")
    return binomial_estimate(int(hits.sum()), len(hits))


def home_always_correct(pred: pd.DataFrame) -> np.ndarray:
    """1.0 where player 1 (the home team / White) won, else 0.0: the hits of "player 1 always wins", one value
    per decisive match, in the order of `correct_winner`."""
    _, _, _, y = prediction_columns(pred)
    return (y[y != 0] == 1).astype(float)


def compare_predictions(pred_a: pd.DataFrame, pred_b: pd.DataFrame, *, names: tuple[str, str],
                        items: str = "matches") -> dict:
    """Accuracy on decisive matches and mean three-way predictive log-likelihood of two draw-aware models
    that predicted the same matches; {"accuracy": PairedDifference, "log_lik": PairedDifference}."""
    if not np.array_equal(pred_a["outcome"].to_numpy(), pred_b["outcome"].to_numpy()):
        raise ValueError("the two prediction tables are not of the same matches (outcomes differ)")
    return {
        "accuracy": paired_difference(correct_winner(pred_a), correct_winner(pred_b), names=names,
                                      quantity="accuracy", items=items),
        "log_lik": paired_difference(log_prob_observed(pred_a, three_way=True),
                                     log_prob_observed(pred_b, three_way=True), names=names,
                                     quantity="mean predictive log-likelihood", items=items),
    }


def calibration_table(p, y, n_bins: int = 10, *, level: float = 0.95) -> pd.DataFrame:
    """Reliability of predicted probabilities: equal-width bins of p on [0, 1] (the last bin closed).

    Args:
        p: predicted probabilities of the event, shape (n,).
        y: 1 where the event happened, 0 where not, shape (n,).
        n_bins: number of bins; empty bins are left out of the table.
        level: coverage of the Wilson binomial interval of each bin's frequency.
    Returns:
        One row per non-empty bin: lower, upper (bin edges), n, events, frequency (events / n),
        mean_p (mean prediction in the bin), freq_lo, freq_hi (Wilson interval), and contains_mean_p
        (whether the interval contains mean_p, i.e. the bin is consistent with calibration).
    """
    p, y = np.asarray(p, dtype=float), np.asarray(y)
    if p.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"p and y must be 1-D of one length, got shapes {p.shape} and {y.shape}")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("p must hold probabilities in [0, 1]")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("y must hold 0/1 (did the event happen?)")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # bin k holds edges[k] <= p < edges[k+1]; p = 1 goes to the last bin
    idx = np.minimum(np.searchsorted(edges, p, side="right") - 1, n_bins - 1)
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for k in range(int(n_bins)):
        inside = idx == k
        n = int(inside.sum())
        if n == 0:
            continue
        events = int(y[inside].sum())
        lo, hi = wilson_interval(events, n, z)
        mean_p = float(p[inside].mean())
        rows.append({"lower": edges[k], "upper": edges[k + 1], "n": n, "events": events, "frequency": events / n,
                     "mean_p": mean_p, "freq_lo": lo, "freq_hi": hi, "contains_mean_p": lo <= mean_p <= hi})
    return pd.DataFrame(rows)


def calibration_sentence(table: pd.DataFrame, level: float = 0.95) -> str:
    """How many bins' intervals contain their mean prediction, as a sentence."""
    k, n = int(table["contains_mean_p"].sum()), len(table)
    pct = f"{100 * level:.0f}%"
    if k == n:
        return f"the {pct} interval of every one of the {n} bins contains the bin's mean prediction"
    return (f"the {pct} intervals of {k} of the {n} bins contain the bin's mean prediction "
            f"(about {level * n:.1f} expected of a calibrated model)")
