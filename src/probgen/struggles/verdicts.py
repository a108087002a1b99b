"""The sentences of the "when diffusion struggles" chapter, computed from its tables and their spread over seeds.

Every number of the chapter is a mean over seeds (a fresh training set, initialisation and sampling noise per
seed), so each comparison uses the mean ± its standard error over the seeds (`seed_estimate`); a fraction of
samples also has a binomial error, and the larger of the two is used (`fraction_estimate`). The wording is that
of `probgen.reporting` ("A is better than B in … by x ± y", "… cannot be told apart …"; ± is 1.96 standard
errors). Quantities without a direction (how many samples are copies, when copying sets in) are compared with
`compare_level`, which says "higher" or "lower" instead of "better".

Inputs are the notebook's tables as lists of row dicts or DataFrames with columns family, difficulty, model,
seed and the metrics (toy study), and n, width, seed, step, memorized, … (memorization).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from ..reporting import Verdict, compare, compare_across, join_words, rank
from ..stats import Estimate, binomial_estimate

MODEL_NAMES = {"truth": "exact samples", "ddpm": "DDPM", "flow": "flow matching"}
FAMILY_NAMES = {"ring": "ring", "imbalanced": "imbalanced ring", "circle": "circle", "squares": "checkerboard"}
MASS = "mode_mass_error"


def seed_estimate(values: Iterable[float]) -> Estimate:
    """The mean over seeds and its standard error std/√seeds (at least two seeds)."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size < 2:
        raise ValueError(f"a spread over seeds needs at least 2 seeds, got {x.size}: raise n_seeds")
    return Estimate.of_mean(x)


def fraction_estimate(fractions: Iterable[float], n_samples: int) -> Estimate:
    """The mean over seeds of fractions of `n_samples` samples each, with the larger of two standard errors:
    the spread over seeds (std/√seeds) and the binomial error of all samples pooled (which keeps the error
    positive when every seed gives the same fraction, e.g. no copies at all)."""
    x = np.asarray(list(fractions), dtype=np.float64)
    spread = seed_estimate(x)
    pooled = binomial_estimate(int(round(float(x.sum()) * n_samples)), int(n_samples * x.size))
    return Estimate(spread.value, max(spread.se, pooled.se))


def compare_level(a: Estimate, b: Estimate, *, names: tuple[str, str], quantity: str, fmt: str = "{:.2f}",
                  unit: str = "") -> Verdict:
    """Compare a quantity that has no better direction: "A has a higher Q than B by x ± y (…)", or the tie
    sentence of `reporting.compare`. The verdict's sign is +1 when A is higher beyond the noise."""
    v = compare(a, b, names=names, quantity=quantity, better="higher", fmt=fmt, unit=unit)
    if v.sign == 0:
        return v
    u = f" {unit}" if unit else ""
    d = v.difference
    word = "higher" if v.sign > 0 else "lower"
    shown = " against ".join(fmt.format(e.value) + (f" ± {fmt.format(1.96 * e.se)}" if e.se > 0 else "")
                             for e in (a, b))
    return Verdict(v.sign, d, f"{names[0]} has a {word} {quantity} than {names[1]} by {fmt.format(abs(d.value))} "
                              f"± {fmt.format(1.96 * d.se)}{u} ({shown}{u})")


def trend(estimates: Mapping, *, quantity: str, label: str, fmt: str = "{:.2f}") -> str:
    """How a quantity moves along an ordered setting (training-set size, width), from consecutive comparisons.

    Returns "Q grows with <label> at each step from a to c (a → b: +x ± y; b → c: +x ± y)", "… falls …", or,
    when not every step is resolved, "Q does not move one way along <label>: from a to b it rises; …" with each
    step.
    """
    keys = sorted(estimates)
    if len(keys) < 2:
        raise ValueError(f"a trend needs at least two settings of {label}, got {keys}")
    steps = []
    for lo, hi in zip(keys, keys[1:]):
        v = compare(estimates[hi], estimates[lo], names=(str(hi), str(lo)), quantity=quantity, better="higher", fmt=fmt)
        steps.append((lo, hi, v))
    detail = "; ".join(f"{lo} → {hi}: {'+' if v.difference.value >= 0 else '−'}"
                       f"{fmt.format(abs(v.difference.value))} ± {fmt.format(1.96 * v.difference.se)}"
                       for lo, hi, v in steps)
    signs = {v.sign for _, _, v in steps}
    if signs == {1}:
        return f"{quantity} grows with {label} at each step from {keys[0]} to {keys[-1]} ({detail})"
    if signs == {-1}:
        return f"{quantity} falls with {label} at each step from {keys[0]} to {keys[-1]} ({detail})"
    if signs == {0}:
        return f"{quantity} cannot be told apart between any two neighbouring values of {label} at this N ({detail})"
    words = {1: "rises", -1: "falls", 0: "does not change beyond the noise"}
    parts = [f"from {lo} to {hi} it {words[v.sign]}" for lo, hi, v in steps]
    return f"{quantity} does not move one way along {label}: " + "; ".join(parts) + f" ({detail})"


