"""The experiments of the TrueSkill chapter, configured by profile.

The notebook calls these functions; each returns plain tables (pandas) so the
notebook only plots and comments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..runtime import ConfigError, ProfileConfig
from . import evaluation
from .adf import adf
from .gaussian import Gaussian, conditional_skills, conditional_t, win_probability
from .gibbs import gibbs_sample, gaussian_from_samples
from .message_passing import moment_matching_update


@dataclass(frozen=True)
class TrueSkillConfig(ProfileConfig):
    """Sizes of the TrueSkill chapter's experiments (skills on the usual 25 ± 25/3 scale)."""

    PROFILES = {
        "smoke": dict(advantage_grid=(0.0, 1.5), draw_margin_grid=(1.0,), margin_width_grid=(2.0, 4.0),
                      gibbs_samples=2_000, sample_sizes=(100, 1_000), timing_repeats=2, adf_gibbs_samples=300,
                      n_shuffles=3, validation_samples=200_000, chess_max_games=3_000),
        "quick": dict(advantage_grid=(0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0), draw_margin_grid=(0.25, 0.5, 1.0, 1.5, 2.0, 3.0),
                      gibbs_samples=20_000, sample_sizes=(100, 300, 1_000, 3_000, 10_000), timing_repeats=5,
                      adf_gibbs_samples=2_000, n_shuffles=20, validation_samples=2_000_000, chess_max_games=None),
        "full": dict(advantage_grid=tuple(np.round(np.arange(0.0, 5.01, 0.25), 2)),
                     draw_margin_grid=tuple(np.round(np.arange(0.25, 4.01, 0.25), 2)),
                     margin_width_grid=tuple(np.round(np.arange(0.5, 8.01, 0.5), 2)), gibbs_samples=100_000, sample_sizes=(100, 300, 1_000, 3_000, 10_000, 30_000, 100_000),
                     timing_repeats=10, adf_gibbs_samples=10_000, n_shuffles=100, validation_samples=10_000_000,
                     chess_max_games=None),
    }

    prior_mean: float = 25.0
    prior_var: float = (25.0 / 3.0) ** 2
    perf_var: float = (25.0 / 6.0) ** 2
    gibbs_samples: int = 2_000  # one-match study, after burn-in
    burn_in: int = 50  # justified in the notebook by traces from a far-off start
    sample_sizes: tuple = (100, 1_000)  # samples-vs-time study
    timing_repeats: int = 2
    adf_gibbs_samples: int = 300  # per match, inside ADF
    n_shuffles: int = 3
    validation_samples: int = 200_000  # Monte Carlo checks of the closed forms
    chess_min_games: int = 5  # players with fewer rated games are dropped
    chess_max_games: int | None = 3_000  # None: every game
    advantage_grid: tuple = (0.0, 1.0, 2.0, 3.0)  # home/White advantage h, skill points
    draw_margin_grid: tuple = (0.5, 1.0, 2.0)  # draw margin epsilon, skill points
    margin_width_grid: tuple = (1.0, 2.0, 3.0, 4.0, 6.0)  # score-margin bin width w, skill points
    serie_a_margin_cap: int = 3  # goal differences of 3 or more share the top bin
    calibration_bins: int = 10  # equal-width bins of predicted p(home win) on [0, 1]

    def validate(self) -> None:
        for name in ("prior_var", "perf_var"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be positive")
        for name in ("gibbs_samples", "timing_repeats", "adf_gibbs_samples", "n_shuffles", "validation_samples",
                     "chess_min_games"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be at least 1")
        if self.burn_in < 0:
            raise ConfigError(f"burn_in={self.burn_in!r} must be >= 0")
        if not self.margin_width_grid or min(self.margin_width_grid) <= 0:
            raise ConfigError(f"margin_width_grid={self.margin_width_grid!r} must be a non-empty tuple of positive widths")
        if int(self.serie_a_margin_cap) != self.serie_a_margin_cap or self.serie_a_margin_cap < 1:
            raise ConfigError(f"serie_a_margin_cap={self.serie_a_margin_cap!r} must be a positive integer")
        if int(self.calibration_bins) != self.calibration_bins or self.calibration_bins < 1:
            raise ConfigError(f"calibration_bins={self.calibration_bins!r} must be a positive integer")

    @property
    def prior(self) -> Gaussian:
        return Gaussian(self.prior_mean, self.prior_var)


def validate_conditionals(p1: Gaussian, p2: Gaussian, perf_var: float, n: int, seed: int) -> pd.DataFrame:
    """Closed forms of the chapter against Monte Carlo on the joint model.

    Draws (s1, s2, t) from the joint prior and compares: p(y=+1); the moments of
    p(s1, s2 | t, y) (t in a thin window around t0); and the moments of
    p(t | s1, s2, y=+1) (s near s0 and t > 0).
    """
    rng = np.random.default_rng(seed)
    s1 = rng.normal(p1.mean, p1.std, n)
    s2 = rng.normal(p2.mean, p2.std, n)
    t = rng.normal(s1 - s2, np.sqrt(perf_var))
    rows = []

    p_mc = np.mean(t > 0)
    se = np.sqrt(p_mc * (1 - p_mc) / n)
    rows.append(("p(y=+1)", win_probability(p1, p2, perf_var), p_mc, se))

    t0 = 2.0
    near = np.abs(t - t0) < 0.1
    mean, cov = conditional_skills(t0, p1, p2, perf_var)
    k = near.sum()
    for i, (name, xs) in enumerate((("E[s1 | t]", s1[near]), ("E[s2 | t]", s2[near]))):
        rows.append((name + f", t={t0}", mean[i], xs.mean(), xs.std() / np.sqrt(k)))
    rows.append((f"Var[s1 | t], t={t0}", cov[0, 0], s1[near].var(), s1[near].var() * np.sqrt(2 / k)))
    rows.append((f"Cov[s1, s2 | t], t={t0}", cov[0, 1], np.cov(s1[near], s2[near])[0, 1], s1[near].var() * np.sqrt(2 / k)))

    s0 = (27.0, 24.0)
    close = (np.abs(s1 - s0[0]) < 0.5) & (np.abs(s2 - s0[1]) < 0.5) & (t > 0)
    # Within the window s1 - s2 varies by ±1, so the Monte Carlo t is drawn at the
    # window's own (s1 - s2); compare with the truncated Gaussian at the window mean.
    dist = conditional_t(s1[close].mean(), s2[close].mean(), +1, perf_var)
    m = close.sum()
    rows.append((f"E[t | s, y=+1], s≈{s0}", float(dist.mean()), t[close].mean(), t[close].std() / np.sqrt(m)))
    out = pd.DataFrame(rows, columns=["quantity", "closed form", "Monte Carlo", "MC std. error"])
    out["z"] = (out["Monte Carlo"] - out["closed form"]) / out["MC std. error"]
    return out


def samples_vs_time(p1: Gaussian, p2: Gaussian, perf_var: float, sample_sizes, burn_in: int, repeats: int,
                    seed: int) -> pd.DataFrame:
    """Accuracy and cost of the Gibbs estimate of the posterior against the number of samples.

    The reference is the exact moment-matched posterior; each size is repeated
    with different seeds to show the spread of the estimates.
    """
    ref1, ref2 = moment_matching_update(p1, p2, +1, perf_var)
    rows = []
    for n in sample_sizes:
        for r in range(repeats):
            start = time.perf_counter()
            s1, s2, _ = gibbs_sample(p1, p2, +1, perf_var, n_samples=int(n), burn_in=burn_in, seed=seed + 1000 * r + int(n))
            seconds = time.perf_counter() - start
            g1 = gaussian_from_samples(s1)
            rows.append({"n_samples": int(n), "repeat": r, "seconds": seconds,
                         "mean_s1": g1.mean, "var_s1": g1.var,
                         "abs_error_mean_s1": abs(g1.mean - ref1.mean),
                         "rel_error_var_s1": abs(g1.var / ref1.var - 1)})
    return pd.DataFrame(rows)


def shuffle_study(matches: pd.DataFrame, n_shuffles: int, seed: int, **adf_kwargs) -> pd.DataFrame:
    """Final posterior means of every player after ADF on `n_shuffles` random orders of the matches.

    Returns a long table: shuffle, player, mean, var.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_shuffles):
        order = rng.permutation(len(matches))
        res = adf(matches.iloc[order].reset_index(drop=True), **adf_kwargs)
        for player, g in res.ratings.items():
            rows.append({"shuffle": k, "player": player, "mean": g.mean, "var": g.var})
    return pd.DataFrame(rows)


def timed_adf(matches: pd.DataFrame, **adf_kwargs):
    """Run ADF and return (result, seconds)."""
    start = time.perf_counter()
    res = adf(matches, **adf_kwargs)
    return res, time.perf_counter() - start


def prediction_scores(pred: pd.DataFrame) -> dict:
    """Accuracy on decisive matches (player 1 predicted iff p_win1 >= p_win2), three-way accuracy
    and mean log predictive probability of the decisive outcomes (renormalised over win/loss, so
    models with and without draws are comparable)."""
    p1, pdraw, p2, y = evaluation.prediction_columns(pred)
    three_way = np.select([(pdraw > p1) & (pdraw > p2), p1 >= p2], [0, 1], -1)
    return {
        "accuracy": float(np.mean(evaluation.correct_winner(pred))),
        "accuracy_3way": float(np.mean(three_way == y)),
        "log_lik_decisive": float(np.mean(evaluation.log_prob_observed(pred, three_way=False))),
    }


def _predictive_log_lik(pred: pd.DataFrame, with_draws: bool) -> float:
    """Mean log probability the model gave to what happened (draws included when it models them)."""
    return float(np.mean(evaluation.log_prob_observed(pred, three_way=with_draws)))


EXTENSIONS = {
    # name: (fit advantage?, model draws?)
    "base": (False, False),
    "home advantage": (True, False),
    "draws": (False, True),
    "home advantage + draws": (True, True),
}
# The score-margin model keeps the h of the win/draw/loss model it is compared with and fits only its bin
# width, so the comparison measures what the margins add, not a better-tuned advantage.
MARGIN_MODEL = "home advantage + margin"
Z95 = 1.96  # ± in tables and sentences: 1.96 standard errors
MARGIN_REFERENCE = "home advantage + draws"


@dataclass(frozen=True)
class FittedModel:
    """One model's constants (chosen on the first half) and its one-step-ahead predictions over all matches."""

    name: str
    h: float
    epsilon: float
    margin_width: float
    log_lik_first: float
    predictions: pd.DataFrame


def fit_extensions(games: pd.DataFrame, cfg: TrueSkillConfig, *, margin_cap: int | None = None) -> dict:
    """Fit each extension's constants on the first half of `games`, then filter the whole sequence.

    The constants (advantage h, draw margin epsilon, margin bin width w) maximise the one-step-ahead
    predictive log-likelihood of the first half (renormalised over win/loss for models without
    draws, three-way otherwise); ADF then runs over the whole sequence with them, predicting each
    match before it updates. If `games` has a `margin` column, the score-margin model
    (MARGIN_MODEL: h of MARGIN_REFERENCE, w from cfg.margin_width_grid, margins of at least
    `margin_cap` in one bin) is fitted too.

    Returns:
        {name: FittedModel}, in the order of EXTENSIONS (then the margin model).
    """
    half = len(games) // 2
    if half < 2:
        raise ValueError(f"need at least 4 matches to fit on a first half, got {len(games)}")
    first = games.iloc[:half]
    common = dict(prior_mean=cfg.prior_mean, prior_var=cfg.prior_var, perf_var=cfg.perf_var, method="moment_matching")
    fitted = {}
    for name, (use_h, use_draws) in EXTENSIONS.items():
        h_grid = cfg.advantage_grid if use_h else (0.0,)
        eps_grid = cfg.draw_margin_grid if use_draws else (0.0,)
        scored = []
        for h in h_grid:
            for eps in eps_grid:
                res = adf(first, advantage=h, draw_margin=eps, skip_draws=not use_draws, **common)
                scored.append((_predictive_log_lik(res.predictions, use_draws), h, eps))
        best_ll, h, eps = max(scored)
        full = adf(games, advantage=h, draw_margin=eps, skip_draws=not use_draws, **common)
        fitted[name] = FittedModel(name, h, eps, 0.0, best_ll, full.predictions)
    if "margin" in games.columns:
        h = fitted[MARGIN_REFERENCE].h
        margin = dict(advantage=h, margin_cap=margin_cap, skip_draws=False, **common)
        scored = [(_predictive_log_lik(adf(first, margin_width=w, **margin).predictions, True), w)
                  for w in cfg.margin_width_grid]
        best_ll, w = max(scored)
        full = adf(games, margin_width=w, **margin)
        fitted[MARGIN_MODEL] = FittedModel(MARGIN_MODEL, h, w / 2, w, best_ll, full.predictions)
    return fitted


def extensions_table(fitted: dict) -> pd.DataFrame:
    """One row per fitted model: h, epsilon (for the margin model w / 2), w, "log-lik 1st" (the fit's
    mean predictive log-likelihood on the first half), "accuracy 2nd" (decisive matches of the second
    half) and "± acc. 2nd" (1.96 binomial standard errors), "3-way acc. 2nd" (win/draw/loss, draw models only), "log-lik 2nd" (mean log probability of
    the decisive outcomes, renormalised over win/loss) and "accuracy all" (decisive matches of the
    whole sequence)."""
    rows = []
    for name, m in fitted.items():
        half = len(m.predictions) // 2
        second = prediction_scores(m.predictions.iloc[half:])
        rows.append({"model": name, "h": m.h, "epsilon": m.epsilon, "w": m.margin_width if m.margin_width else np.nan,
                     "log-lik 1st": m.log_lik_first, "accuracy 2nd": second["accuracy"],
                     "± acc. 2nd": Z95 * evaluation.accuracy(m.predictions.iloc[half:]).se,
                     "3-way acc. 2nd": second["accuracy_3way"] if m.epsilon > 0 else np.nan,
                     "log-lik 2nd": second["log_lik_decisive"],
                     "accuracy all": prediction_scores(m.predictions)["accuracy"]})
    return pd.DataFrame(rows)


def evaluate_extensions(games: pd.DataFrame, cfg: TrueSkillConfig, *, margin_cap: int | None = None) -> pd.DataFrame:
    """`extensions_table(fit_extensions(games, cfg))`: each extension fitted on the first half of `games`."""
    return extensions_table(fit_extensions(games, cfg, margin_cap=margin_cap))


def margin_comparison(fitted: dict, data_set: str, *, items: str = "matches") -> tuple[pd.DataFrame, dict]:
    """The score-margin model against the win/draw/loss model it extends, on the second half and on
    the whole sequence: accuracy on decisive matches and mean three-way predictive log-likelihood,
    each with its standard error and the paired difference (margin minus win/draw/loss).

    Returns:
        (table with one row per part and measure, values "mean ± 1.96 standard errors", the difference being
        margin minus win/draw/loss; {(part, "accuracy" | "log_lik"): PairedDifference}).
    """
    if MARGIN_MODEL not in fitted:
        raise ValueError(f"no {MARGIN_MODEL!r} model in `fitted`: the games need a 'margin' column")
    a, b = fitted[MARGIN_MODEL].predictions, fitted[MARGIN_REFERENCE].predictions
    half = len(a) // 2
    names = ("the margin model", "the win/draw/loss model")
    rows, comparisons = [], {}
    for part, sl in (("second half", slice(half, None)), ("whole sequence", slice(None))):
        cmp = evaluation.compare_predictions(a.iloc[sl], b.iloc[sl], names=names, items=items)
        for measure, label in (("accuracy", "accuracy (decisive)"), ("log_lik", "log-likelihood (W/D/L)")):
            c = cmp[measure]
            comparisons[(part, measure)] = c
            rows.append({"data set": data_set, "scored on": part, "measure": label, "N": c.n,
                         "W/D/L model": _pm(c.mean_b, c.se_b), "margin model": _pm(c.mean_a, c.se_a),
                         "difference": _pm(c.diff, c.se_diff, signed=True)})
    return pd.DataFrame(rows), comparisons


def _pm(value: float, se: float, signed: bool = False) -> str:
    """value ± 1.96 se (a 95 % interval, as in the book's verdict sentences)."""
    return f"{value:+.3f} ± {Z95 * se:.3f}" if signed else f"{value:.3f} ± {Z95 * se:.3f}"


def chess_margin_proxy(games: pd.DataFrame, short_turns: float) -> pd.Series:
    """A margin for chess, which records none: +-2 for a decisive game shorter than `short_turns`
    half-moves (the loser went down early), +-1 for a longer decisive game, 0 for a draw.

    Meant with margin_cap=2, so the two decisive bins are (w/2, 3w/2) and beyond 3w/2.
    """
    missing = [c for c in ("outcome", "turns") if c not in games.columns]
    if missing:
        raise ValueError(f"games lack column(s) {missing}; pass a frame from data.load_chess")
    if not short_turns > 0:
        raise ValueError(f"short_turns must be positive, got {short_turns!r}")
    size = np.where(games["turns"].to_numpy() < short_turns, 2, 1)
    return pd.Series(games["outcome"].to_numpy(int) * size, index=games.index, name="margin")
