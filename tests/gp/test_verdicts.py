"""The GP chapter's computed sentences follow made-up results one way, the other way, and to a tie."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from probgen.gp import true_df, true_f, verdicts
from probgen.stats import Estimate


def _agree(lml_diffs, rel=0.01):
    return pd.DataFrame({"variant": [f"V{i}" for i in range(len(lml_diffs))],
                         verdicts.PARAM_COLUMN: rel, verdicts.LML_COLUMN: lml_diffs})


def test_fit_agreement_flips_when_the_grid_beats_the_gradient():
    assert verdicts.fit_agreement_sentence(_agree([0.01, 0.002])).startswith("The two methods agree")
    bad = verdicts.fit_agreement_sentence(_agree([0.01, -0.5]))
    assert bad.startswith("The two methods disagree: for V1") and "0.5000 nats" in bad


P = {"B1a": {"lengthscale": 0.7, "noise_var": 0.16}, "B1b": {"lengthscale": 0.08, "noise_var": 0.0025},
     "B1c": {"lengthscale": 0.35, "noise_var": 0.0025}, "B2": {"lengthscale": 0.3, "noise_var": 0.005}}


def test_b1_sentences_follow_the_likelihoods_and_errors():
    out = verdicts.b1_sentences(P, {"B1a": -15.8, "B1b": -26.2, "B1c": 10.0}, {"B1a": 0.17, "B1b": 0.38, "B1c": 0.04})
    assert out["a_lengthscale"].startswith("2.0 times longer than")
    assert out["b_lengthscale"].startswith("4.4 times shorter than")
    assert out["lml_ab"].startswith("the log marginal likelihood of (b) (-26.2) is 10.4 nats below that of (a)")
    assert "prefer an inflated output noise" in out["lml_ab"]
    assert out["rmse"] == ("(c) has the lowest RMSE to the true f on the test grid (0.040), then (a) (0.170) "
                           "and (b) (0.380)")
    flipped = verdicts.b1_sentences(P, {"B1a": -26.2, "B1b": -15.8, "B1c": 10.0},
                                    {"B1a": 0.38, "B1b": 0.04, "B1c": 0.17})
    assert flipped["lml_ab"].startswith("the log marginal likelihood of (a) (-26.2) is 10.4 nats below that of (b)")
    assert "inflated" not in flipped["lml_ab"]
    assert flipped["rmse"].startswith("(b) has the lowest RMSE")
    tie = verdicts.b1_sentences(P, {"B1a": -15.8, "B1b": -15.8, "B1c": 10.0}, {"B1a": 0.1, "B1b": 0.2, "B1c": 0.3})
    assert tie["lml_ab"] == "(a) and (b) have the same log marginal likelihood (-15.8)"


def test_b2_sentences_measure_what_the_correction_removes():
    good = verdicts.b2_sentences(P, {"B1a": 0.17, "B1c": 0.04, "B2": 0.05}, 0.0025, 0.33)
    assert good["rmse"].startswith("With Δ known, the first-order correction removes 92% of")
    assert good["noise"].startswith("σ_y² = 0.0050, 2.0 times the true 0.0025 (B.1 (a): 64 times)")
    assert good["taylor"] == "the largest |Δ| in the file, 0.33, is 1.10 times B.2's lengthscale"
    assert "14% shorter" in good["lengthscale"]
    assert verdicts.b2_sentences(P, {"B1a": 0.17, "B1c": 0.04, "B2": 0.03}, 0.0025, 0.33)["rmse"].startswith(
        "With Δ known, its posterior mean's RMSE to the true f (0.030) is even below")
    assert verdicts.b2_sentences(P, {"B1a": 0.17, "B1c": 0.04, "B2": 0.2}, 0.0025, 0.33)["rmse"].startswith(
        "Even with Δ known")


def test_recovery_and_correlation_sentences():
    rng = np.random.default_rng(0)
    found = rng.normal(-0.25, 0.04, 4000)
    assert "contains the true -0.25 and excludes 0" in verdicts.recovery_sentence(found, -0.25, 10)
    missed = rng.normal(0.0, 0.05, 4000)
    assert "misses the true -0.25 and includes 0" in verdicts.recovery_sentence(missed, -0.25, 10)
    a = rng.standard_normal(4000)
    assert verdicts.correlation_sentence(a, a + 0.5 * rng.standard_normal(4000), 4000).startswith(
        "the two are positively correlated")
    assert verdicts.correlation_sentence(a, -a + 0.5 * rng.standard_normal(4000), 4000).startswith(
        "the two are negatively correlated")
    b = rng.standard_normal(4000)
    a0, b0 = a - a.mean(), b - b.mean()
    b0 -= (a0 @ b0) / (a0 @ a0) * a0  # exactly uncorrelated with a
    assert verdicts.correlation_sentence(a, b0, 4000).startswith("their correlation cannot be told from zero")
    est = verdicts.delta_estimate(found, ess=400)
    assert est.se == pytest.approx(found.std(ddof=1) / 20)


def test_weakest_delta_sentence_reads_the_signs_of_the_chains():
    rng = np.random.default_rng(1)
    delta = rng.normal(0.3, 0.05, (2, 500, 3))
    delta[:, :, 1] = rng.normal(-0.05, 0.1, (2, 500))  # Δ2: both signs in both chains
    conv = pd.DataFrame({"ess_bulk": [800.0, 50.0, 900.0]}, index=["Δ1", "Δ2", "Δ3"])
    text = verdicts.weakest_delta_sentence(delta, conv)
    assert text.startswith("The lowest bulk effective sample size is that of Δ2 (50)")
    assert "includes 0" in text and "every chain crosses zero" in text
    conv = pd.DataFrame({"ess_bulk": [50.0, 800.0, 900.0]}, index=["Δ1", "Δ2", "Δ3"])
    text = verdicts.weakest_delta_sentence(delta, conv)
    assert "pin down its sign" in text and "not every chain crosses zero" in text


def test_averaged_sentences_flip_with_the_monte_carlo_error():
    x = np.linspace(-1, 1, 5)
    truth = np.zeros(5)
    mean = np.array([0.0, 0.0, 0.3, 0.0, 0.0])
    var = np.full(5, 0.01)
    worse = verdicts.averaged_sentences(Estimate(0.15, 0.005), {"B2": 0.04, "B1a": 0.17}, x, mean, var, truth)
    assert worse["worth"].startswith("Here knowing Δ is worth more than sampling it: B.2 (Δ known) is better")
    assert worse["vs_a"].startswith("B.3 (Δ unknown) is better than B.1 (a)")
    assert worse["largest"] == "its largest error, +0.300 at x = 0.00, is above the true f"
    assert worse["misses"] == "the 95% band misses the true f at x in 0.00"
    tie = verdicts.averaged_sentences(Estimate(0.05, 0.01), {"B2": 0.04, "B1a": 0.17}, x, mean, var, truth)
    assert tie["worth"].startswith("Here sampling Δ does as well as knowing it")
    better = verdicts.averaged_sentences(Estimate(0.02, 0.001), {"B2": 0.04, "B1a": 0.17}, x, mean, var, truth)
    assert better["worth"].startswith("Here sampling Δ does better than knowing it")
    assert verdicts.ranges_sentence(x, [True, True, False, True, False]) == "x in [-1.00, -0.50] and 0.50"
    assert verdicts.ranges_sentence(x, [False] * 5) == "nowhere"


def test_slope_sentence_and_the_true_slope():
    x = torch.linspace(-1, 1, 41, dtype=torch.float64, requires_grad=True)
    grad = torch.autograd.grad(true_f(x).sum(), x)[0]
    torch.testing.assert_close(true_df(x.detach()), grad, rtol=0, atol=1e-12)
    np.testing.assert_allclose(true_df(x.detach().numpy()), grad.numpy(), rtol=0, atol=1e-12)
    slope = np.array([0.1, 1.0, 3.0, 5.0])
    assert "falls as the slope rises" in verdicts.slope_sentence([1.0, 0.8, 0.5, 0.3], slope)
    assert "rises with the slope" in verdicts.slope_sentence([0.3, 0.5, 0.8, 1.0], slope)


def test_finite_difference_sentence_flips_when_the_error_is_too_large():
    h, ell, s2 = 2 / 99, 0.3, 0.7
    expected = h**2 / 6 * math.sqrt(15 * s2) / ell**3
    assert verdicts.finite_difference_sentence(1.3 * expected, h, ell, s2).endswith(
        "truncation accounts for what remains")
    assert "more than truncation explains" in verdicts.finite_difference_sentence(10 * expected, h, ell, s2)


def test_band_coverage_sentence_splits_flat_and_steep_points():
    x = np.linspace(-1, 1, 4)
    slope = np.array([0.0, 5.0, 0.1, 6.0])
    mean = np.array([0.0, 1.0, 0.0, 1.0])  # misses where steep
    text = verdicts.band_coverage_sentence(x, mean, np.full(4, 0.01), np.zeros(4), slope)
    assert text == ("its band covers the true f at 100% of the test points where f is flattest "
                    "and 0% where it is steepest")
