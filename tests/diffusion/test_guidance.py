"""Guidance: the guided prediction for every conditioning mode, label dropout reaching the conditioning parameters,
and the estimates the chapter compares conditioning mechanisms with (binomial errors, verdicts, the figure)."""

import math

import numpy as np
import pytest
import torch

from probgen.diffusion import DDPM, NoiseSchedule, guidance
from probgen.diffusion.guidance import (
    Difference,
    Estimate,
    binomial_estimate,
    plot_conditioning_sweep,
    sweep_verdict,
    wilson_interval,
)
from probgen.nets import NULL_LABEL, UNet
from probgen.reporting import compare_across
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
def test_sweep_verdict_is_the_shared_wording_with_the_differences():
    a = {0.0: Estimate(0.9, 0.01), 1.0: Estimate(0.5, 0.01), 3.0: Estimate(0.70, 0.02), 7.5: Estimate(0.80, 0.01)}
    b = {0.0: Estimate(0.6, 0.01), 1.0: Estimate(0.7, 0.01), 3.0: Estimate(0.71, 0.02), 7.5: Estimate(0.80, 0.01)}
    rule, _ = compare_across(a, b, names=("A", "B"), quantity="class accuracy", label="guidance scale",
                             key_fmt="w = {:g}")
    text = sweep_verdict(a, b, names=("A", "B"), quantity="class accuracy")
    assert text == (rule + " (A minus B at w = 0, 1, 3 and 7.5: +0.30 ± 0.03, −0.20 ± 0.03, −0.01 ± 0.06 and "
                    "+0.00 ± 0.03)")
    assert rule == ("A is better than B in class accuracy at w = 0; B is better at w = 1; "
                    "they cannot be told apart at w = 3 and w = 7.5")
    # lower is better (an FID): the same numbers crown the other method
    assert sweep_verdict(a, b, names=("A", "B"), quantity="FID", better="lower").startswith(
        "A is better than B in FID at w = 1; B is better at w = 0")
    assert sweep_verdict({1.0: Estimate(1.0, 1.0)}, {1.0: Estimate(1.5, 1.0)}, names=("A", "B"), quantity="FID",
                         symbol="s").startswith("A and B cannot be told apart in FID at any guidance scale at this N")
    with pytest.raises(ValueError, match="share no guidance scale"):
        sweep_verdict({0.0: Estimate(1, 0)}, {1.0: Estimate(1, 0)}, names=("A", "B"), quantity="FID")


N = 1000  # samples per row of the made-up tables


def made_up_sweep(acc: dict[str, tuple[float, ...]], fid: dict[str, tuple[float, ...]], ws=(0.0, 1.0, 3.0),
                  fid_se: float = 1.0):
    """A classifier-free guidance sweep: class accuracies and FIDs per mode and w (the FID at the common N too)."""
    import pandas as pd

    rows = [{"mode": m, "w": w, "correct": round(a * N), "FID": f, "FID se": fid_se, "common FID": f,
             "common FID se": fid_se} for m in acc for w, a, f in zip(ws, acc[m], fid[m])]
    return pd.DataFrame(rows)


def made_up_cg(acc: tuple[float, ...], fid: tuple[float, ...], scales=(0.0, 3.0, 30.0), fid_se: float = 1.0,
               n: int = N):
    import pandas as pd

    return pd.DataFrame([{"s": s, "correct": round(a * n), "FID": f, "FID se": fid_se, "common FID": f,
                          "common FID se": fid_se} for s, a, f in zip(scales, acc, fid)])


