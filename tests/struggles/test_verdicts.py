"""The toy-study and memorization verdicts flip with made-up results that point one way, the other way, or tie."""

import math

import numpy as np
import pytest

from probgen.stats import Estimate, binomial_estimate
from probgen.struggles import verdicts

SEEDS = (0, 1, 2)
JITTER = (-0.004, 0.0, 0.004)  # a small spread over the seeds


def _sweep(hard_ddpm: float, hard_flow: float, *, easy_ddpm: float = 0.02, energy: float = 0.0):
    """Rows of a two-family sweep: exact samples at mass error 0.02, models at the given levels."""
    rows = []
    for family in ("ring", "squares"):
        for d, levels in ((0.0, {"truth": 0.02, "ddpm": easy_ddpm, "flow": 0.02}),
                          (1.0, {"truth": 0.02, "ddpm": hard_ddpm, "flow": hard_flow})):
            for model, level in levels.items():
                for seed, j in zip(SEEDS, JITTER):
                    rows.append({"family": family, "difficulty": d, "model": model, "seed": seed,
                                 "mode_mass_error": level + j,
                                 "energy_distance": (energy if model != "truth" else 0.0) + j / 10})
    return rows


def test_toy_verdicts_flip_between_the_models_and_tie():
    kw = dict(easy=0.0, hard=1.0, families=("ring", "squares"))
    ddpm_worse = verdicts.toy_verdicts(_sweep(0.7, 0.2), **kw)
    assert ddpm_worse["hard_ddpm_vs_flow"] == "flow matching is better than the DDPM in mass error at every family"
    assert ddpm_worse["hard_ring"].startswith("flow matching is better than the DDPM in mass error by 0.500 ± ")
    flow_worse = verdicts.toy_verdicts(_sweep(0.2, 0.7), **kw)
    assert flow_worse["hard_ddpm_vs_flow"] == "the DDPM is better than flow matching in mass error at every family"
    tie = verdicts.toy_verdicts(_sweep(0.4, 0.4), **kw)
    assert tie["hard_ddpm_vs_flow"] == ("the DDPM and flow matching cannot be told apart in mass error at any family "
                                        "at this N")


def test_toy_verdicts_find_the_floor_and_what_each_metric_tells():
    kw = dict(easy=0.0, hard=1.0, families=("ring", "squares"))
    working = verdicts.toy_verdicts(_sweep(0.7, 0.02), **kw)
    assert working["easy_floor"].startswith("on the ring and checkerboard, the mass errors of both models cannot be "
                                            "told apart")
    assert working["easy_floor"].endswith("no model lies above that floor")
    # the DDPM is above the floor in both families, the flow in none; the energy distance sees nothing
    assert working["hard_tells"] == ("the mass error tells a model from exact samples in 2 of the 4 family–model "
                                     "pairs, the energy distance in 0")
    blurred = verdicts.toy_verdicts(_sweep(0.7, 0.7, easy_ddpm=0.3, energy=0.05), **kw)
    assert blurred["easy_floor"].startswith("in no family are both models at the floor")
    assert "DDPM on the ring (0.300 ± " in blurred["easy_floor"]
    assert blurred["hard_tells"].endswith("in 4 of the 4 family–model pairs, the energy distance in 4")


def _remedies(long_level: float):
    rows = []
    for family in ("ring", "squares"):
        for model in ("ddpm", "flow"):
            for remedy, level in (("baseline", 0.5), ("4× training", long_level)):
                for seed, j in zip(SEEDS, JITTER):
                    rows.append({"family": family, "model": model, "remedy": remedy, "seed": seed,
                                 "sampler": "x", "mode_mass_error": level + j})
    return rows


def test_remedy_verdicts_say_whether_a_remedy_helps():
    kw = dict(families=("ring", "squares"), remedies={"long": "4× training", "wide": "width 512"})
    helps = verdicts.remedy_verdicts(_remedies(0.1), **kw)
    assert helps["remedy_ddpm_long"] == "4× training is better than the baseline in DDPM mass error at every family"
    assert helps["best_ring_flow"].startswith("4× training has the best mass error")
    assert "remedy_ddpm_wide" not in helps  # no rows of that remedy: no sentence
    hurts = verdicts.remedy_verdicts(_remedies(0.9), **kw)
    assert hurts["remedy_flow_long"] == ("the baseline is better than 4× training in flow matching mass error "
                                         "at every family")
    assert hurts["best_ring_ddpm"].startswith("baseline has the best mass error")
    same = verdicts.remedy_verdicts(_remedies(0.5), **kw)
    assert same["remedy_ddpm_long"].startswith("4× training and the baseline cannot be told apart")


def test_sampler_verdict_ranks_the_samplers():
    rows = [{"family": "ring", "model": "ddpm", "remedy": "baseline", "seed": s, "sampler": name,
             "mode_mass_error": v + j}
            for name, v in (("ddim-10", 0.8), ("ancestral", 0.3)) for s, j in zip(SEEDS, JITTER)]
    assert verdicts.sampler_verdict(rows, family="ring", model="ddpm").startswith("ancestral has the best mass error")
    flipped = [{**r, "mode_mass_error": 1.1 - r["mode_mass_error"]} for r in rows]
    assert verdicts.sampler_verdict(flipped, family="ring", model="ddpm").startswith("ddim-10 has the best")
    with pytest.raises(ValueError, match="no baseline rows"):
        verdicts.sampler_verdict(rows, family="squares", model="ddpm")


