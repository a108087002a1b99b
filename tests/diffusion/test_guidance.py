"""Guidance: the guided prediction for every conditioning mode, label dropout reaching the conditioning parameters,
and the estimates the chapter compares conditioning mechanisms with (binomial errors, verdicts, the figure)."""

import math

import numpy as np
import pytest
import torch

from probgen.diffusion import DDPM, NoiseSchedule
from probgen.diffusion.guidance import (
    Difference,
    Estimate,
    binomial_estimate,
    plot_conditioning_sweep,
    sweep_verdict,
    wilson_interval,
)
from probgen.nets import NULL_LABEL, UNet
from probgen.nets.unet import COND_MODES

from ..nets.test_unet import TINY, UNET_ROUNDING_OPS, randomise
from ..tolerances import rounding_tol


def tiny_conditional(cond_mode: str, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return randomise(UNet(**TINY, n_classes=3, cond_mode=cond_mode, patch_size=2), seed=seed + 1)


# ----- the guided prediction -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cond_mode", COND_MODES)
def test_guided_eps_is_one_plus_w_conditional_minus_w_null_for_every_mode(cond_mode):
    """DDPM.eps runs ε(x, c) and ε(x, ∅) as one batch; the result is (1 + w) ε_c − w ε_∅ of two separate calls."""
    net = tiny_conditional(cond_mode)
    model = DDPM(net, NoiseSchedule.linear(50))
    g = torch.Generator().manual_seed(0)
    x, t, y = torch.randn(4, 1, 28, 28, generator=g), torch.tensor([0, 7, 30, 49]), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        cond = net(x, t.float(), y)
        null = net(x, t.float(), torch.full_like(y, NULL_LABEL))
        torch.testing.assert_close(model.eps(x, t, y, guidance_scale=0.0), cond, rtol=0, atol=0)
        for w in (0.5, 3.0):
            # batch of 8 instead of 4 may change the kernels' summation order; the mix amplifies it by 1 + 2w
            tol = rounding_tol(torch.float32, (1 + 2 * w) * cond.abs().max().item(), UNET_ROUNDING_OPS)
            # the label's effect is well above that, so a wrong mix (w ε_c − (1 + w) ε_∅, no guidance) would fail
            assert w * (cond - null).abs().max() > 10 * tol
            torch.testing.assert_close(model.eps(x, t, y, guidance_scale=w), (1 + w) * cond - w * null,
                                       rtol=0, atol=tol)


@pytest.mark.parametrize("cond_mode", COND_MODES)
def test_label_dropout_trains_the_null_label_and_real_labels(cond_mode):
    """With p_uncond = 1 every label is dropped: the gradient reaches only the null label's parameters (the null
    embedding row; nothing for input channels, whose null label is zeros); with p_uncond = 0 the real labels'."""
    x0 = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 2, 2])
    for p_uncond, used in ((1.0, {NULL_LABEL}), (0.0, {0, 2})):
        net = tiny_conditional(cond_mode)
        DDPM(net, NoiseSchedule.linear(50), p_uncond=p_uncond).loss(
            x0, y, generator=torch.Generator().manual_seed(2)).backward()
        if cond_mode == "input_channels":
            per_label = net.stem[1].weight.grad[:, 4:].abs().transpose(0, 1).flatten(1).amax(1)  # (3,) after 2×2 pixels
            rows = [0, 1, 2]
        else:
            per_label = net.class_emb.weight.grad.abs().amax(1)  # (4,), row 3 = the null label
            rows = [0, 1, 2, NULL_LABEL]
        for row, label in enumerate(rows):
            assert (per_label[row] > 0) == (label in used), (label, per_label)


# ----- binomial and bootstrap errors ---------------------------------------------------------------------------------
def test_binomial_estimate_is_the_agresti_caffo_error():
    e = binomial_estimate(30, 40)
    assert e.value == 0.75
    assert e.se == pytest.approx(math.sqrt((31 / 42) * (11 / 42) / 42), rel=rounding_tol(torch.float64, 1, 8))
    assert binomial_estimate(40, 40).se > 0 and binomial_estimate(0, 40).se > 0
    for bad in ((41, 40), (-1, 40), (1, 0), (0.5, 4)):
        with pytest.raises(ValueError, match="correct"):
            binomial_estimate(*bad)