def test_cfg_verdicts_follow_the_numbers_and_flip_with_them():
    # guidance raises accuracy and, past w = 1, the FID; cross-attention conveys the label better at every w
    sweep = made_up_sweep({"add": (0.70, 0.90, 0.99), "cross_attention": (0.90, 0.97, 0.999)},
                          {"add": (20.0, 12.0, 30.0), "cross_attention": (19.0, 11.0, 29.0)})
    v = guidance.cfg_verdicts(sweep, n=N)
    assert set(v) == {"cfg_best", "cfg_tradeoff", "cross_attention_acc", "cross_attention_fid"}
    assert v["cfg_best"].startswith("w = 1 has the best FID (12.00 ± 1.96): better than w = 0 by 8.00 ± 2.77")
    assert v["cfg_tradeoff"].startswith("w = 3 is better than w = 0 in class accuracy by 0.290 ± ")
    assert ", and w = 0 is better than w = 3 in FID by 10.00 ± 2.77" in v["cfg_tradeoff"]
    assert v["cross_attention_acc"].startswith(
        "Cross-attention conditioning is better than embedding conditioning in class accuracy at every guidance "
        "scale (")
    assert v["cross_attention_fid"].startswith(  # one FID unit apart with se 1 each: inside the noise
        "Cross-attention conditioning and embedding conditioning cannot be told apart in FID at any guidance scale")
    # the other way round: guidance lowers accuracy and the FID falls with w; the embedding wins in accuracy
    flipped = made_up_sweep({"add": (0.99, 0.90, 0.70), "cross_attention": (0.90, 0.80, 0.60)},
                            {"add": (30.0, 12.0, 5.0), "cross_attention": (40.0, 22.0, 15.0)})
    v = guidance.cfg_verdicts(flipped, n=N)
    assert v["cfg_best"].startswith("w = 3 has the best FID (5.00 ± 1.96): better than w = 1 by 7.00 ± 2.77")
    assert v["cfg_tradeoff"].startswith("w = 0 is better than w = 3 in class accuracy by 0.290 ± ")
    assert ", and w = 3 is better than w = 0 in FID by 25.00 ± 2.77" in v["cfg_tradeoff"]
    assert v["cross_attention_acc"].startswith(
        "Embedding conditioning is better than cross-attention conditioning in class accuracy at every guidance scale")
    assert v["cross_attention_fid"].startswith(
        "Embedding conditioning is better than cross-attention conditioning in FID at every guidance scale")
    # a tie: nothing resolved, and no sentence claims a winner
    tie = made_up_sweep({"add": (0.80, 0.80, 0.81), "input_channels": (0.81, 0.80, 0.80)},
                        {"add": (20.0, 20.5, 21.0), "input_channels": (20.5, 20.0, 20.0)}, fid_se=2.0)
    v = guidance.cfg_verdicts(tie, n=N)
    assert v["cfg_best"].startswith("w = 0, w = 1 and w = 3 cannot be told apart in FID at this N")
    assert v["cfg_tradeoff"] == ("w = 3 and w = 0 cannot be told apart in class accuracy at this N (0.810 ± 0.024 "
                                 "against 0.800 ± 0.025; difference +0.010 ± 0.035), and w = 3 and w = 0 cannot be "
                                 "told apart in FID at this N (21.00 ± 3.92 against 20.00 ± 3.92; difference +1.00 "
                                 "± 5.54)")
    assert all("better" not in text for text in v.values())
    assert v["input_channels_acc"].startswith("Input-channel conditioning and embedding conditioning cannot be told")


def test_cg_verdicts_follow_the_numbers_and_flip_with_them():
    v = guidance.cg_verdicts(made_up_cg((0.10, 0.55, 0.75), (28.0, 28.5, 40.0)), n=N)
    assert v["cg_chance"].startswith("the unguided sampler (s = 0) and chance cannot be told apart in class accuracy")
    assert v["cg_best"].startswith("s = 30 has the best class accuracy (0.750 ± 0.027): better than s = 3 by 0.200")
    assert v["cg_fid"].startswith("s = 0 is better than s = 30 in FID by 12.00 ± 2.77")
    v = guidance.cg_verdicts(made_up_cg((0.16, 0.55, 0.35), (40.0, 28.5, 28.0)), n=N)
    assert v["cg_chance"].startswith("the unguided sampler (s = 0) is better than chance in class accuracy by 0.060")
    assert v["cg_best"].startswith("s = 3 has the best class accuracy (0.550 ± 0.031): better than s = 30 by 0.200")
    assert v["cg_fid"].startswith("s = 30 is better than s = 0 in FID by 12.00 ± 2.77")
    v = guidance.cg_verdicts(made_up_cg((0.10, 0.11, 0.10), (28.0, 28.5, 28.0)), n=N)
    assert v["cg_best"].startswith("s = 3, s = 0 and s = 30 cannot be told apart in class accuracy at this N")
    assert v["cg_fid"].startswith("s = 30 and s = 0 cannot be told apart in FID at this N")
    with pytest.raises(ValueError, match="unguided scale s = 0"):
        guidance.cg_verdicts(made_up_cg((0.5, 0.6), (1.0, 2.0), scales=(1.0, 3.0)), n=N)


