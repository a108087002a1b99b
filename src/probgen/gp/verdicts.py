"""The GP chapter's sentences about its own results, computed from the numbers (and, for the NUTS results, their
Monte Carlo error), so the same notebook reads correctly at every profile.

The fits are deterministic maximisations on one fixed data set: their parameters, log marginal likelihoods and
RMSEs on the test grid are exact numbers of this data set, so the sentences compare them as such. The NUTS
results carry Monte Carlo error (the posterior sd over √ESS, or the spread over chains), and their comparisons go
through `probgen.reporting.compare`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..reporting import compare, join_words
from ..stats import Estimate

Z = 1.96
LML_COLUMN = "Δ log marginal likelihood (gradient − grid)"
PARAM_COLUMN = "max relative parameter difference"


def fit_agreement_sentence(agree: pd.DataFrame, tol: float = 1e-9) -> str:
    """Whether the gradient fits are global optima as far as the grid can tell (`study.agreement`'s table).

    A gradient fit whose log marginal likelihood is at least that of the best grid point (to `tol` nats of
    rounding) is not beaten by any point of the grid; one below it is a local optimum.
    """
    d = agree[LML_COLUMN].to_numpy(float)
    worse = agree.loc[d < -tol, "variant"].tolist()
    rel = float(agree[PARAM_COLUMN].max())
    if not worse:
        return (f"The two methods agree: in every variant the gradient fit's log marginal likelihood is at least "
                f"that of the best grid point (higher by between {d.min():.4f} and {d.max():.4f} nats; the grid "
                f"can only land near the optimum), and the largest relative difference in any parameter is "
                f"{rel:.3f}")
    return (f"The two methods disagree: for {join_words(worse)} the grid finds a log marginal likelihood higher "
            f"than the gradient fit's, by up to {-d.min():.4f} nats, so the gradient fit there is a local optimum "
            f"(largest relative difference in any parameter {rel:.3f})")


def _times(a: float, b: float) -> str:
    """'3.2 times longer than' / '2.0 times shorter than' / 'as long as' for two lengths."""
    if math.isclose(a, b, rel_tol=0.05):
        return "about as long as"
    return f"{a / b:.1f} times longer than" if a > b else f"{b / a:.1f} times shorter than"


def lml_sentence(lml: dict[str, float], a: str, b: str, names: dict[str, str]) -> str:
    """Which of two fits on the same inputs the data prefer, by their log marginal likelihoods (exact numbers
    of this data set), with the Bayes factor."""
    d = lml[a] - lml[b]
    if d == 0:
        return f"{names[a]} and {names[b]} have the same log marginal likelihood ({lml[a]:.1f})"
    win, lose = (a, b) if d > 0 else (b, a)
    return (f"the log marginal likelihood of {names[lose]} ({lml[lose]:.1f}) is {abs(d):.1f} nats below that of "
            f"{names[win]} ({lml[win]:.1f}), a Bayes factor of {math.exp(min(abs(d), 700)):.3g} for {names[win]}")


def ordering_sentence(values: dict[str, float], *, quantity: str, better: str = "lower", fmt: str = "{:.3f}") -> str:
    """Exact values ordered best first: "X has the lowest RMSE (0.040), then Y (0.172) and Z (0.380)"."""
    if len(values) < 2:
        raise ValueError("ordering needs at least two values")
    order = sorted(values, key=values.get, reverse=(better == "higher"))
    best = "lowest" if better == "lower" else "highest"
    rest = join_words([f"{k} ({fmt.format(values[k])})" for k in order[1:]])
    return f"{order[0]} has the {best} {quantity} ({fmt.format(values[order[0]])}), then {rest}"


def b1_sentences(params: dict[str, dict], lml: dict[str, float], rmse: dict[str, float]) -> dict[str, str]:
    """The B.1 discussion: lengthscales of (a) and (b) against the oracle (c), the marginal likelihoods of (a)
    and (b) (same inputs, so comparable), and the RMSEs of the three posterior means to the true f.

    Args:
        params, lml, rmse: keyed "B1a", "B1b", "B1c".
    """
    names = {"B1a": "(a)", "B1b": "(b)", "B1c": "(c)"}
    oracle = params["B1c"]["lengthscale"]
    ab = lml_sentence(lml, "B1a", "B1b", names)
    if lml["B1a"] > lml["B1b"]:
        ab += ": the data prefer an inflated output noise to the true one with displaced inputs"
    return {
        "a_lengthscale": f"{_times(params['B1a']['lengthscale'], oracle)} the oracle's ℓ = {oracle:.2f} of (c)",
        "b_lengthscale": f"{_times(params['B1b']['lengthscale'], oracle)} the oracle's",
        "lml_ab": ab,
        "rmse": ordering_sentence({names[k]: rmse[k] for k in ("B1a", "B1b", "B1c")},
                                  quantity="RMSE to the true f on the test grid"),
    }


def b2_sentences(params: dict[str, dict], rmse: dict[str, float], sigma_y2: float,
                 max_abs_delta: float) -> dict[str, str]:
    """The B.2 discussion: its fitted noise and lengthscale against the truth and the oracle, and how much of
    (a)'s excess RMSE over the oracle (c) the first-order correction removes (all exact numbers of this data set).

    Args:
        params, rmse: keyed "B1a", "B1c", "B2".
        sigma_y2: the true output noise variance.
        max_abs_delta: the largest |Δ| in the file (against B.2's lengthscale: is first order enough?).
    """
    p2, pa, pc = params["B2"], params["B1a"], params["B1c"]
    noise = (f"σ_y² = {p2['noise_var']:.4f}, {p2['noise_var'] / sigma_y2:.1f} times the true {sigma_y2:g} "
             f"(B.1 (a): {pa['noise_var'] / sigma_y2:.0f} times)")
    rel = p2["lengthscale"] / pc["lengthscale"] - 1
    length = (f"a lengthscale of {p2['lengthscale']:.2f}, {abs(rel):.0%} "
              f"{'longer' if rel > 0 else 'shorter'} than the oracle's {pc['lengthscale']:.2f}")
    excess = rmse["B1a"] - rmse["B1c"]
    if excess > 0:
        removed = (rmse["B1a"] - rmse["B2"]) / excess
        if removed >= 1:
            gain = (f"With Δ known, its posterior mean's RMSE to the true f ({rmse['B2']:.3f}) is even below the "
                    f"oracle's ({rmse['B1c']:.3f}): the first-order correction removes all of B.1 (a)'s excess error "
                    f"here")
        elif removed > 0:
            gain = (f"With Δ known, the first-order correction removes {removed:.0%} of B.1 (a)'s excess error over "
                    f"the oracle: its posterior mean's RMSE to the true f is {rmse['B2']:.3f}, against "
                    f"{rmse['B1c']:.3f} for the oracle and {rmse['B1a']:.3f} for B.1 (a)")
        else:
            gain = (f"Even with Δ known, its posterior mean's RMSE to the true f ({rmse['B2']:.3f}) is no better "
                    f"than B.1 (a)'s "
                    f"({rmse['B1a']:.3f}): the first-order correction does not help here")
    else:
        gain = (f"B.1 (a) is already as close to the true f as the oracle here (RMSE {rmse['B1a']:.3f} against "
                f"{rmse['B1c']:.3f}); B.2 reaches {rmse['B2']:.3f}")
    ratio = max_abs_delta / p2["lengthscale"]
    taylor = f"the largest |Δ| in the file, {max_abs_delta:.2f}, is {ratio:.2f} times B.2's lengthscale"
    return {"noise": noise, "lengthscale": length, "rmse": gain, "taylor": taylor}


def delta_estimate(draws, ess: float) -> Estimate:
    """A posterior mean from MCMC draws with its Monte Carlo standard error sd/√ESS."""
    d = np.asarray(draws, dtype=float).ravel()
    if not ess > 0:
        raise ValueError(f"ess={ess!r} must be positive")
    return Estimate(float(d.mean()), float(d.std(ddof=1) / math.sqrt(ess)))


def recovery_sentence(draws, true_value: float, row: int) -> str:
    """Whether the NUTS posterior of one Δ_i finds its planted value: does its central 95 % interval contain
    the true value, and does it exclude 0 (is the sign of the error identified)?"""
    d = np.asarray(draws, dtype=float).ravel()
    lo, hi = np.quantile(d, [0.025, 0.975])
    contains = "contains" if lo <= true_value <= hi else "misses"
    sign = "excludes 0, so the sign of the error is identified" if lo > 0 or hi < 0 else "includes 0"
    return (f"the error in row {row} has a 95% posterior interval [{lo:.3f}, {hi:.3f}], which {contains} the "
            f"true {true_value:.2f} and {sign}")


def correlation_sentence(a, b, ess: float) -> str:
    """The posterior correlation of two Δ with a Fisher-z interval from the effective sample size."""
    r = float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])
    half = Z / math.sqrt(max(ess - 3, 1))
    lo, hi = math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)
    shown = f"r = {r:.2f}, 95% interval [{lo:.2f}, {hi:.2f}]"
    if lo > 0:
        return (f"the two are positively correlated ({shown}), because moving both points together changes the "
                f"fit less than moving one")
    if hi < 0:
        return f"the two are negatively correlated ({shown})"
    return f"their correlation cannot be told from zero ({shown})"


def slope_sentence(sd_ratio, slope) -> str:
    """How the posterior sd of each Δ_i (over the prior's) follows the slope |f'(x_i)| of the true f."""
    rho = float(stats.spearmanr(np.abs(np.asarray(slope)), np.asarray(sd_ratio)).statistic)
    trend = ("falls as the slope rises" if rho < 0 else "rises with the slope") if abs(rho) > 0 else "ignores the slope"
    return (f"across the {len(sd_ratio)} errors the posterior sd (over the prior's) {trend} "
            f"(Spearman ρ = {rho:.2f} with |f'(x_i)| of the true f)")


def weakest_delta_sentence(delta, conv: pd.DataFrame) -> str:
    """The Δ_i with the lowest bulk ESS: the share of its draws on the other side of zero from its median, per
    chain, which shows whether the data tell its sign and whether every chain sees both signs.

    Args:
        delta: draws of shape (chain, draw, N).
        conv: `study.convergence_table` (index Δ1..ΔN, column ess_bulk).
    """
    delta = np.asarray(delta, dtype=float)
    name = conv["ess_bulk"].idxmin()
    i = list(conv.index).index(name)
    x = delta[:, :, i]  # (chain, draw)
    median = np.median(x)
    other = (np.sign(x) != np.sign(median)).mean(axis=1)  # (chain,)
    total = float((np.sign(x) != np.sign(median)).mean())
    per_chain = (f"between {other.min():.1%} and {other.max():.1%} in each of the {len(other)} chains"
                 if len(other) > 1 else "in its one chain")
    sign = ("its 95% posterior interval includes 0, so the data do not pin down the sign of that error"
            if total > 0.025 else "the data pin down its sign at 95%")
    crossing = ("every chain crosses zero, so each sees both signs" if np.all(other > 0) else
                "not every chain crosses zero")
    return (f"The lowest bulk effective sample size is that of {name} ({conv.loc[name, 'ess_bulk']:.0f}): "
            f"{total:.1%} of its draws lie on the other side of zero from its median ({per_chain}); {sign}, and "
            f"{crossing}")


def ranges_sentence(x, mask) -> str:
    """The stretches of x where mask holds, as '[a, b] and [c, d]' ('nowhere' if none)."""
    x, mask = np.asarray(x, dtype=float), np.asarray(mask, dtype=bool)
    if not mask.any():
        return "nowhere"
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    parts = [f"[{x[s]:.2f}, {x[e - 1]:.2f}]" if e - 1 > s else f"{x[s]:.2f}" for s, e in zip(edges[::2], edges[1::2])]
    return "x in " + join_words(parts)


def averaged_sentences(rmse_avg: Estimate, rmse: dict[str, float], x, mean, var, truth) -> dict[str, str]:
    """The B.3 discussion: the Δ-averaged posterior mean against B.2 (Δ known) and B.1 (a), where its error is
    largest and where its 95 % band misses the true f.

    Args:
        rmse_avg: RMSE of the Δ-averaged mean with its Monte Carlo standard error (spread over chains).
        rmse: keyed "B2", "B1a" (exact).
        x, mean, var, truth: the test grid, the averaged posterior's mean and variance, and the true f there.
    """
    vs_known = compare(rmse_avg, Estimate(rmse["B2"]), names=("B.3 (Δ unknown)", "B.2 (Δ known)"),
                       quantity="RMSE to the true f", better="lower", fmt="{:.3f}", tie="at this Monte Carlo error")
    vs_a = compare(rmse_avg, Estimate(rmse["B1a"]), names=("B.3 (Δ unknown)", "B.1 (a)"),
                   quantity="RMSE to the true f", better="lower", fmt="{:.3f}", tie="at this Monte Carlo error")
    x, mean, var, truth = (np.asarray(v, dtype=float) for v in (x, mean, var, truth))
    err = mean - truth
    k = int(np.argmax(np.abs(err)))
    largest = (f"its largest error, {err[k]:+.3f} at x = {x[k]:.2f}, is {'below' if err[k] < 0 else 'above'} "
               f"the true f")
    miss = np.abs(err) > Z * np.sqrt(var)
    misses = f"the 95% band misses the true f at {ranges_sentence(x, miss)}"
    if vs_known.sign < 0:
        worth = f"Here knowing Δ is worth more than sampling it: {vs_known.sentence}"
    elif vs_known.sign > 0:
        worth = f"Here sampling Δ does better than knowing it: {vs_known.sentence}"
    else:
        worth = f"Here sampling Δ does as well as knowing it: {vs_known.sentence}"
    return {"vs_known": vs_known.sentence, "vs_a": vs_a.sentence, "largest": largest, "misses": misses,
            "worth": worth}


def finite_difference_sentence(rmse: float, h: float, lengthscale: float, variance: float,
                               factor: float = 2.0) -> str:
    """Whether the central differences' error is the truncation error h²/6·f''' of a prior draw.

    Under the SE prior f''' has variance 15 s²/ℓ⁶ (the n-th derivative has (2n − 1)!! s²/ℓ^{2n}), so the
    truncation error has RMS about h²/6 · √15 s/ℓ³; a measured RMS within `factor` of that (one draw
    fluctuates) is what truncation explains.
    """
    if not (h > 0 and lengthscale > 0 and variance > 0):
        raise ValueError("h, lengthscale and variance must be positive")
    expected = h**2 / 6 * math.sqrt(15 * variance) / lengthscale**3
    ratio = rmse / expected
    prior = (f"under the prior f''' has RMS √15·s/ℓ³, so the truncation error h²/6·f''' has RMS about "
             f"{expected:.4f}")
    if 1 / factor <= ratio <= factor:
        return f"{prior}, and the measured {rmse:.4f} is {ratio:.2f} times that: truncation accounts for what remains"
    return (f"{prior}, but the measured {rmse:.4f} is {ratio:.2f} times that: more than truncation explains, "
            f"so f' and f disagree")


def band_coverage_sentence(x, mean, var, truth, slope) -> str:
    """Where a 95 % band covers the true f: on the half of the test points where |f'| is smallest and on the
    steeper half (a homoscedastic band is too wide on the first, too narrow on the second)."""
    x, mean, var, truth, slope = (np.asarray(v, dtype=float) for v in (x, mean, var, truth, slope))
    inside = np.abs(mean - truth) <= Z * np.sqrt(var)
    steep = np.abs(slope) > np.median(np.abs(slope))
    return (f"its band covers the true f at {inside[~steep].mean():.0%} of the test points where f is flattest "
            f"and {inside[steep].mean():.0%} where it is steepest")
