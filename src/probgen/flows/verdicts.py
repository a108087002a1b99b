"""The flow chapter's verdicts: every sentence of the chapter that compares results, worded from the run's numbers
and their uncertainty through `probgen.reporting`, so the chapter reads correctly at every profile.

- FIDs come as `Estimate(FID, bootstrap se)` from the chapter's sampler table (columns model, solver, steps, NFE,
  FID, FID se); `sampler_verdicts` words the comparisons of samplers and models (reflow against flow, Heun
  against Euler, flow against DDIM at equal NFE, stochastic samplers against the probability-flow ODE, each SDE
  against VP) and `best_sampler` the table's best row.
- Straightness and the one-step error are ratios of means over the same noise draws for both flows:
  `ratio_of_means` and `paired_ratio_difference` give their standard errors (delta method), `straightness_verdicts`
  the sentences.
- `likelihood_verdicts` compares the fixed-step and the adaptive solver on the same test images (paired).
- `agreement` says whether two sets of verdicts over the same settings (latent and pixel space) agree.

Every ± in a sentence is 1.96 standard errors (a 95 % interval).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from ..reporting import Verdict, compare, compare_across, join_words
from ..stats import Estimate
from .study import EM_SOLVER, PC_SOLVER, PF_SOLVER

Z = 1.96
FID = dict(quantity="FID", better="lower")
DDPM, FLOW, REFLOW, VP = "DDPM", "flow matching", "reflow", "VP score SDE"  # model names of the sampler table
ANCESTRAL, DDIM, EULER, HEUN = "ancestral", "DDIM η=0", "Euler", "Heun"  # solver names of the sampler table
TABLE_COLUMNS = ("model", "solver", "steps", "NFE", "FID", "FID se")


def fid_estimate(out: Mapping, n: int) -> Estimate:
    """The FID at N = n of an `evaluate_sampler` result, with its bootstrap standard error."""
    if n not in out["fid"] or n not in out.get("fid_se", {}):
        raise KeyError(f"sampler {out.get('name')!r} has no FID with a standard error at N = {n}; "
                       f"it has N in {sorted(out['fid'])}")
    return Estimate(out["fid"][n], out["fid_se"][n])


def shown(e: Estimate, fmt: str = "{:.1f}") -> str:
    """'25.3 ± 7.6' (± 1.96 se), or the value alone when it is exact."""
    return fmt.format(e.value) + (f" ± {fmt.format(Z * e.se)}" if e.se > 0 else "")


def _check_table(table: pd.DataFrame) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise KeyError(f"the sampler table lacks column(s) {missing}; it needs {list(TABLE_COLUMNS)}")


def fids(table: pd.DataFrame, model: str, solver: str, *, by: str = "steps") -> dict[int, Estimate]:
    """{steps or NFE: FID estimate} of one model's sampler in the table (`by` = "steps" | "NFE"); {} if absent."""
    _check_table(table)
    if by not in ("steps", "NFE"):
        raise ValueError(f"by={by!r} must be 'steps' or 'NFE'")
    part = table[(table["model"] == model) & (table["solver"] == solver)]
    return {int(r[by]): Estimate(r["FID"], r["FID se"]) for _, r in part.sort_values(by).iterrows()}


def across(a: Mapping, b: Mapping, *, names: tuple[str, str], label: str, quantity: str = "FID",
           better: str = "lower", fmt: str = "{:.2f}") -> tuple[str, dict[int, Verdict]]:
    """`reporting.compare_across` of A and B, or a sentence that says they share no setting in this profile."""
    shared = [k for k in a if k in b]
    if not shared:
        sa, sb = (join_words([f"{k:g}" for k in sorted(x)]) if x else "none" for x in (a, b))
        return (f"{names[0]} ({label} {sa}) and {names[1]} ({label} {sb}) share no {label} in this profile, "
                f"so they are not compared"), {}
    return compare_across({k: a[k] for k in shared}, {k: b[k] for k in shared}, names=names, quantity=quantity,
                          label=label, better=better, fmt=fmt)