def _rows(table) -> list[dict]:
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def metric_estimates(table, metric: str, *, by: tuple[str, ...]) -> dict:
    """{key: seed_estimate of `metric`} over the rows grouped by the columns `by` (a tuple key, or the value for
    one column)."""
    groups: dict = {}
    for r in _rows(table):
        key = tuple(r[c] for c in by)
        groups.setdefault(key if len(by) > 1 else key[0], []).append(float(r[metric]))
    return {k: seed_estimate(v) for k, v in groups.items()}


# ----- the toy study ----------------------------------------------------------------------------------------


def _floor_word(model: Estimate, truth: Estimate, fmt: str) -> tuple[int, str]:
    """(sign, "0.142 ± 0.020 against 0.023 ± 0.002"): −1 when the model is above the floor of exact samples."""
    v = compare(model, truth, names=("m", "t"), quantity="q", better="lower", fmt=fmt)
    shown = f"{fmt.format(model.value)} ± {fmt.format(1.96 * model.se)} against {fmt.format(truth.value)} ± " \
            f"{fmt.format(1.96 * truth.se)}"
    return v.sign, shown


def toy_verdicts(sweep, *, easy: float, hard: float, families: Iterable[str], fmt: str = "{:.3f}") -> dict[str, str]:
    """The sweep's sentences, from rows of family, difficulty, model ("truth", "ddpm", "flow"), seed and metrics.

    Returns:
        "easy_floor": which families have both models at the floor of exact samples at d = easy (mass error),
            and which (family, model) lie above it;
        "hard_ddpm_vs_flow": DDPM against flow matching in mass error at d = hard across the families
            (`compare_across`); "hard_<family>": the same comparison in one family;
        "hard_tells": in how many (family, model) pairs the mass error and the energy distance tell a model
            from exact samples at d = hard.
    """
    families = list(families)
    mass = metric_estimates(sweep, MASS, by=("family", "difficulty", "model"))
    energy = metric_estimates(sweep, "energy_distance", by=("family", "difficulty", "model"))
    out = {}
    at_floor, above = [], []
    for f in families:
        signs = []
        for m in ("ddpm", "flow"):
            sign, shown = _floor_word(mass[f, easy, m], mass[f, easy, "truth"], fmt)
            signs.append(sign)
            if sign < 0:
                above.append(f"{MODEL_NAMES[m]} on the {FAMILY_NAMES.get(f, f)} ({shown})")
        if all(s >= 0 for s in signs):
            at_floor.append(f)
    first = (f"on the {join_words([FAMILY_NAMES.get(f, f) for f in at_floor])}, the mass errors of both models "
             f"cannot be told apart from those of exact samples (or are lower): the code works" if at_floor
             else "in no family are both models at the floor of exact samples")
    rest = (f"; above that floor lie {join_words(above)} (mass error, model against exact samples)" if above
            else "; no model lies above that floor")
    out["easy_floor"] = first + rest
    shown = {FAMILY_NAMES.get(f, f): f for f in families}
    ddpm = {name: mass[f, hard, "ddpm"] for name, f in shown.items()}
    flow = {name: mass[f, hard, "flow"] for name, f in shown.items()}
    out["hard_ddpm_vs_flow"], verdicts = compare_across(ddpm, flow, names=("the DDPM", "flow matching"),
                                                        quantity="mass error", label="family", better="lower",
                                                        key_fmt="{}", fmt=fmt)
    for name, v in verdicts.items():
        out[f"hard_{shown[name]}"] = v.sentence
    n_mass = n_energy = 0
    for f in families:
        for m in ("ddpm", "flow"):
            n_mass += _floor_word(mass[f, hard, m], mass[f, hard, "truth"], fmt)[0] < 0
            n_energy += _floor_word(energy[f, hard, m], energy[f, hard, "truth"], "{:.4f}")[0] < 0
    pairs = 2 * len(families)
    out["hard_tells"] = (f"the mass error tells a model from exact samples in {n_mass} of the {pairs} family–model "
                         f"pairs, the energy distance in {n_energy}")
    return out


