"""The DDPM chapter's config and its cached sampler evaluation."""

import numpy as np
import pytest
import torch

from probgen.diffusion import NoiseSchedule, study
from probgen.runtime import ConfigError


def test_profiles_build_and_bad_values_raise():
    for profile in ("smoke", "quick", "full"):
        cfg = study.DDPMStudyConfig.for_profile(profile)
        assert cfg.unet().image_size == 28
        assert cfg.unet(conditional=True).n_classes == 10
    assert study.DDPMStudyConfig.for_profile("smoke").schedule_config().beta_end == pytest.approx(0.2)
    with pytest.raises(ConfigError, match="ddim_steps"):
        study.DDPMStudyConfig.for_profile("smoke", ddim_steps=(10, 5000))
    with pytest.raises(ConfigError, match="guidance"):
        study.DDPMStudyConfig.for_profile("smoke", guidance_scales=(-1.0,))
    with pytest.raises(ConfigError, match="unknown"):
        study.DDPMStudyConfig.for_profile("smoke", nonsense=1)
    with pytest.raises(ConfigError, match="groups"):
        study.DDPMStudyConfig.for_profile("smoke", base_channels=12)


def test_timed_samples_batches_and_counts():
    calls = []

    def draw(b, g):
        calls.append(b)
        return torch.randn(b, 1, 28, 28, generator=g)

    x, seconds = study.timed_samples(draw, 25, 10, device="cpu", seed=3)
    assert x.shape == (25, 1, 28, 28) and calls == [10, 10, 5] and seconds > 0
    y, _ = study.timed_samples(draw, 25, 10, device="cpu", seed=3)
    torch.testing.assert_close(x, y)


def _fake_features(monkeypatch):
    """FID features replaced by the first 6 pixels of each image (float64), so tests need no classifier."""
    from probgen import metrics

    monkeypatch.setattr(metrics, "load_fid_classifier", lambda device: None)
    monkeypatch.setattr(metrics, "extract_features", lambda clf, x: x.flatten(1)[:, :6].double().numpy())


def test_evaluate_sampler_is_cached_and_scores_every_n(monkeypatch):
    from probgen import metrics

    _fake_features(monkeypatch)
    calls = []

    def draw(b, g):
        calls.append(b)
        return torch.rand(b, 1, 28, 28, generator=g) * 2 - 1

    ref_x = torch.rand(50, 6, generator=torch.Generator().manual_seed(9)).double().numpy()
    ref = metrics.gaussian_stats(ref_x)
    refs = {4: ref, 8: ref, 50: ref}
    out = study.evaluate_sampler("test", "model-a", draw, 8, batch=4, device="cpu", references=refs, seed=0,
                                 keep=3, log=lambda m: None)
    assert sorted(out["fid"]) == sorted(out["fid_se"]) == [4, 8] and out["n"] == 8
    assert out["images"].shape == (3, 1, 28, 28) and out["samples_per_s"] > 0 and calls == [4, 4]
    x, _ = study.timed_samples(draw, 8, 4, device="cpu", seed=0)  # the same draws again
    for m in (4, 8):
        feats = x[:m].flatten(1)[:, :6].double().numpy()
        assert out["fid"][m] == pytest.approx(metrics.feature_fid(ref_x, feats), rel=1e-12)
        assert out["fid_se"][m] > 0
    again = study.evaluate_sampler("test", "model-a", draw, 8, batch=4, device="cpu", references=refs, seed=0,
                                   keep=3, log=lambda m: None)
    assert calls == [4, 4, 4, 4] and again["fid"] == out["fid"] and again["fid_se"] == out["fid_se"]  # loaded
    torch.testing.assert_close(again["images"], out["images"])


