"""The TrueSkill chapter's sentences about its own results, computed from the numbers and their uncertainty.

Each function takes the chapter's results (tables, samples, predictions) and returns the sentence the prose
glues, so the same notebook reads correctly at every profile. Comparisons that rank two models are worded by
`probgen.reporting.compare` (through `evaluation.paired_difference`); the agreement checks here (Monte Carlo
against a closed form) use the same test: a difference counts when it exceeds 1.96 of its standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..reporting import compare, join_words
from ..stats import Estimate
from . import evaluation
from .gaussian import Gaussian

Z = 1.96


def largest_z_sentence(z, *, level: float = 0.05) -> str:
    """Whether the largest |z| of k Monte Carlo checks of closed forms is what Monte Carlo noise gives.

    Under the null (every closed form right, the checks independent) the largest of k |z| exceeds m with
    probability 1 − (1 − 2(1 − Φ(m)))^k (Šidák); the sentence says whether that probability is above `level`.
    """
    z = np.abs(np.asarray(z, dtype=float))
    if z.ndim != 1 or len(z) == 0 or not np.all(np.isfinite(z)):
        raise ValueError(f"need a 1-D array of finite z values, got {z!r}")
    k, m = len(z), float(z.max())
    p = 1.0 - (1.0 - 2.0 * stats.norm.sf(m)) ** k
    if p > level:
        return (f"which is what Monte Carlo noise gives: the largest of {k} independent |z| is at least this "
                f"large with probability {p:.2f}")
    return (f"more than Monte Carlo noise explains (the largest of {k} independent |z| is this large with "
            f"probability {p:.1e} if every closed form is right): a closed form or a window is off")


def burn_in_sentence(burn_in: int, forgetting: int, n_kept: int) -> str:
    """The discarded burn-in against the iterations the far-off chains needed to reach the posterior."""
    if burn_in >= forgetting:
        return (f"We discard {burn_in} iterations, {burn_in - forgetting} more than that, which costs "
                f"{burn_in / (burn_in + n_kept):.1%} of the run")
    return (f"We discard {burn_in} iterations, {forgetting - burn_in} fewer than the far-off chains needed: "
            f"the start still shows in the first kept samples, and the burn-in should be raised")


def effective_sample_size(x) -> float:
    """The effective sample size of one chain: n / (1 + 2 Σ_k ρ_k), the autocorrelations ρ_k summed up to the
    first lag where they turn non-positive (Geyer's initial positive sequence, in its simplest form)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if x.ndim != 1 or n < 4:
        raise ValueError(f"need a 1-D chain of at least 4 samples, got shape {x.shape}")
    x = x - x.mean()
    var = float(x @ x) / n
    if var == 0:
        raise ValueError("the chain is constant: no effective sample size")
    f = np.fft.rfft(x, 2 * n)
    acov = np.fft.irfft(f * np.conj(f))[:n] / n  # (n,) autocovariance at lags 0..n-1
    rho = acov / var
    tau = 1.0
    for k in range(1, n):
        if rho[k] <= 0:
            break
        tau += 2 * rho[k]
    return n / tau


def sample_moments(samples) -> dict[str, Estimate]:
    """Mean and variance of a chain with their Monte Carlo standard errors from its effective sample size:
    sd/√n_eff for the mean and var·√(2/n_eff) for the variance (Gaussian fourth moment)."""
    x = np.asarray(samples, dtype=float)
    ess = effective_sample_size(x)
    var = float(x.var(ddof=1))
    return {"mean": Estimate(float(x.mean()), math.sqrt(var / ess)),
            "var": Estimate(var, var * math.sqrt(2.0 / ess))}


def one_match_agreement(samples: dict[str, np.ndarray], exact: dict[str, Gaussian]) -> tuple[str, pd.DataFrame]:
    """Gibbs moments of each skill against message passing's (exact moments of the one-match posterior).

    Args:
        samples: skill name ("s1") -> Gibbs samples after burn-in.
        exact: the same names -> the message-passing posterior.
    Returns:
        (sentence, table with one row per moment: quantity, message passing, Gibbs, MC std. error, z). The
        sentence says whether every moment agrees within 1.96 Monte Carlo standard errors, or names those
        that do not.
    """
    if set(samples) != set(exact):
        raise ValueError(f"samples {sorted(samples)} and exact {sorted(exact)} name different skills")
    rows, off = [], []
    for name, x in samples.items():
        est = sample_moments(x)
        for moment, ref in (("mean", exact[name].mean), ("var", exact[name].var)):
            v = compare(est[moment], Estimate(ref), names=("Gibbs", "message passing"), quantity=moment)
            z = (est[moment].value - ref) / est[moment].se
            rows.append({"quantity": f"{moment} of {name}", "message passing": ref, "Gibbs": est[moment].value,
                         "MC std. error": est[moment].se, "z": z})
            if v.sign != 0:
                off.append(f"the {moment} of {name} ({z:+.1f} standard errors)")
    table = pd.DataFrame(rows)
    worst = table.loc[table["z"].abs().idxmax()]
    if not off:
        return (f"the two agree within the Monte Carlo error: each of the {len(table)} moments of the Gibbs "
                f"samples lies within {Z} Monte Carlo standard errors of the message-passing value (largest "
                f"deviation {abs(worst['z']):.1f} standard errors, in the {worst['quantity']})"), table
    return (f"the two differ beyond the Monte Carlo error in {join_words(off)}: more than the sampler's noise, "
            f"so the sampler or the closed form is off"), table


def points_table(matches: pd.DataFrame) -> pd.DataFrame:
    """The league table by points from the matches themselves (3 for a win, 1 for a draw), ties broken by goal
    difference and then goals scored: team, points, goal_difference, goals, sorted best first."""
    missing = [c for c in ("player1", "player2", "outcome", "score1", "score2") if c not in matches.columns]
    if missing:
        raise ValueError(f"matches lack column(s) {missing}; pass data.load_serie_a()")
    rows = []
    for home, sign in (("1", 1), ("2", -1)):
        other = "2" if home == "1" else "1"
        won = matches["outcome"] * sign
        rows.append(pd.DataFrame({"team": matches[f"player{home}"],
                                  "points": np.select([won > 0, won == 0], [3, 1], 0),
                                  "goal_difference": matches[f"score{home}"] - matches[f"score{other}"],
                                  "goals": matches[f"score{home}"]}))
    table = pd.concat(rows).groupby("team", as_index=False).sum()
    return table.sort_values(["points", "goal_difference", "goals"], ascending=False,
                             kind="mergesort").reset_index(drop=True)


def rank_agreement(order_a: list, order_b: list) -> dict:
    """How two orderings of the same players agree: players at the same place, Kendall's τ and Spearman's ρ."""
    if sorted(order_a) != sorted(order_b):
        raise ValueError("the two orderings hold different players")
    pos_b = {p: i for i, p in enumerate(order_b)}
    ranks_b = [pos_b[p] for p in order_a]
    return {"n": len(order_a), "same_place": int(sum(i == r for i, r in enumerate(ranks_b))),
            "kendall_tau": float(stats.kendalltau(np.arange(len(order_a)), ranks_b).statistic),
            "spearman_rho": float(stats.spearmanr(np.arange(len(order_a)), ranks_b).statistic)}


def adf_variants_sentence(gibbs: pd.DataFrame, mp: pd.DataFrame) -> str:
    """How the Gibbs and the message-passing ADF tables (ranking tables: player, mean, std) agree, in numbers:
    players at the same place, Kendall's τ, and the largest difference of a mean against the posterior sd."""
    agree = rank_agreement(gibbs["player"].tolist(), mp["player"].tolist())
    both = gibbs[["player", "mean", "std"]].merge(mp[["player", "mean"]], on="player",
                                                     suffixes=("", "_mp")).set_index("player")
    gap = (both["mean"] - both["mean_mp"]).abs()
    worst = gap.idxmax()
    if agree["same_place"] == agree["n"]:
        order = f"rank all {agree['n']} players in the same order"
    else:
        order = (f"put {agree['same_place']} of the {agree['n']} players at the same place "
                 f"(Kendall's τ between the two orders {agree['kendall_tau']:.2f})")
    return (f"The two ADF variants {order}; the largest difference of a posterior mean is "
            f"{gap[worst]:.2f} skill points ({worst}), {gap[worst] / both.loc[worst, 'std']:.2f} of that "
            f"player's posterior standard deviation")


def final_table_sentence(adf_order: list, points: pd.DataFrame, k: int = 4) -> str:
    """ADF's order against the table by points of the same matches: the top k of each and the rank correlation."""
    by_points = points["team"].tolist()
    agree = rank_agreement(list(adf_order), by_points)
    shared = [t for t in adf_order[:k] if t in by_points[:k]]
    same = ("the same teams" if len(shared) == k else f"{len(shared)} of them the same" if shared
            else "none of them the same")
    return (f"By points from the same matches the top {k} are {join_words(by_points[:k])}; ADF's top {k} are "
            f"{join_words(list(adf_order[:k]))}, {same}. Over all {agree['n']} teams Spearman's rank correlation "
            f"between the two orders is {agree['spearman_rho']:.2f}, and {agree['same_place']} teams hold the "
            f"same place")


def order_changes(shuffles: pd.DataFrame, chronological: pd.DataFrame) -> tuple[int, int]:
    """(in how many of the random orders the final ranking differs from the chronological one, how many orders)."""
    chrono = chronological["player"].tolist()
    changed = sum(g.sort_values("mean", ascending=False, kind="mergesort")["player"].tolist() != chrono
                  for _, g in shuffles.groupby("shuffle"))
    return int(changed), int(shuffles["shuffle"].nunique())


def order_dependence_sentence(shuffles: pd.DataFrame, chronological: pd.DataFrame) -> str:
    """The Discussion's sentence on ADF's dependence on the order of the matches, from the shuffle study."""
    changed, n = order_changes(shuffles, chronological)
    if changed:
        return (f"ADF's answer depends on the order of the matches: the final ranking changed in {changed} of "
                f"{n} random orders")
    return (f"ADF's answer can depend on the order of the matches, although none of the {n} random orders of "
            f"this run changed the final ranking")


def shuffle_sentence(shuffles: pd.DataFrame, chronological: pd.DataFrame) -> str:
    """Whether the order of the matches moves the ranking: the spread of each player's final mean over random
    orders against the gaps between neighbours in the chronological table, and how often the order changes.

    Args:
        shuffles: `study.shuffle_study` output (shuffle, player, mean).
        chronological: the ranking table of ADF in the original order (player, mean; best first).
    """
    spread = shuffles.groupby("player")["mean"].std(ddof=1)
    gaps = -np.diff(chronological["mean"].to_numpy())
    median_gap = float(np.median(gaps))
    changed, n = order_changes(shuffles, chronological)
    wider = int((spread > median_gap).sum())
    moves = (f"in {changed} of the {n} random orders the ranking differs from the chronological one"
             if changed else f"yet every one of the {n} random orders gives the chronological ranking")
    return (f"the median gap between neighbouring players in the chronological table is {median_gap:.2f} skill "
            f"points, and {wider} of the {len(spread)} players have a larger standard deviation across orders "
            f"than that; {moves}")


def accuracy_sentences(pred: pd.DataFrame, *, model: str, home: str = "the home team",
                       items: str = "matches") -> dict[str, str]:
    """The model's one-step-ahead accuracy against random guessing (exactly 1/2) and against "{home} always
    wins", on the same decisive matches (paired, binomial errors).

    Returns:
        {"vs_random": sentence, "vs_home": sentence}.
    """
    hits = evaluation.correct_winner(pred)
    acc = evaluation.accuracy(pred)
    vs_random = compare(acc, Estimate(0.5), names=(model, "random guessing"), quantity="accuracy", fmt="{:.3f}",
                        tie=f"on these N = {len(hits)} {items}")
    vs_home = evaluation.paired_difference(hits, evaluation.home_always_correct(pred),
                                           names=(model, f'"{home} always wins"'), quantity="accuracy", items=items)
    return {"vs_random": vs_random.sentence, "vs_home": vs_home.sentence()}