def test_cfg_against_cg_flips_and_only_a_resolved_gap_is_explained():
    sweep = made_up_sweep({"add": (0.8, 0.9, 1.0)}, {"add": (20.0, 15.0, 40.0)})
    ahead = guidance.cfg_vs_cg_verdict(sweep, made_up_cg((0.1, 0.5, 0.7), (28.0, 28.0, 32.0)), n_cfg=N, n_cg=N)
    assert ahead.startswith("classifier-free guidance (w = 3) is better than classifier guidance (s = 30) in class "
                            "accuracy by 0.300 ± ")
    assert "; classifier guidance (s = 30) is better than classifier-free guidance (w = 3) in FID by 8.00" in ahead
    assert ahead.endswith("would be expected to narrow the gap in class accuracy; ours is deliberately small")
    behind = guidance.cfg_vs_cg_verdict(sweep, made_up_cg((0.1, 0.5, 1.0), (28.0, 28.0, 45.0)), n_cfg=N, n_cg=N)
    assert behind.startswith("classifier-free guidance (w = 3) and classifier guidance (s = 30) cannot be told "
                             "apart in class accuracy at this N")
    assert "; classifier-free guidance (w = 3) is better than classifier guidance (s = 30) in FID by 5.00" in behind
    assert "narrow the gap" not in behind
    tie = guidance.cfg_vs_cg_verdict(sweep, made_up_cg((0.1, 0.5, 0.996), (28.0, 28.0, 41.0), n=500),
                                    n_cfg=N, n_cg=500)
    assert "cannot be told apart in FID at N = 500" in tie and "better" not in tie
    with pytest.raises(KeyError, match="common FID"):
        guidance.cfg_vs_cg_verdict(sweep.drop(columns=["common FID"]), made_up_cg((0.1,), (1.0,), scales=(0.0,)),
                                   n_cfg=N, n_cg=N)


def test_chance_verdict_against_one_in_ten_and_a_majority_share():
    assert guidance.chance_verdict(100, 1000, name="A").startswith("A and chance cannot be told apart")
    assert guidance.chance_verdict(200, 1000, name="A").startswith("A is better than chance in class accuracy by "
                                                                   "0.100 ± ")
    assert guidance.chance_verdict(106, 1000, name="A", chance=0.126, chance_name="the majority",
                                   quantity="accuracy").startswith("the majority is better than A in accuracy by 0.020")
    with pytest.raises(ValueError, match="rate in"):
        guidance.chance_verdict(1, 10, name="A", chance=1.5)


def test_sweep_display_shows_intervals_n_floor_and_ceiling():
    import pandas as pd

    table = pd.DataFrame({"s": [0.0, 5.0], "correct": [5, 10], "FID": [50.0, 40.0], "FID se": [2.0, 1.0],
                          "samples/s": [3.0, 1.0]})
    shown = guidance.sweep_display(table, keys={"s": "scale s"}, n=10, floor=3.14159, ceiling=300.4)
    lo, hi = wilson_interval(5, 10)
    assert list(shown.columns) == ["scale s", "class accuracy [95%] (of 10)",
                                   "FID ± 95% (N = 10; floor 3.14, ceiling 300)", "samples/s"]
    assert shown.iloc[0, 1] == f"0.500 [{lo:.3f}, {hi:.3f}]"
    assert list(shown.iloc[:, 2]) == ["50.00 ± 3.92", "40.00 ± 1.96"]
    with pytest.raises(KeyError, match="FID se"):
        guidance.sweep_display(table.drop(columns=["FID se"]), keys={"s": "scale s"}, n=10, floor=1, ceiling=2)


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