def test_levels_and_trends_have_no_better_side():
    hi, lo = Estimate(0.7, 0.02), Estimate(0.2, 0.02)
    assert verdicts.compare_level(hi, lo, names=("A", "B"), quantity="fraction").sentence.startswith(
        "A has a higher fraction than B by 0.50 ± ")
    assert verdicts.compare_level(lo, hi, names=("A", "B"), quantity="fraction").sentence.startswith(
        "A has a lower fraction than B by 0.50")
    assert verdicts.compare_level(hi, hi, names=("A", "B"), quantity="fraction").sign == 0
    rising = {10: Estimate(0.1, 0.01), 20: Estimate(0.4, 0.01), 40: Estimate(0.8, 0.01)}
    assert verdicts.trend(rising, quantity="Q", label="n").startswith(
        "Q grows with n at each step from 10 to 40 (10 → 20: +0.30")
    falling = {k: Estimate(1 - e.value, e.se) for k, e in rising.items()}
    assert verdicts.trend(falling, quantity="Q", label="n").startswith("Q falls with n at each step")
    mixed = {**rising, 40: Estimate(0.41, 0.01)}
    assert verdicts.trend(mixed, quantity="Q", label="n").startswith(
        "Q does not move one way along n: from 10 to 20 it rises; from 20 to 40 it does not change beyond the noise")
    flat = {k: Estimate(0.5, 0.1) for k in rising}
    assert verdicts.trend(flat, quantity="Q", label="n").startswith("Q cannot be told apart between any two")
    with pytest.raises(ValueError, match="two settings"):
        verdicts.trend({1: hi}, quantity="Q", label="n")


def test_onset_trend_reads_unreached_onsets_as_later():
    nan = float("nan")
    later = verdicts.onset_trend({10: [800, 900], 20: [1100, 1150], 40: [nan, nan]}, last_step=1200)
    assert later.startswith("copying sets in later for every larger n (n = 20 has a higher onset step than n = 10")
    assert "n = 40 reaches it in no seed within 1200 steps" in later
    earlier = verdicts.onset_trend({10: [nan, nan], 20: [500, 520]}, last_step=1200)
    assert earlier.startswith("copying sets in earlier for every larger n")
    unclear = verdicts.onset_trend({10: [800, nan], 20: [nan, nan]}, last_step=1200)
    assert unclear.startswith("copying does not set in later for every larger n") and "only some seeds" in unclear


def test_fractions_pool_the_binomial_error_and_the_control_decides():
    same = verdicts.fraction_estimate([0.0, 0.0], 100)  # no spread over seeds: the binomial error remains
    assert same.value == 0.0 and same.se == binomial_estimate(0, 200).se
    spread = verdicts.fraction_estimate([0.1, 0.9], 100)
    assert spread.se == pytest.approx(0.4)  # std 0.566 / √2
    copies = Estimate(0.6, 0.03)
    assert verdicts.control_sentence([0.0, 0.0], 100, copies, n_small=10).startswith(
        "the control flags none of the 200 real test images, fewer than the copies counted at n = 10")
    alarms = verdicts.control_sentence([0.6, 0.58], 100, copies, n_small=10)
    assert alarms.startswith("the control flags 118 of the 200 real test images (59.0%): as many as the copies")


def test_seed_estimates_texts_and_fids():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        verdicts.seed_estimate([1.0])
    assert verdicts.seed_text([1.0, 3.0], "{:.1f}") == f"2.0 ± {1.96 * math.sqrt(2) / math.sqrt(2):.1f}"
    assert verdicts.seed_text([1.0, float("nan")], "{:.0f}") == "1 (1 of 2 seeds)"
    assert verdicts.seed_text([float("nan")] * 2) == "not reached"
    e = verdicts.fid_estimate([50.0, 50.0], [3.0, 4.0])  # no spread over seeds: the bootstrap errors remain
    assert e.value == 50.0 and e.se == pytest.approx(2.5)
    assert verdicts.fid_estimate([40.0, 60.0], [0.1, 0.1]).se == pytest.approx(10.0)
    above = verdicts.floor_ratio_sentence({"n = 10": Estimate(60.0, 2.0), "n = 40": Estimate(40.0, 2.0)}, 4.4, n=1000)
    assert above == "the lowest FID, 40.0 ± 3.9 (n = 40), is 9.1 times the floor of 4.4 at N = 1000"
    at = verdicts.floor_ratio_sentence({"x": Estimate(5.0, 1.0)}, 4.4, n=1000)
    assert at.endswith("reaches the floor of 4.4 at N = 1000 within its error")


def test_metric_estimates_group_rows():
    rows = [{"n": n, "seed": s, "gap": g} for n, gs in ((10, (0.1, 0.3)), (20, (0.0, 0.02))) for s, g in enumerate(gs)]
    est = verdicts.metric_estimates(rows, "gap", by=("n",))
    assert set(est) == {10, 20} and est[10].value == pytest.approx(0.2)
    runs = [{"n": 10, "width": 8, "seed": s, "step": 30, "memorized": f} for s, f in enumerate((0.5, 0.7))]
    assert verdicts.final_fractions(runs, step=30, width=8, n_samples=10)[10].value == 0.6
    assert np.isclose(est[20].se, 0.01)
