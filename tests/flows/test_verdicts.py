"""The flow chapter's verdicts: each sentence follows the made-up numbers it is given, and flips when they do.

The straightness checks reuse test_matching's closed forms (N(0, I) noise to N(m, s² I) data): the transport map's
paths are straight (zero excess per sample), the marginal field's excess per sample is s(2 − π/2)‖x0‖².
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from probgen.flows import FlowMatching, euler_jump_error, euler_jump_norms, path_energies, straightness
from probgen.flows import verdicts as V
from probgen.flows.study import EM_SOLVER, PC_SOLVER, PF_SOLVER
from probgen.stats import Estimate

from .test_matching import S, MarginalVelocity, TransportVelocity


def table(rows):
    """A sampler table from (model, solver, steps, NFE, FID, se) tuples."""
    return pd.DataFrame(rows, columns=["model", "solver", "steps", "NFE", "FID", "FID se"])


def flows_table(reflow_fids, flow_fids, se=1.0):
    """Euler rows at 1, 2, 5 steps (NFE = steps) and Heun rows at 1, 5 steps (NFE 2, 10) for both flows, and
    deterministic DDIM at 10 steps."""
    rows = []
    for model, f in ((V.REFLOW, reflow_fids), (V.FLOW, flow_fids)):
        rows += [(model, V.EULER, k, k, f[k], se) for k in (1, 2, 5)]
        rows += [(model, V.HEUN, k, 2 * k, f[k] + 0.5, se) for k in (1, 5)]
    rows.append((V.DDPM, V.DDIM, 10, 10, 30.0, se))
    return table(rows)


def test_reflow_verdict_flips_with_the_numbers():
    one_way = V.sampler_verdicts(flows_table({1: 40.0, 2: 35.0, 5: 30.0}, {1: 300.0, 2: 100.0, 5: 30.0}))
    assert one_way["reflow_euler"] == ("the 2-rectified flow is better than the 1-rectified flow in FID at every Euler "
                                       "step count except 5, where they cannot be told apart")
    other_way = V.sampler_verdicts(flows_table({1: 300.0, 2: 100.0, 5: 40.0}, {1: 40.0, 2: 35.0, 5: 30.0}))
    assert other_way["reflow_euler"] == "the 1-rectified flow is better than the 2-rectified flow in FID at every Euler step count"
    tie = V.sampler_verdicts(flows_table({1: 40.0, 2: 35.0, 5: 30.0}, {1: 41.0, 2: 34.0, 5: 30.5}))
    assert tie["reflow_euler"] == ("the 2-rectified flow and the 1-rectified flow cannot be told apart in FID at any "
                                   "Euler step count at this N")
    assert tie["reflow_heun"].endswith("at any Heun step count at this N")


def test_heun_against_euler_and_flow_against_ddim_compare_at_equal_nfe_only():
    t = flows_table({1: 40.0, 2: 35.0, 5: 30.0}, {1: 300.0, 2: 100.0, 5: 20.0})
    out = V.sampler_verdicts(t)
    # the flow's Heun rows sit at NFE 2 (one step: 300.5 against two Euler steps' 100) and 10 (no Euler row)
    assert out["heun_euler_flow"] == "Euler is better than Heun in FID at every NFE"
    heun_1 = (t["model"] == V.FLOW) & (t["solver"] == V.HEUN) & (t["steps"] == 1)
    for fid, expected in ((100.5, "Heun and Euler cannot be told apart in FID at any NFE at this N"),
                          (50.0, "Heun is better than Euler in FID at every NFE")):
        flipped = t.copy()
        flipped.loc[heun_1, "FID"] = fid
        assert V.sampler_verdicts(flipped)["heun_euler_flow"] == expected
    assert out["flow_ddim_heun"].startswith("flow matching (Heun) is better than deterministic DDIM in FID at every NFE")
    # no Euler row at NFE 10: said so, not compared
    assert out["flow_ddim_euler"] == ("flow matching (Euler) (NFE 1, 2 and 5) and deterministic DDIM (NFE 10) share "
                                      "no NFE in this profile, so they are not compared")
    worse = t.copy()
    worse.loc[(worse["model"] == V.FLOW) & (worse["solver"] == V.HEUN) & (worse["NFE"] == 10), "FID"] = 60.0
    assert V.sampler_verdicts(worse)["flow_ddim_heun"].startswith(
        "deterministic DDIM is better than flow matching (Heun) in FID at every NFE")


def sde_table(vp, subvp, se=1.0):
    """VP and sub-VP rows: the reverse SDE at 50 and 200 steps, PC at 50 and 200, the PF ODE at 25 steps."""
    rows = []
    for model, f in ((V.VP, vp), ("sub-VP score SDE", subvp)):
        rows += [(model, EM_SOLVER, k, k, f["em"][k], se) for k in (50, 200)]
        rows += [(model, PC_SOLVER, k, 2 * k, f["pc"][k], se) for k in (50, 200)]
        rows.append((model, PF_SOLVER, 25, 49, f["pf"], se))
    return table(rows)


def test_stochastic_samplers_against_the_ode_and_sub_vp_against_vp_flip():
    good_sde = {"em": {50: 30.0, 200: 20.0}, "pc": {50: 28.0, 200: 19.0}, "pf": 40.0}
    good_ode = {"em": {50: 60.0, 200: 50.0}, "pc": {50: 61.0, 200: 52.0}, "pf": 20.0}
    out = V.sampler_verdicts(sde_table(good_sde, good_sde))
    assert out["vp_sde_ode"].startswith("the reverse SDE (200 steps) is better than the probability-flow ODE (25 Heun "
                                        "steps) in FID by 20.00 ± ")
    assert "; predictor–corrector (200 steps) is better than the probability-flow ODE" in out["vp_sde_ode"]
    assert out["vp_em_steps"].startswith("the reverse SDE with 200 steps is better than with 50 steps in FID by 10.00")
    assert out["vp_pc_em"] == "predictor–corrector and the reverse SDE cannot be told apart in FID at any step count at this N"
    assert out["sde_vs_vp"] == "; ".join(
        f"with {s}, sub-VP and VP cannot be told apart in FID at any NFE at this N"
        for s in ("the reverse SDE", "predictor–corrector", "the probability-flow ODE"))
    out = V.sampler_verdicts(sde_table(good_ode, good_sde))
    assert out["vp_sde_ode"].startswith("the probability-flow ODE (25 Heun steps) is better than the reverse SDE (200 "
                                        "steps) in FID by 30.00 ± ")
    assert out["sde_vs_vp"].startswith("with the reverse SDE, sub-VP is better than VP in FID at every NFE")
    assert out["sde_vs_vp"].endswith("with the probability-flow ODE, VP is better than sub-VP in FID at every NFE")
    only_vp = sde_table(good_sde, good_sde)
    assert V.sampler_verdicts(only_vp[only_vp["model"] == V.VP])["sde_vs_vp"] == (
        "no SDE other than VP was trained in this profile")


def test_best_sampler_names_the_lowest_fid_and_what_it_is_not_told_apart_from():
    t = table([("A", "Euler", 1, 1, 10.0, 1.0), ("B", "Euler", 1, 1, 11.0, 1.0), ("C", "Heun", 5, 10, 30.0, 1.0)])
    assert V.best_sampler(t) == ("the lowest FID in the table is A, Euler, 1 NFE: 10.0 ± 2.0; 1 of the other 2 "
                                 "samplers cannot be told apart from it at this N (B, Euler, 1 NFE: 11.0 ± 2.0)")
    t.loc[1, "FID"] = 20.0
    assert V.best_sampler(t) == ("the lowest FID in the table is A, Euler, 1 NFE: 10.0 ± 2.0; it is better beyond the "
                                 "noise than each of the other 2 samplers")
    t.loc[0, "FID"] = 40.0  # now B leads
    assert V.best_sampler(t).startswith("the lowest FID in the table is B, Euler, 1 NFE: 20.0 ± 2.0; it is better")
    many = table([(f"M{i}", "Euler", i, i, 10.0 + 0.1 * i, 1.0) for i in range(1, 8)])
    assert V.best_sampler(many, max_named=4).endswith(
        "all 6 other samplers cannot be told apart from it at this N, the cheapest of them M2, Euler, 2 NFE (10.2 ± 2.0)")
    with pytest.raises(KeyError, match="FID se"):
        V.best_sampler(t.drop(columns="FID se"))


def test_ratio_of_means_and_its_paired_difference_in_closed_form():
    rng = np.random.default_rng(0)
    num = rng.normal(3.0, 1.0, 50)
    e = V.ratio_of_means(num, np.full(50, 2.0))  # a constant denominator: the delta method is exact
    assert e.value == pytest.approx(num.mean() / 2)
    assert e.se == pytest.approx(num.std(ddof=1) / math.sqrt(50) / 2, rel=1e-12)
    other = num + rng.normal(1.0, 0.1, 50)
    d = V.paired_ratio_difference(other, np.ones(50), num, np.ones(50))  # paired: the se of the mean difference
    assert d.value == pytest.approx((other - num).mean())
    assert d.se == pytest.approx((other - num).std(ddof=1) / math.sqrt(50), rel=1e-12)
    same = V.paired_ratio_difference(num, num + 5, num, num + 5)
    assert same.value == 0.0 and same.se == 0.0
    with pytest.raises(ValueError, match="same draws"):
        V.paired_ratio_difference(num, np.ones(50), num[:10], np.ones(10))
    with pytest.raises(ValueError, match="size ≥ 2"):
        V.ratio_of_means([1.0], [1.0])


def test_straightness_verdict_flips_between_a_straight_and_a_curved_flow():
    x0 = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    flows = {"straight": FlowMatching(TransportVelocity()), "curved": FlowMatching(MarginalVelocity())}
    energies, jumps = {}, {}
    for name, flow in flows.items():
        path = flow.sample(steps=200, method="heun", x0=x0, return_path=True).path
        energies[name], jumps[name] = path_energies(path), euler_jump_norms(flow, path)
        kinetic, displacement = energies[name]
        assert straightness(path).excess == pytest.approx(float((kinetic - displacement).mean()), abs=1e-12)
        assert euler_jump_error(flow, path) == pytest.approx(float(jumps[name][0].mean() / jumps[name][1].mean()))
    excess = energies["curved"][0] - energies["curved"][1]  # per sample: s(2 − π/2)‖x0‖²
    torch.testing.assert_close(excess, S * (2 - math.pi / 2) * x0.pow(2).sum(1), rtol=1e-3, atol=1e-6)
    tab, out = V.straightness_verdicts(energies, jumps, names=("straight", "curved"))
    assert out["excess"].startswith("straight is better than curved in normalised excess by ")
    assert out["jump"].startswith("straight is better than curved in one-step error by ")
    assert list(tab["model"]) == ["straight", "curved"] and tab["excess ± (95 %)"].iloc[1] > 0
    _, back = V.straightness_verdicts(energies, jumps, names=("curved", "straight"))
    assert back["excess"].startswith("straight is better than curved")  # the winner is named first either way
    _, tie = V.straightness_verdicts({"a": energies["curved"], "b": energies["curved"]},
                                     {"a": jumps["curved"], "b": jumps["curved"]}, names=("a", "b"))
    assert tie["excess"].startswith("a and b cannot be told apart in normalised excess over these 200 paths")


def test_likelihood_verdicts_follow_the_numbers():
    rng = np.random.default_rng(1)
    adaptive = rng.normal(2.4, 0.2, 32)
    rmse_fixed, rmse_adaptive = rng.uniform(0.4, 0.6, 8), rng.uniform(0.01, 0.02, 8)
    names = ("Heun with 50 steps", "RK45")
    out = V.likelihood_verdicts(adaptive - 28.0, adaptive, rmse_fixed, rmse_adaptive, np.full(8, 1.0) + 0.01 *
                                rng.standard_normal(8), names=names)
    assert out["bpd_fixed"].endswith("below zero beyond its uncertainty, which no model of dequantised 8-bit data "
                                     "can reach")
    assert out["bpd_gap"].startswith("the fixed-step estimate (Heun with 50 steps) is lower than the adaptive one "
                                     "(RK45) by 28.00 ± 0.00")
    assert out["roundtrip"].startswith("RK45 is better than Heun with 50 steps in round-trip RMSE by ")
    assert out["code_scale"].endswith("consistent with the prior's 1")
    out = V.likelihood_verdicts(adaptive + 0.01 * rng.standard_normal(32), adaptive, rmse_adaptive, rmse_fixed,
                                np.full(8, 0.3) + 0.01 * rng.standard_normal(8), names=names)
    assert out["bpd_fixed"].endswith("not below zero beyond its uncertainty")
    assert out["bpd_gap"].startswith("the fixed-step estimate (Heun with 50 steps) cannot be told apart from the "
                                     "adaptive one (RK45) on these images")
    assert out["roundtrip"].startswith("Heun with 50 steps is better than RK45 in round-trip RMSE")
    assert out["code_scale"].endswith("below the prior's 1 beyond its uncertainty")


def test_agreement_of_two_sets_of_verdicts():
    a = V.across({1: Estimate(10, 1), 2: Estimate(10, 1)}, {1: Estimate(50, 1), 2: Estimate(10.5, 1)},
                 names=("A", "B"), label="step count")[1]
    b = V.across({1: Estimate(10, 1), 2: Estimate(10, 1)}, {1: Estimate(50, 1), 2: Estimate(30, 1)},
                 names=("A", "B"), label="step count")[1]
    names = ("in latent space", "in pixel space")
    assert V.agreement(a, a, label="step count", names=names) == (
        "the verdicts in latent space agree with those in pixel space at every step count")
    assert V.agreement(a, b, label="step count", names=names) == (
        "the verdicts in latent space agree with those in pixel space at step counts 1, and differ at 2 (equal in "
        "latent space, better in pixel space)")
    assert V.agreement(a, {}, label="step count", names=names).endswith("share no step count, so they are not compared")
