import numpy as np
import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import study
from probgen.stats import binomial_estimate

from ..tolerances import rounding_tol


def test_profiles_and_validation():
    for profile in ("smoke", "quick", "full"):
        cfg = study.SpiralStudyConfig.for_profile(profile)
        sc = cfg.score_config("dsm")
        assert (sc.beta_1, sc.K, sc.steps) == (cfg.beta_1, cfg.K, cfg.steps)
        assert cfg.score_config("dsm", n_classes=10).n_classes == 10
    assert 7.5 in study.SpiralStudyConfig.for_profile("quick").guidance_scales
    with pytest.raises(ConfigError, match="beta"):
        study.SpiralStudyConfig.for_profile("smoke", beta_1=0.0001)
    with pytest.raises(ConfigError, match="guidance_scales"):
        study.SpiralStudyConfig.for_profile("smoke", guidance_scales=(-1.0,))
    assert [study.SpiralStudyConfig.for_profile(p, seed=4).training_seeds() for p in ("smoke", "quick")] == [
        [4, 5, 6], [4, 5, 6]]
    with pytest.raises(ConfigError, match="n_seeds"):
        study.SpiralStudyConfig.for_profile("smoke", n_seeds=1)


class _FixedClassifier(torch.nn.Module):
    """Always predicts the class given by the sign pattern of the mean pixel (for testing `judge`)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.full((x.shape[0], 10), -10.0)
        logits[:, 3] = 10.0  # always "3", with confidence ~1
        return logits + 0 * self.w


def test_judge_reports_confidence_entropy_and_accuracy():
    images = torch.zeros(20, 1, 28, 28) - 0.5
    out = study.judge(_FixedClassifier(), images, intended=np.array([3] * 10 + [4] * 10))
    assert out["accuracy"] == pytest.approx(0.5)
    # the exact value 1 − 9e⁻²⁰/(1 + 9e⁻²⁰) is 1 in float32; softmax and the mean over images round a few times
    assert out["confidence"] == pytest.approx(1.0, abs=rounding_tol(torch.float32, 1.0, ops=4))
    assert out["label_entropy_bits"] == pytest.approx(0.0)
    assert out["correct"] == 10 and out["confidence_se"] <= rounding_tol(torch.float32, 1.0, ops=4)


def test_decode_for_classifier_maps_to_symmetric_range():
    from probgen.vae import VAETrainConfig, build_vae

    model = build_vae(VAETrainConfig(latent_dim=2, hidden=(8,), view="unit"))
    images = study.decode_for_classifier(model, torch.randn(5, 2))
    assert images.shape == (5, 1, 28, 28) and images.min() >= -1 and images.max() <= 1


def test_cfg_settings_are_the_exercise_s_and_the_earlier_ones():
    cfg = study.SpiralStudyConfig.for_profile("quick")
    settings = cfg.cfg_settings()
    exercise, earlier = settings
    assert settings[exercise] == {"p_uncond": 0.2, "embedding_dim": 256, "beta_1": 12.0}
    assert settings[earlier] == {"p_uncond": 0.1, "embedding_dim": 32, "beta_1": cfg.beta_1}
    sc = cfg.cfg_config(exercise)
    assert (sc.p_uncond, sc.embedding_dim, sc.beta_1, sc.n_classes, sc.steps, sc.loss) == (0.2, 256, 12.0, 10,
                                                                                         cfg.latent_steps, "dsm")
    # the earlier model is the one this chapter trained before (same config, so the same cached weights)
    old = study.Score2DConfig(loss="dsm", steps=cfg.latent_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                              hidden=cfg.hidden, K=cfg.K, beta_0=cfg.beta_0, beta_1=cfg.beta_1, n_classes=10,
                              seed=cfg.seed, device=cfg.device)
    assert cfg.cfg_config(earlier) == old
    with pytest.raises(ConfigError, match="setting='other'"):
        cfg.cfg_config("other")
    with pytest.raises(ConfigError, match="cfg_p_uncond"):
        study.SpiralStudyConfig.for_profile("smoke", cfg_p_uncond=1.0)
    with pytest.raises(ConfigError, match="fid_bootstrap"):
        study.SpiralStudyConfig.for_profile("smoke", fid_bootstrap=1)
    with pytest.raises(ConfigError, match="classifier_epochs"):  # the chapter no longer trains its own classifier
        study.SpiralStudyConfig.for_profile("smoke", classifier_epochs=2)


def test_evaluate_guidance_samples_on_the_model_s_own_schedule(monkeypatch):
    from probgen.metrics import MNISTClassifier, fid_stats
    from probgen.score2d import build_score_model
    from probgen.stats import binomial_estimate
    from probgen.vae import VAETrainConfig, build_vae

    cfg = study.SpiralStudyConfig.for_profile("smoke", K=20)
    sc = cfg.cfg_config("the exercise's settings").replace(hidden=8)
    model = build_score_model(sc)
    vae_model = build_vae(VAETrainConfig(latent_dim=2, hidden=(8,), view="unit"))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        classifier = MNISTClassifier().eval()
    reference = fid_stats(torch.rand(30, 1, 28, 28) * 2 - 1, classifier=classifier)
    schedules = []
    real_sampler = study.reverse_sample

    def spy(score_fn, n, schedule, generator, **kw):
        schedules.append(schedule)
        return real_sampler(score_fn, n, schedule, generator, **kw)

    monkeypatch.setattr(study, "reverse_sample", spy)
    kwargs = dict(vae_model=vae_model, classifier=classifier, code_scale=2.0, guidance_scales=(0.0, 3.0),
                  n_per_class=3, reference=reference, n_boot=5, seed=0)
    rows, latents, fids = study.evaluate_guidance(model, **kwargs)
    assert [s.beta_1 for s in schedules] == [12.0, 12.0]  # not the spiral's β₁ = 20
    assert [r["w"] for r in rows] == [0.0, 3.0] and set(latents) == set(fids) == {0.0, 3.0}
    for r in rows:
        assert latents[r["w"]].shape == (30, 2)
        assert r["accuracy se"] == binomial_estimate(round(30 * r["class accuracy"]), 30).se
        assert r["FID se"] == fids[r["w"]]["se"]
        assert r["FID"] == fids[r["w"]]["fid"] and r["FID low"] <= r["FID high"]
        intended = np.repeat(np.arange(10), 3)  # the order the docstring promises: 3 of digit 0, then 3 of 1, ...
        verdict = study.judge(classifier, study.decode_for_classifier(vae_model, latents[r["w"]]), intended)
        assert r["class accuracy"] == verdict["accuracy"]
    again, _, _ = study.evaluate_guidance(model, **kwargs)
    assert again == rows  # seeded: the same samples and bootstrap
    # a further training run's scores for the comparison over seeds: the same samples, count and FID as the table
    one = {k: kwargs[k] for k in ("vae_model", "classifier", "code_scale", "guidance_scales", "n_per_class",
                                  "reference", "seed")}
    scores = study.guided_scores(model, **one)
    assert set(scores) == {0.0, 3.0}
    for r in rows:
        assert scores[r["w"]] == {"correct": round(30 * r["class accuracy"]), "n": 30, "fid": r["FID"]}
    with pytest.raises(ValueError, match="n_classes"):
        study.evaluate_guidance(build_score_model(cfg.score_config("dsm").replace(hidden=8)), **kwargs)


# ----- the chapter's verdicts flip with the numbers ----------------------------------------------------------

def _history(levels):
    """A logged loss: one value per block of 50 steps."""
    return {"step": list(range(50, 50 * (len(levels) + 1), 50)), "loss": list(levels)}


def test_loss_trend_says_falling_rising_or_level():
    noise = np.tile([0.01, -0.01], 10)
    falling = study.loss_trend(_history(np.linspace(2.0, 1.0, 20) + noise), what="denoising")
    assert falling.sign == 1
    assert falling.sentence.startswith("the last fifth of training is better than the fifth before in denoising loss")
    rising = study.loss_trend(_history(np.linspace(1.0, 2.0, 20) + noise), what="denoising")
    assert rising.sign == -1 and rising.sentence.startswith("the fifth before is better than the last fifth")
    level = study.loss_trend(_history(1.0 + noise * 10), what="denoising")
    assert level.sign == 0 and "cannot be told apart in denoising loss within the minibatch noise" in level.sentence
    # the last 4 blocks against the 4 before: means 1.0 and 2.0 exactly, so the change is −50 %
    step = study.loss_trend(_history([2.0] * 16 + [1.0] * 4), what="denoising")
    assert study.relative_change(step, 2.0).startswith("-50.0 % ± 0.0 %")
    with pytest.raises(ValueError, match="at least 4"):
        study.loss_trend(_history([1.0, 2.0, 3.0]), what="x")


def test_sample_verdicts_rank_by_nll_and_call_a_cloud_a_cloud():
    from probgen.stats import Estimate

    nll = {"A": Estimate(3.0, 0.05), "B": Estimate(8.0, 0.1)}
    arms = {"A": Estimate(0.9, 0.01), "B": Estimate(0.2, 0.01), "data": Estimate(0.99, 0.002)}
    out = study.sample_verdicts(nll, arms)
    assert out["nll_rank"].startswith("A has the best mean NLL under the true mixture")
    assert out["arm_A"].startswith("data is better than A in the fraction of samples on an arm")
    assert out["off_arm"].startswith("most samples of B lie off the arms")
    # the other way round: B is the good model, and no one is a cloud
    flipped = study.sample_verdicts({"A": Estimate(8.0, 0.1), "B": Estimate(3.0, 0.05)},
                                    {"A": Estimate(0.6, 0.01), "B": Estimate(0.99, 0.002),
                                     "data": Estimate(0.99, 0.002)})
    assert flipped["nll_rank"].startswith("B has the best")
    assert flipped["arm_B"].startswith("B and data cannot be told apart")
    assert flipped["off_arm"].startswith("every learned score puts at least 50%")
    # a fraction below one half within its error is not yet called a cloud
    assert study.sample_verdicts(nll, {**arms, "B": Estimate(0.45, 0.05)})["off_arm"].startswith("every learned")
    with pytest.raises(KeyError, match="fresh data"):
        study.sample_verdicts(nll, {"A": arms["A"], "B": arms["B"]})


def test_floor_error_and_spread_sentences():
    above = study.floor_sentence({"a": {"fid": 50.0, "low": 48.0, "high": 52.0},
                                  "b": {"fid": 30.0, "low": 28.0, "high": 33.0}}, floor=5.0)
    assert above == "every FID lies above the floor of 5.0: the lowest, 30.0 [28.0, 33.0] (b), is 6 times the floor"
    reached = study.floor_sentence({"a": {"fid": 5.5, "low": 4.5, "high": 6.5}}, floor=5.0)
    assert reached.startswith("the lowest FID, 5.5 [4.5, 6.5] (a), reaches the floor")
    where = study.error_sentence([1, 10, 100], [2.0, 0.5, 0.02], name="denoising")
    assert "largest at k = 1 (2.00) and smallest at k = 100 (0.020)" in where
    assert "largest at k = 100" in study.error_sentence([1, 10, 100], [0.02, 0.5, 2.0], name="denoising")
    # digit-major latents: class c at c + (0, ±s); guidance halves the spread of every digit
    signs = torch.tensor([1.0, -1.0]).repeat(10)[:, None]
    centre = torch.arange(10.0).repeat_interleave(2)[:, None]
    wide = torch.cat([centre, signs * 2.0], 1)
    narrow = torch.cat([centre, signs * 1.0], 1)
    np.testing.assert_allclose(study.class_spread(wide, 2), np.full(10, 2.0))
    ratio = study.spread_ratio(narrow, wide, 2)
    assert ratio.value == pytest.approx(0.5) and ratio.se == pytest.approx(0.0, abs=1e-15)


def test_run_spread_sentence_tells_training_noise_from_sampling_noise():
    # three runs that agree to within their binomial noise (sd 0.013 per run at p = 0.8, n = 1000)
    calm = study.run_spread_sentence([800, 805, 795], 1000, w=7.5)
    assert "0.800, 0.805 and 0.795" in calm and "w = 7.5" in calm
    assert "a standard deviation of 0.005 between the runs, against 0.013" in calm
    assert "do not differ by more than their samples explain" in calm
    # the same mean, but runs 0.05 apart: far beyond what 1000 samples each explain
    loud = study.run_spread_sentence([750, 800, 850], 1000, w=7.5)
    assert "differ by more than their samples explain" in loud and "do not" not in loud
    assert "retraining moves this number beyond its binomial error" in loud
    # all right (or all wrong): no test possible, and nothing to tell apart
    assert "do not differ" in study.run_spread_sentence([10, 10], 10, w=1.0)
    with pytest.raises(ValueError, match="at least 2 runs"):
        study.run_spread_sentence([5], 10, w=1.0)


def test_compare_over_runs_pairs_the_seeds_and_flips_with_the_numbers():
    names = ("A", "B")
    # B is better in every run by 0.02 while the runs themselves spread by 0.1: paired, the gap is resolved
    a, b = [700, 800, 900], [720, 820, 920]
    v = study.compare_over_runs(a, b, names=names, quantity="class accuracy", better="higher", fmt="{:.3f}", n=1000)
    assert v.sign == -1 and v.sentence.startswith("B is better than A in class accuracy by 0.020")
    assert "0.820" in v.sentence and "0.800" in v.sentence  # each side's mean over the runs
    # the same means, but the runs disagree about the order: a tie over the runs
    v = study.compare_over_runs([700, 840, 860], [760, 800, 840], names=names, quantity="class accuracy",
                                better="higher", fmt="{:.3f}", n=1000)
    assert v.sign == 0 and "cannot be told apart in class accuracy over 3 training runs" in v.sentence
    # an equal shift in every run is never below the binomial error of the pooled samples (n = 10 here)
    v = study.compare_over_runs([5, 6], [4, 5], names=names, quantity="class accuracy", better="higher",
                                fmt="{:.3f}", n=10)
    assert v.sign == 0 and v.difference.se > 0.1
    # lower is better for an FID: the numbers swapped, the verdict swaps
    v = study.compare_over_runs([10.0, 12.0, 11.0], [14.0, 16.5, 15.2], names=names, quantity="FID",
                                better="lower", fmt="{:.1f}")
    assert v.sign == 1 and v.sentence.startswith("A is better than B in FID by 4.2")
    v = study.compare_over_runs([14.0, 16.5, 15.2], [10.0, 12.0, 11.0], names=names, quantity="FID",
                                better="lower", fmt="{:.1f}")
    assert v.sign == -1 and v.sentence.startswith("B is better than A in FID")
    with pytest.raises(ValueError, match="same ≥ 2 seeds"):
        study.compare_over_runs([1.0, 2.0], [1.0], names=names, quantity="FID", better="lower", fmt="{:.1f}")