def test_wilson_interval_reference_values_and_properties():
    # textbook values (Newcombe 1998, Table I style): 0/10 → [0, z²/(n + z²)], 5/10 → [0.2366, 0.7634]
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1.96**2 / (10 + 1.96**2), rel=1e-12)
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=5e-5), pytest.approx(0.7634, abs=5e-5))
    for k in range(0, 21):
        lo, hi = wilson_interval(k, 20)
        assert 0 <= lo <= k / 20 <= hi <= 1 and hi > lo
        assert (lo, hi) == pytest.approx((1 - wilson_interval(20 - k, 20)[1], 1 - wilson_interval(20 - k, 20)[0]))


def test_difference_test_holds_its_level_and_detects_a_real_gap():
    """Two binomial samples with the same p: |Δ| > 1.96 se in about 5% of repetitions (not more than a Monte Carlo
    margin above); with p = 0.9 against 0.7 at n = 200 almost always."""
    rng = np.random.default_rng(0)
    reps, n = 4000, 100
    same = rng.binomial(n, 0.9, size=(reps, 2))
    rate = np.mean([Difference(binomial_estimate(int(a), n), binomial_estimate(int(b), n)).sign != 0 for a, b in same])
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)  # 0.0603
    apart = rng.binomial(200, [0.9, 0.7], size=(200, 2))
    signs = [Difference(binomial_estimate(int(a), 200), binomial_estimate(int(b), 200)).sign for a, b in apart]
    assert np.mean(np.equal(signs, 1)) > 0.99


def test_estimate_checks_and_interval():
    assert Estimate(2.0, 0.5).interval() == (2.0 - 0.98, 2.0 + 0.98)
    for bad in ((1.0, -0.1), (float("nan"), 0.1), (1.0, float("inf"))):
        with pytest.raises(ValueError, match="estimate"):
            Estimate(*bad)


# ----- verdicts ------------------------------------------------------------------------------------------------------
def test_sweep_verdict_groups_the_scales_by_the_sign_of_the_difference():
    a = {0.0: Estimate(0.9, 0.01), 1.0: Estimate(0.5, 0.01), 3.0: Estimate(0.70, 0.02), 7.5: Estimate(0.80, 0.01)}
    b = {0.0: Estimate(0.6, 0.01), 1.0: Estimate(0.7, 0.01), 3.0: Estimate(0.71, 0.02), 7.5: Estimate(0.80, 0.01)}
    text = sweep_verdict(a, b, names=("A", "B"), quantity="class accuracy")
    assert text == ("A's class accuracy is higher than B's at w = 0 (by 0.30 ± 0.03); lower at w = 1 (by 0.20 ± 0.03);"
                    " within the noise at w = 3 and 7.5")
    only_noise = sweep_verdict({1.0: Estimate(1.0, 1.0)}, {1.0: Estimate(1.5, 1.0)}, names=("A", "B"), quantity="FID")
    assert only_noise == "A's FID is within the noise of B's at w = 1"
    assert sweep_verdict(b, a, names=("B", "A"), quantity="x").startswith("B's x is higher than A's at w = 1 (by 0.20")
    with pytest.raises(ValueError, match="share no guidance scale"):
        sweep_verdict({0.0: Estimate(1, 0)}, {1.0: Estimate(1, 0)}, names=("A", "B"), quantity="FID")


def test_plot_conditioning_sweep_draws_every_mode_with_its_error_bars():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    sweep = pd.DataFrame({"mode": ["a", "a", "b", "b"], "w": [0.0, 3.0, 0.0, 3.0], "correct": [20, 35, 30, 40],
                          "FID": [50.0, 40.0, 45.0, 60.0], "FID se": [2.0, 1.0, 1.5, 3.0]})
    fig = plot_conditioning_sweep(sweep, n=40, names={"a": "A", "b": "B"}, floor=5.0)
    ax_acc, ax_fid = fig.axes
    labels = [t.get_text() for t in ax_acc.get_legend().get_texts()]
    assert labels[:2] == ["A", "B"] or set(labels) >= {"A", "B", "chance"}
    # each FID error bar spans ± 1.96 se around its point
    bars = [c for c in ax_fid.containers]
    (line_a, caps_a, (segments_a,)) = bars[0]
    spans = [seg[1, 1] - seg[0, 1] for seg in segments_a.get_segments()]
    np.testing.assert_allclose(spans, [2 * 1.96 * 2.0, 2 * 1.96 * 1.0])
    # accuracy bars are the Wilson intervals of correct/n
    (_, _, (segments_acc,)) = ax_acc.containers[1]
    for seg, k in zip(segments_acc.get_segments(), [30, 40]):
        np.testing.assert_allclose([seg[0, 1], seg[1, 1]], wilson_interval(k, 40))
    with pytest.raises(KeyError, match="FID se"):
        plot_conditioning_sweep(sweep.drop(columns=["FID se"]), n=40, names={"a": "A"})