def remedy_verdicts(rows, *, families: Iterable[str], remedies: Mapping[str, str],
                    fmt: str = "{:.3f}") -> dict[str, str]:
    """The remedies' sentences, from rows (default samplers only) of family, model, remedy, seed, mode_mass_error.

    Args:
        remedies: {slug: remedy name}, e.g. {"long": "4× training", "wide": "width 256", "cosine": "cosine schedule"};
            each is compared with the remedy "baseline" for every model that has it.
    Returns:
        "remedy_<model>_<slug>": the remedy against the baseline across the families (`compare_across`);
        "best_<family>_<model>": `rank` of all remedies of that family and model.
    """
    families = list(families)
    est = metric_estimates(rows, MASS, by=("family", "model", "remedy"))
    out = {}
    for model in ("ddpm", "flow"):
        for slug, name in remedies.items():
            if not all((f, model, name) in est for f in families):
                continue
            out[f"remedy_{model}_{slug}"], _ = compare_across(
                {FAMILY_NAMES.get(f, f): est[f, model, name] for f in families},
                {FAMILY_NAMES.get(f, f): est[f, model, "baseline"] for f in families},
                names=(name, "the baseline"), quantity=f"{MODEL_NAMES[model]} mass error", label="family",
                better="lower", key_fmt="{}", fmt=fmt)
        for f in families:
            options = {r: e for (ff, m, r), e in est.items() if ff == f and m == model}
            out[f"best_{f}_{model}"] = rank(options, quantity="mass error", better="lower", fmt=fmt,
                                            tie="over these seeds")[1]
    return out


def sampler_verdict(rows, *, family: str, model: str, fmt: str = "{:.3f}") -> str:
    """`rank` of the samplers of the baseline `model` on `family`, from rows with a sampler column."""
    rows = [r for r in _rows(rows) if r["family"] == family and r["model"] == model and r["remedy"] == "baseline"]
    if not rows:
        raise ValueError(f"no baseline rows of {model} on {family}")
    est = metric_estimates(rows, MASS, by=("sampler",))
    return rank(est, quantity="mass error", better="lower", fmt=fmt, tie="over these seeds")[1]


# ----- memorization -----------------------------------------------------------------------------------------


def final_fractions(rows, *, step: int, width: int, n_samples: int, by: str = "n") -> dict:
    """{n (or width): fraction_estimate of the memorized fraction at `step`} for the runs of one width (by="n") or
    of all widths (by="width")."""
    groups: dict = {}
    for r in _rows(rows):
        if int(r["step"]) == step and (by == "width" or int(r["width"]) == width):
            groups.setdefault(int(r[by]), []).append(float(r["memorized"]))
    return {k: fraction_estimate(v, n_samples) for k, v in sorted(groups.items())}