def best_sampler(table: pd.DataFrame, *, fmt: str = "{:.1f}", max_named: int = 4) -> str:
    """The row with the lowest FID, and which of the other rows cannot be told apart from it at this N.

    Returns a sentence such as "the lowest FID in the table is the sub-VP score SDE's predictor–corrector with
    400 NFE, 20.4 ± 5.6; 3 of the other 40 samplers cannot be told apart from it (…), the cheapest of them …".
    """
    _check_table(table)
    if len(table) < 2:
        raise ValueError("best_sampler needs at least two rows")
    rows = table.reset_index(drop=True)
    est = [Estimate(r["FID"], r["FID se"]) for _, r in rows.iterrows()]
    names = [f"{r['model']}, {r['solver']}, {int(r['NFE'])} NFE" for _, r in rows.iterrows()]
    i = int(np.argmin([e.value for e in est]))
    ties = [j for j in range(len(rows)) if j != i
            and compare(est[i], est[j], names=("A", "B"), **FID).sign == 0]
    head = f"the lowest FID in the table is {names[i]}: {shown(est[i], fmt)}"
    others = len(rows) - 1
    if not ties:
        return head + f"; it is better beyond the noise than each of the other {others} samplers"
    ties.sort(key=lambda j: (rows.loc[j, "NFE"], est[j].value))
    tied = ("; " + (f"all {others} other samplers" if len(ties) == others
                    else f"{len(ties)} of the other {others} samplers")
            + " cannot be told apart from it at this N")
    if len(ties) <= max_named:
        return head + tied + " (" + "; ".join(f"{names[j]}: {shown(est[j], fmt)}" for j in ties) + ")"
    j = ties[0]
    return head + tied + f", the cheapest of them {names[j]} ({shown(est[j], fmt)})"


def _sde_names(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(m for m in table["model"] if str(m).endswith("score SDE")))


def sampler_verdicts(table: pd.DataFrame) -> dict[str, str]:
    """The chapter's sentences on its sampler table (see the module docstring), keyed for `Results.glue`:

    reflow_euler, reflow_heun (2- against 1-rectified flow at each step count), heun_euler_flow, heun_euler_reflow
    (Heun against Euler at equal NFE), flow_ddim_euler, flow_ddim_heun (flow matching against deterministic DDIM at
    equal NFE), best (the table's best row), and for the VP SDE: vp_sde_ode (reverse SDE and predictor–corrector
    at their most steps against the probability-flow ODE at its most), vp_em_steps (the reverse SDE at its most
    against its fewest steps), vp_pc_em (predictor–corrector against the reverse SDE at equal step counts), and
    sde_vs_vp (every other SDE against VP, per solver, at each NFE).
    """
    _check_table(table)
    out: dict[str, str] = {}
    flows = (("the 2-rectified flow", REFLOW), ("the 1-rectified flow", FLOW))
    for solver, key in ((EULER, "reflow_euler"), (HEUN, "reflow_heun")):
        out[key] = across(fids(table, REFLOW, solver), fids(table, FLOW, solver),
                          names=(flows[0][0], flows[1][0]), label=f"{solver} step count")[0]
    for model, key in ((FLOW, "heun_euler_flow"), (REFLOW, "heun_euler_reflow")):
        out[key] = across(fids(table, model, HEUN, by="NFE"), fids(table, model, EULER, by="NFE"),
                          names=("Heun", "Euler"), label="NFE")[0]
    ddim = fids(table, DDPM, DDIM, by="NFE")
    for solver, key in ((EULER, "flow_ddim_euler"), (HEUN, "flow_ddim_heun")):
        out[key] = across(fids(table, FLOW, solver, by="NFE"), ddim,
                          names=(f"flow matching ({solver})", "deterministic DDIM"), label="NFE")[0]
    out["best"] = best_sampler(table)
    em, pc, pf = (fids(table, VP, s) for s in (EM_SOLVER, PC_SOLVER, PF_SOLVER))
    if em and pc and pf:
        s_hi, p_hi = max(em), max(pf)
        ode = f"the probability-flow ODE ({p_hi} Heun steps)"
        out["vp_sde_ode"] = "; ".join(
            compare(e[s_hi], pf[p_hi], names=(f"{name} ({s_hi} steps)", ode), **FID).sentence
            for name, e in (("the reverse SDE", em), ("predictor–corrector", pc)))
        s_lo = min(em)
        out["vp_em_steps"] = (
            compare(em[s_hi], em[s_lo], names=(f"the reverse SDE with {s_hi} steps", f"with {s_lo} steps"),
                    **FID).sentence if s_hi != s_lo
            else f"the reverse SDE runs at {s_hi} steps only in this profile")
        out["vp_pc_em"] = across(pc, em, names=("predictor–corrector", "the reverse SDE"), label="step count")[0]
    parts = []
    for name in (n for n in _sde_names(table) if n != VP):
        for solver, label in ((EM_SOLVER, "the reverse SDE"), (PC_SOLVER, "predictor–corrector"),
                              (PF_SOLVER, "the probability-flow ODE")):
            text, _ = across(fids(table, name, solver, by="NFE"), fids(table, VP, solver, by="NFE"),
                             names=(name.replace(" score SDE", ""), "VP"), label="NFE")
            parts.append(f"with {label}, {text}")
    out["sde_vs_vp"] = "; ".join(parts) if parts else "no SDE other than VP was trained in this profile"
    return out