def test_fid_with_se_resamples_exactly_as_the_reference_fid():
    """The fast bootstrap path (reference square root computed once) gives the same FIDs as frechet_distance."""
    from probgen import metrics

    rng = np.random.default_rng(0)
    ref = metrics.gaussian_stats(rng.normal(size=(300, 5)))
    f = rng.normal(0.3, 1.2, size=(200, 5))
    fid, se = study.fid_with_se(ref, f, n_boot=3, seed=11)
    assert fid == pytest.approx(metrics.frechet_distance(*ref, *metrics.gaussian_stats(f)), rel=1e-12)
    draws = np.random.default_rng(11)
    boot = [metrics.frechet_distance(*ref, *metrics.gaussian_stats(f[draws.integers(0, 200, 200)])) for _ in range(3)]
    # both sides sum ~5 terms of size ~1-2 with a few dozen roundings each (5×5 matrix products, eigh)
    assert se == pytest.approx(np.std(boot, ddof=1), abs=1e-10)


def test_fid_with_se_matches_the_spread_over_independent_sample_sets():
    """On Gaussian features, the bootstrap se of one set is the sd of the FID over fresh sets, within MC error."""
    from probgen import metrics

    rng = np.random.default_rng(1)
    d, n, reps = 4, 400, 300
    ref = (np.zeros(d), np.eye(d))
    mean, scale = np.full(d, 0.5), np.diag([1.5, 1.0, 0.8, 1.2])
    fids = [metrics.frechet_distance(*ref, *metrics.gaussian_stats(rng.normal(size=(n, d)) @ scale + mean))
            for _ in range(reps)]
    true_sd = np.std(fids, ddof=1)
    ses = [study.fid_with_se(ref, rng.normal(size=(n, d)) @ scale + mean, n_boot=200, seed=s)[1] for s in range(5)]
    # sd of an sd estimated from k draws is ~ sd/sqrt(2(k-1)): ~4 % for the 300 sets, ~5 % for 200 resamples,
    # plus the spread of the bootstrap between sets (~10 % at n = 400); 35 % is > 3 of those combined
    assert np.mean(ses) == pytest.approx(true_sd, rel=0.35)
    se_small = study.fid_with_se(ref, rng.normal(size=(n // 4, d)) @ scale + mean, n_boot=200, seed=0)[1]
    assert se_small > 1.3 * np.mean(ses)  # ~2× at a quarter of N (se ∝ 1/√N)


def test_fid_with_se_rejects_bad_input():
    ref = (np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="N ≥ 2"):
        study.fid_with_se(ref, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n_boot"):
        study.fid_with_se(ref, np.ones((5, 3)), n_boot=1)


def test_fid_comparison_names_the_lower_fid_only_outside_the_noise():
    a = {"fid": {100: 10.0}, "fid_se": {100: 1.0}}
    b = {"fid": {100: 20.0}, "fid_se": {100: 1.0}}
    c = {"fid": {100: 11.0}, "fid_se": {100: 1.0}}
    assert study.fid_comparison(b, a, 100, names=("B", "A")).startswith("A is better than B in FID at N = 100 by 10.00 ± 2.77")
    assert study.fid_comparison(a, b, 100, names=("A", "B")).startswith("A is better than B in FID")
    tie = study.fid_comparison(a, c, 100, names=("A", "C"))  # 1 < 1.96·√2
    assert tie.startswith("A and C cannot be told apart in FID at N = 100")
    assert study.fid_verdict(a, c, 100, names=("A", "C")).sign == 0
    assert study.fid_verdict(b, a, 100, names=("B", "A")).sign == -1
    with pytest.raises(KeyError, match="N = 50"):
        study.fid_comparison(a, b, 50, names=("A", "B"))


def test_fid_estimate_reads_results_and_table_rows():
    e = study.fid_estimate({"FID (N=100)": 12.5, "FID se (N=100)": 0.5, "FID (N=400)": np.nan}, 100)
    assert (e.value, e.se) == (12.5, 0.5)
    with pytest.raises(KeyError, match="N = 400"):
        study.fid_estimate({"FID (N=400)": np.nan, "FID se (N=400)": np.nan}, 400)


def _row(model, sampler, steps, eta, fid, se=1.0, n=100):
    return {"model": model, "sampler": sampler, "steps": steps, "eta": eta, f"FID (N={n})": fid,
            f"FID se (N={n})": se}


def _samplers(stochastic, deterministic, ancestral=30.0, cosine=(20.0, 40.0), deq=(20.0, 40.0)):
    """A made-up sampler table of the DDPM chapter at N = 100: main model, cosine and dequantised variants."""
    rows = [_row("main", "DDPM ancestral", 1000, np.nan, ancestral)]
    for steps, f1, f0 in zip((10, 50), stochastic, deterministic):
        rows += [_row("main", "DDIM", steps, 1.0, f1), _row("main", "DDIM", steps, 0.0, f0)]
    rows += [_row("cosine schedule", "DDIM", 50, 1.0, cosine[0]), _row("cosine schedule", "DDIM", 10, 0.0, cosine[1])]
    rows += [_row("dequantised", "DDIM", 50, 1.0, deq[0]), _row("dequantised", "DDIM", 10, 0.0, deq[1])]
    return rows


def _verdicts(rows):
    return study.ddpm_verdicts(rows, main="main", n_main=100, n_cmp=100, variant_samplers={"hi": (50, 1.0),
                                                                                              "lo": (10, 0.0)})


def test_ddpm_verdicts_flip_with_the_numbers():
    """Made-up FIDs that favour η = 1, then η = 0, then neither: the chapter's sentences follow them."""
    eta1 = "stochastic DDIM (η = 1) is better than deterministic DDIM (η = 0) in FID at every step count"
    eta0 = "deterministic DDIM (η = 0) is better than stochastic DDIM (η = 1) in FID at every step count"
    # main model: η = 1 at (40, 20), η = 0 at (50, 40); variants equal to the main model's (50, 1) and (10, 0)
    v = _verdicts(_samplers((40.0, 20.0), (50.0, 40.0), cosine=(20.0, 50.0), deq=(20.0, 50.0)))
    assert v["eta_verdict"] == eta1
    assert v["eta_differences"] == "10 steps: −10.00 ± 2.77; 50 steps: −20.00 ± 2.77"
    assert v["best_sampler"] == "DDIM 50 steps (η = 1)"
    assert v["best_sentence"].startswith("DDIM 50 steps (η = 1) has the lowest FID (20.00 ± 1.96), lower than every")
    assert "cannot be told apart" in v["cos_verdict_hi"] and "cannot be told apart" in v["deq_verdict_lo"]
    assert v["deq_choice"].startswith("dequantisation brings no measurable gain")

    v = _verdicts(_samplers((50.0, 40.0), (40.0, 20.0), cosine=(50.0, 10.0), deq=(10.0, 10.0)))
    assert v["eta_verdict"] == eta0
    assert v["best_sampler"] == "DDIM 50 steps (η = 0)"
    assert v["cos_verdict_hi"].startswith("the linear-schedule model is better than the cosine-schedule model")
    assert v["cos_verdict_lo"].startswith("the cosine-schedule model is better than the linear-schedule model")
    assert v["deq_verdict_hi"].startswith("the dequantised model is better than the main model")
    assert v["deq_choice"].startswith("dequantisation lowers the FID at every sampler")

    v = _verdicts(_samplers((40.0, 20.5), (40.5, 20.0), ancestral=21.0, deq=(10.0, 60.0)))
    assert v["eta_verdict"] == ("stochastic DDIM (η = 1) and deterministic DDIM (η = 0) cannot be told apart in FID "
                                "at any step count at this N")
    assert v["best_sentence"].startswith("DDIM 50 steps (η = 0) has the lowest FID (20.00 ± 1.96): lower than 2 of "
                                         "the "
                                         "4 other samplers beyond the noise, and not told apart from DDPM ancestral "
                                         "and DDIM 50 steps (η = 1)")
    assert v["deq_choice"].startswith("dequantisation helps at some samplers and not at others")
    v = _verdicts(_samplers((40.0, 20.0), (50.0, 40.0), deq=(30.0, 60.0)))
    assert v["deq_choice"].startswith("dequantisation raises the FID")


def test_lowest_fid_names_a_tie_with_every_other():
    E = study.Estimate
    best, text = study.lowest_fid({"A": E(10.0, 5.0), "B": E(11.0, 5.0)})
    assert best == "A" and text.endswith("cannot be told apart from any other sampler at this N")
    with pytest.raises(ValueError, match="at least two"):
        study.lowest_fid({"A": E(10.0, 5.0)})


def test_label_agreement_counts_chains_whose_estimate_has_the_final_label(monkeypatch):
    import probgen.metrics as metrics

    class Model:  # only eps and predict_x0 are used; x̂_0 = x_t, and the step index must be t − 1
        def eps(self, x, idx):
            seen.append(idx.tolist())
            return torch.zeros_like(x)

        def predict_x0(self, x, idx, eps):
            return x

    model = Model()

    def fake_proba(classifier, x):  # the label is the first pixel: label / 4.5 − 1 in [−1, 1]
        p = torch.zeros(len(x), 10)
        p[torch.arange(len(x)), ((x.flatten(1)[:, 0] + 1) * 4.5).round().long()] = 1
        return p

    def images(labels):
        return (torch.tensor(labels, dtype=torch.float32) / 4.5 - 1).view(-1, 1, 1, 1)

    monkeypatch.setattr(metrics, "predict_proba", fake_proba)
    final = images([1, 2, 3, 4])
    seen = []
    path = {0: final, 10: images([1, 2, 3, 0]), 50: images([0, 0, 3, 0])}
    agreement = study.label_agreement(model, None, path)
    assert agreement == {50: (1, 4), 10: (3, 4)}
    assert seen == [[49] * 4, [9] * 4]  # x_t enters the reverse step of index t − 1
    assert study.agreement_sentence(agreement) == "at t = 50, 1 of 4 chains; at t = 10, 3 of 4"
    with pytest.raises(ValueError, match="final sample"):
        study.label_agreement(model, None, {10: final})


def test_evaluate_sampler_refuses_nan_samples():
    with pytest.raises(FloatingPointError, match="NaN"):
        study.evaluate_sampler("bad", "m", lambda b, g: torch.full((b, 1, 28, 28), float("nan")), 4, batch=4,
                               device="cpu", references={}, seed=0, log=lambda m: None)


def test_class_accuracy_per_class(monkeypatch):
    import probgen.metrics as metrics

    def fake_proba(classifier, samples):  # predicts 0, 1, 5, 3
        p = torch.zeros(len(samples), 10)
        p[torch.arange(len(samples)), torch.tensor([0, 1, 5, 3])] = 1
        return p

    monkeypatch.setattr(metrics, "predict_proba", fake_proba)
    out = study.class_accuracy(object(), torch.tensor([0, 1, 2, 3]))(torch.zeros(4, 1, 28, 28))
    assert out["accuracy"] == 0.75
    assert out["accuracy_per_class"][2] == 0.0 and out["accuracy_per_class"][3] == 1.0


def test_cosine_and_dequantised_variants_train_at_the_same_budget_under_their_own_keys(monkeypatch):
    """The chapter's extra models: `variant` keeps the budget and drops previews; each trains, under its own cache
    key, with the schedule and dequantisation it names."""
    g = torch.Generator().manual_seed(0)
    k = torch.randint(0, 256, (48, 1, 28, 28), generator=g)
    images = (k.double() / 255 * 2 - 1).float()  # 8-bit images in [−1, 1], as load_mnist gives them
    monkeypatch.setattr(study, "load_training_data", lambda cfg: (images, torch.zeros(48, dtype=torch.long)))
    base = study.DDPMStudyConfig.for_profile("smoke", max_steps=3, batch_size=16, preview_epochs=(1,))
    cosine, deq = base.variant(schedule="cosine"), base.variant(dequantize=True)
    assert cosine.max_steps == deq.max_steps == 3 and cosine.batch_size == 16 and cosine.preview_epochs == ()
    logs = []
    trained = {}
    for name, cfg in (("linear", base.variant()), ("cosine", cosine), ("dequantised", deq)):
        model, record = study.train_ddpm(cfg, log=logs.append, progress=False)
        assert record["step"] == 3 and np.isfinite(record["history"]["loss"]).all()
        trained[name] = (model, record)
    s = trained["cosine"][0].schedule
    ref = NoiseSchedule.cosine(base.T)
    torch.testing.assert_close(s.alpha_bars, ref.alpha_bars, rtol=0, atol=0)
    # ᾱ starts just below 1 (β_1 ≈ 4e-4 at T = 100, s = 0.008) and ends near 0 (β_T clipped at 0.999)
    assert 0.999 < float(s.alpha_bars[0]) < 1 and float(s.alpha_bars[-1]) < 1e-4
    assert not torch.equal(s.alpha_bars, trained["linear"][0].schedule.alpha_bars)
    assert trained["dequantised"][0].dequantize and not trained["linear"][0].dequantize
    keys = {study.model_key(r) for _, r in trained.values()}
    assert len(keys) == 3  # three different networks, not one reused from the cache
    with pytest.raises(ConfigError, match="dequantize"):
        study.DDPMStudyConfig.for_profile("smoke", dequantize="yes")


def test_loss_sentence_reads_the_three_points_of_the_curve():
    text = study.loss_sentence([0.5] + [0.1] * 18 + [0.05])  # 20 blocks: a tenth is the second block
    assert text == ("The noise-prediction loss (mean over each 50 steps) is 0.5000 over the first 50 steps, 0.1000 "
                    "after a tenth of the training and 0.0500 over the last 50")
    assert study.loss_sentence([0.5, 0.4]).startswith("The run is shorter than three blocks")


def test_evaluate_sampler_caches_what_the_draw_recorded(monkeypatch):
    """`extra` keeps tensors the draw recorded (a latent model's codes) with the samples; a cached call returns
    them without drawing again, and a call without `extra` is cached under its own key."""
    from probgen import metrics

    _fake_features(monkeypatch)
    codes, calls = [], []

    def draw(b, g):
        calls.append(b)
        z = torch.randn(b, 3, generator=g)
        codes.append(z)
        return torch.tanh(z[:, :1, None, None]).expand(b, 1, 28, 28).clone()

    ref = metrics.gaussian_stats(np.random.default_rng(0).normal(size=(50, 6)))
    kw = dict(batch=4, device="cpu", references={8: ref}, seed=0, log=lambda m: None)
    out = study.evaluate_sampler("rec", "model-b", draw, 8, extra={"codes": lambda: torch.cat(codes)}, **kw)
    torch.testing.assert_close(out["codes"], torch.cat(codes))
    assert out["codes"].shape == (8, 3) and calls == [4, 4]
    again = study.evaluate_sampler("rec", "model-b", draw, 8, extra={"codes": lambda: torch.zeros(1)}, **kw)
    assert calls == [4, 4]
    torch.testing.assert_close(again["codes"], out["codes"])  # loaded, not recomputed
    plain = study.evaluate_sampler("rec", "model-b", draw, 8, **kw)
    assert calls == [4, 4, 4, 4] and "codes" not in plain
    with pytest.raises(ValueError, match="images"):
        study.evaluate_sampler("rec", "model-b", draw, 8, extra={"images": lambda: torch.zeros(1)}, **kw)