def onset_trend(onsets: Mapping[int, Iterable[float]], *, last_step: int, label: str = "n") -> str:
    """When half the samples are copies, along an ordered setting: each step compares the onsets over seeds
    (NaN: not reached within `last_step`). A setting whose every seed reached it against one whose none did is
    resolved (later in every seed); two fully reached settings are compared by their means over seeds; any
    other pair cannot be told apart."""
    keys = sorted(onsets)
    if len(keys) < 2:
        raise ValueError(f"an onset trend needs at least two settings, got {keys}")
    vals = {k: np.asarray(list(onsets[k]), dtype=np.float64) for k in keys}
    steps = []
    for lo, hi in zip(keys, keys[1:]):
        a, b = vals[lo], vals[hi]
        if np.isnan(a).all() and np.isnan(b).all():
            steps.append((0, f"{label} = {lo} and {hi}: neither reaches it within {last_step} steps"))
        elif not np.isnan(a).any() and np.isnan(b).all():
            steps.append((1, f"{label} = {hi} reaches it in no seed within {last_step} steps, {label} = {lo} in "
                             f"every seed (at {np.mean(a):.0f})"))
        elif np.isnan(a).all() and not np.isnan(b).any():
            steps.append((-1, f"{label} = {lo} reaches it in no seed within {last_step} steps, {label} = {hi} in "
                              f"every seed (at {np.mean(b):.0f})"))
        elif not np.isnan(a).any() and not np.isnan(b).any() and min(a.size, b.size) >= 2:
            v = compare_level(seed_estimate(b), seed_estimate(a), names=(f"{label} = {hi}", f"{label} = {lo}"),
                              quantity="onset step", fmt="{:.0f}")
            steps.append((v.sign, v.sentence))
        else:
            steps.append((0, f"{label} = {lo} and {hi} cannot be told apart (only some seeds reach it)"))
    signs = {s for s, _ in steps}
    detail = "; ".join(t for _, t in steps)
    if signs == {1}:
        return f"copying sets in later for every larger {label} ({detail})"
    if signs == {-1}:
        return f"copying sets in earlier for every larger {label} ({detail})"
    return f"copying does not set in later for every larger {label} ({detail})"


def control_sentence(control_fractions: Iterable[float], n_samples: int, smallest: Estimate, *, n_small: int) -> str:
    """The false-positive floor of the copy test (real test images) against the memorized fraction of the
    smallest training set."""
    x = np.asarray(list(control_fractions), dtype=np.float64)
    flagged = int(round(float(x.sum()) * n_samples))
    total = n_samples * x.size
    control = fraction_estimate(x, n_samples) if x.size >= 2 else binomial_estimate(flagged, total)
    head = (f"the control flags none of the {total} real test images" if flagged == 0
            else f"the control flags {flagged} of the {total} real test images ({flagged / total:.1%})")
    v = compare_level(control, smallest, names=("the control", f"n = {n_small}"), quantity="fraction flagged",
                      fmt="{:.3f}")
    if v.sign < 0:
        return f"{head}, fewer than the copies counted at n = {n_small} beyond the noise, so those are not false alarms"
    return f"{head}: as many as the copies counted at n = {n_small} within the noise ({v.sentence})"


def fid_estimate(fids: Iterable[float], ses: Iterable[float]) -> Estimate:
    """A FID averaged over seeds: the mean, with the larger of the spread over seeds (std/√seeds) and the
    seeds' bootstrap errors combined (√Σse²/seeds)."""
    f, s = np.asarray(list(fids), dtype=np.float64), np.asarray(list(ses), dtype=np.float64)
    if f.shape != s.shape:
        raise ValueError("one bootstrap standard error per FID")
    spread = seed_estimate(f)
    return Estimate(spread.value, max(spread.se, math.sqrt(float((s ** 2).sum())) / f.size))


def seed_text(values, fmt: str = "{:.3f}") -> str:
    """"mean ± 1.96·se" over the seeds that reached a value (NaN: not reached), with "(k of n seeds)" when not
    all did; the value alone for one seed; "not reached" for none."""
    x = np.asarray(list(values), dtype=np.float64)
    reached = x[~np.isnan(x)]
    if reached.size == 0:
        return "not reached"
    text = fmt.format(reached.mean())
    if reached.size > 1:
        text += f" ± {fmt.format(1.96 * reached.std(ddof=1) / math.sqrt(reached.size))}"
    return text + (f" ({reached.size} of {x.size} seeds)" if reached.size < x.size else "")


def floor_ratio_sentence(fids: Mapping[str, Estimate], floor: float, *, n: int) -> str:
    """The lowest of several FIDs at N = n against the floor (two real sets of N): how many times the floor, and
    whether it reaches the floor within 1.96 standard errors."""
    if not fids:
        raise ValueError("no FIDs to place against the floor")
    name = min(fids, key=lambda k: fids[k].value)
    e = fids[name]
    shown = f"{e.value:.1f} ± {1.96 * e.se:.1f} ({name})"
    if e.value - 1.96 * e.se > floor:
        return f"the lowest FID, {shown}, is {e.value / floor:.1f} times the floor of {floor:.1f} at N = {n}"
    return f"the lowest FID, {shown}, reaches the floor of {floor:.1f} at N = {n} within its error"