def ratio_of_means(num, den) -> Estimate:
    """mean(num) / mean(den) over B paired draws, with its delta-method standard error

        se² = Var(num − R·den) / (B · mean(den)²),   R = mean(num) / mean(den)

    (the linearisation of the ratio; exact when den is constant). Needs B ≥ 2 and mean(den) ≠ 0.
    """
    n, d = _pair(num, den)
    r = n.mean() / d.mean()
    return Estimate(float(r), float((n - r * d).std(ddof=1) / (math.sqrt(n.size) * abs(d.mean()))))


def paired_ratio_difference(num_a, den_a, num_b, den_b) -> Estimate:
    """R_a − R_b for two ratios of means over the SAME B draws (paired), with its delta-method standard error: the
    standard error of the mean of the per-draw influence u_i = (a_i − R_a d_i)/mean(d_a) − (b_i − R_b e_i)/mean(d_b)."""
    na, da = _pair(num_a, den_a)
    nb, db = _pair(num_b, den_b)
    if na.size != nb.size:
        raise ValueError(f"paired ratios need the same draws; got {na.size} and {nb.size}")
    ra, rb = na.mean() / da.mean(), nb.mean() / db.mean()
    u = (na - ra * da) / da.mean() - (nb - rb * db) / db.mean()
    return Estimate(float(ra - rb), float(u.std(ddof=1) / math.sqrt(u.size)))


def _pair(num, den) -> tuple[np.ndarray, np.ndarray]:
    n, d = (np.asarray(torch.as_tensor(x).double().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
            .ravel() for x in (num, den))
    if n.shape != d.shape or n.size < 2:
        raise ValueError(f"need two arrays of the same size ≥ 2, got {n.shape} and {d.shape}")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(d))) or d.mean() == 0:
        raise ValueError("the draws must be finite and the denominator's mean nonzero")
    return n, d


def straightness_verdicts(energies: Mapping[str, tuple], jumps: Mapping[str, tuple],
                          names: tuple[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The straightness table and sentences of two flows whose paths start from the same noise draws.

    Args:
        energies: {name: (kinetic (B,), displacement (B,))} from `path_energies`.
        jumps: {name: (miss (B,), jump (B,))} from `euler_jump_norms`.
        names: (A, B), the two flows compared (A first in the sentences).
    Returns:
        (a table of the normalised excess and the one-step error of each flow with ± 1.96 se; {"excess",
        "jump"}: "A is better than B in normalised excess by … (…)" or a tie).
    """
    rows, est = [], {}
    for name in names:
        kin, disp = energies[name]
        miss, jump = jumps[name]
        excess = ratio_of_means(_as_np(kin) - _as_np(disp), kin)
        error = ratio_of_means(miss, jump)
        est[name] = ((_as_np(kin) - _as_np(disp), _as_np(kin)), (_as_np(miss), _as_np(jump)))
        rows.append({"model": name, "normalised excess": excess.value, "excess ± (95 %)": Z * excess.se,
                     "one-step error": error.value, "error ± (95 %)": Z * error.se})
    b = len(_as_np(energies[names[0]][0]))
    a_name, b_name = names
    sentences = {}
    for i, (key, quantity, fmt) in enumerate((("excess", "normalised excess", "{:.4f}"),
                                               ("jump", "one-step error", "{:.3f}"))):
        (na, da), (nb, db) = est[a_name][i], est[b_name][i]
        sentences[key] = compare(ratio_of_means(na, da), ratio_of_means(nb, db), names=names, quantity=quantity,
                                 better="lower", fmt=fmt, difference=paired_ratio_difference(na, da, nb, db),
                                 tie=f"over these {b} paths").sentence
    return pd.DataFrame(rows), sentences


def _as_np(x) -> np.ndarray:
    return np.asarray(x.double().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64).ravel()


def _direction(a: Estimate, b: Estimate, difference: Estimate | None = None) -> int:
    """+1 if A is higher than B beyond z standard errors of A − B, −1 if lower, 0 if they cannot be told apart."""
    return compare(a, b, names=("A", "B"), quantity="q", better="higher", difference=difference).sign


def likelihood_verdicts(bpd_fixed, bpd_adaptive, rmse_fixed, rmse_adaptive, code_rms, *,
                        names: tuple[str, str]) -> dict[str, str]:
    """Sentences on the fixed-step and the adaptive probability-flow solver, on the same test images (paired).

    Args:
        bpd_fixed, bpd_adaptive: bits per dimension per test image (B,), same images and Hutchinson probes.
        rmse_fixed, rmse_adaptive: round-trip (encode, decode) RMSE per image (M,), same images.
        code_rms: root mean square of each image's code (M,) under the adaptive solver, against the prior's 1.
        names: (fixed, adaptive) as the sentences name them ("Heun with 50 steps", "RK45").
    Returns:
        {"bpd_fixed": its value and whether it is below zero (impossible for dequantised 8-bit data) beyond its
        uncertainty, "bpd_gap": the paired difference fixed − adaptive, "roundtrip": the adaptive solver against
        the fixed one in round-trip RMSE, "code_scale": the codes' RMS against the prior's 1}.
    """
    fixed, adaptive = _as_np(bpd_fixed), _as_np(bpd_adaptive)
    e_fixed, e_adaptive = Estimate.of_mean(fixed), Estimate.of_mean(adaptive)
    d = Estimate.of_mean(fixed - adaptive)
    f_name, a_name = names
    out = {}
    below = _direction(e_fixed, Estimate(0.0)) < 0
    out["bpd_fixed"] = (f"{shown(e_fixed, '{:.2f}')} bits per dimension, "
                        + ("below zero beyond its uncertainty, which no model of dequantised 8-bit data can reach"
                           if below else "not below zero beyond its uncertainty"))
    sign = _direction(e_fixed, e_adaptive, d)
    gap = f"{abs(d.value):.2f} ± {Z * d.se:.2f}"
    which = f"the fixed-step estimate ({f_name})"
    out["bpd_gap"] = (f"{which} cannot be told apart from the adaptive one ({a_name}) on these images "
                      f"(difference {d.value:+.2f} ± {Z * d.se:.2f} bits per dimension)" if sign == 0 else
                      f"{which} is {'higher' if sign > 0 else 'lower'} than the adaptive one ({a_name}) by {gap} "
                      f"bits per dimension on the same images")
    rf, ra = _as_np(rmse_fixed), _as_np(rmse_adaptive)
    out["roundtrip"] = compare(Estimate.of_mean(ra), Estimate.of_mean(rf), names=(a_name, f_name),
                               quantity="round-trip RMSE", better="lower", fmt="{:.3f}",
                               difference=Estimate.of_mean(ra - rf), tie=f"over these {ra.size} images").sentence
    rms = Estimate.of_mean(_as_np(code_rms))
    side = _direction(rms, Estimate(1.0))
    out["code_scale"] = (f"{shown(rms, '{:.2f}')}, "
                         + ("consistent with the prior's 1" if side == 0 else
                            f"{'above' if side > 0 else 'below'} the prior's 1 beyond its uncertainty"))
    return out


def agreement(these: Mapping, those: Mapping, *, label: str, names: tuple[str, str]) -> str:
    """Whether two sets of verdicts over the same settings (from `across`) point the same way at each setting.

    Args:
        these, those: {setting: Verdict}, e.g. latent and pixel reflow against flow per Euler step count.
        names: how the sentence names the two sets ("in latent space", "in pixel space").
    """
    shared = [k for k in these if k in those]
    if not shared:
        return f"the verdicts {names[0]} and {names[1]} share no {label}, so they are not compared"
    same = [k for k in shared if these[k].sign == those[k].sign]
    differ = [k for k in shared if these[k].sign != those[k].sign]
    plural = label if label.endswith("s") else label + "s"
    if not differ:
        return f"the verdicts {names[0]} agree with those {names[1]} at every {label}"
    where = ", ".join(f"{k:g} ({these[k].word} {names[0]}, {those[k].word} {names[1]})" for k in differ)
    if not same:
        return f"the verdicts {names[0]} and {names[1]} differ at every {label}: {where}"
    return (f"the verdicts {names[0]} agree with those {names[1]} at {plural} "
            f"{join_words([f'{k:g}' for k in same])}, and differ at {where}")


__all__ = ["DDPM", "FLOW", "REFLOW", "VP", "ANCESTRAL", "DDIM", "EULER", "HEUN", "across", "agreement",
           "best_sampler", "fid_estimate", "fids", "likelihood_verdicts", "paired_ratio_difference",
           "ratio_of_means", "sampler_verdicts", "shown", "straightness_verdicts"]
