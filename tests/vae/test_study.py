import numpy as np
import pytest

from probgen.runtime import ConfigError
from probgen.vae import study

from .helpers import binary_images


def test_profiles_build_and_name_their_seeds():
    for profile in ("smoke", "quick", "full"):
        cfg = study.PriorStudyConfig.for_profile(profile, seed=3)
        assert cfg.seeds == list(range(3, 3 + cfg.n_seeds))
        assert cfg.train_config("flow", 4).seed == 4 and cfg.train_config("flow", 4).view == "binarized"
        study.BasicsConfig.for_profile(profile)
    assert study.PriorStudyConfig.for_profile("quick").n_seeds >= 3
    assert study.PriorStudyConfig.for_profile("full").n_seeds >= 5
    assert study.PriorStudyConfig.for_profile("quick").iwae_k >= 100
    assert study.PriorStudyConfig.for_profile("full").iwae_k >= 1000


@pytest.mark.parametrize("overrides, message", [
    (dict(priors=("gaussian", "cauchy")), "priors"),
    (dict(n_train=0), "n_train"),
    (dict(iwae_k=0), "iwae_k"),
    (dict(epoch=3), "unknown parameter"),
])
def test_bad_study_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        study.PriorStudyConfig.for_profile("smoke", **overrides)


def test_basics_config_is_the_reference_architecture():
    cfg = study.BasicsConfig.for_profile("quick").train_config()
    assert (cfg.hidden, cfg.latent_dim, cfg.view, cfg.likelihood, cfg.epochs) == ((400,), 20, "unit", "bernoulli", 20)
    assert study.BasicsConfig.for_profile("quick").train_config(latent_dim=2).latent_dim == 2


def test_prior_study_trains_scores_and_summarises_tiny_runs():
    cfg = study.PriorStudyConfig.for_profile("smoke", priors=("gaussian", "mog"), n_seeds=2, epochs=1, latent_dim=2,
                                             hidden=(16,), flow_hidden=8, iwae_k=5, iwae_images=8)
    x = binary_images(96, seed=1)
    data = study.MNISTSplits("binarized", x[:64], x[64:80], x[80:], np.arange(16) % 10)
    runs = study.run_prior_study(cfg, data, log=lambda m: None, progress=False)
    assert [(r.prior, r.seed) for r in runs] == [("gaussian", 0), ("gaussian", 1), ("mog", 0), ("mog", 1)]
    for r in runs:
        assert r.scores["iwae_images"] == 8 and np.isfinite(r.scores["iwae_mean"])
    summary = study.summary_table(runs)
    assert list(summary["seeds"]) == [2, 2]
    per_run = study.runs_table(runs)
    g = per_run[per_run.prior == study.PRIOR_NAMES["gaussian"]]["test ELBO"]
    assert summary["test ELBO mean"].iloc[0] == pytest.approx(g.mean())
    assert summary["test ELBO std"].iloc[0] == pytest.approx(g.std(ddof=1))
    with pytest.raises(ValueError, match="binarized"):
        study.run_prior_study(cfg, study.MNISTSplits("unit", x, x, x, np.zeros(96)), progress=False)


def test_mean_std_text():
    assert study.mean_std_text(-88.8, 0.7) == "-88.80 ± 0.70"
    assert study.mean_std_text(-88.8, float("nan")) == "-88.80"


def test_basics_splits_follow_the_reference_protocol():
    cfg = study.BasicsConfig.for_profile("smoke")
    assert (cfg.train_split, cfg.val_split) == ("trainval", "test")
    with pytest.raises(ConfigError, match="val_split"):
        study.BasicsConfig.for_profile("smoke", val_split="train")


def test_paired_difference_is_the_mean_and_standard_error_of_the_differences():
    a = np.array([1.0, 2.0, 4.0, 7.0])
    b = np.array([0.0, 1.5, 3.0, 6.5])
    d = study.paired_difference(a, b, ("A", "B"))
    # differences 1, 0.5, 1, 0.5: mean 0.75, sample std sqrt(1/12), standard error sqrt(1/12) / 2
    assert d.difference == pytest.approx(0.75) and d.standard_error == pytest.approx(np.sqrt(1 / 12) / 2)
    assert d.n == 4 and d.resolved
    assert d.phrase() == "higher than the B's by 0.75 ± 0.14 nats"
    with pytest.raises(ValueError, match="same items"):
        study.paired_difference(a, b[:3], ("A", "B"))


def test_pairing_removes_the_spread_both_models_share():
    rng = np.random.default_rng(0)
    hardness = rng.normal(0, 30, 2000)  # per-image difficulty, common to both models
    a, b = hardness + 0.5 + rng.normal(0, 1, 2000), hardness + rng.normal(0, 1, 2000)
    d = study.paired_difference(a, b, ("A", "B"))
    assert d.standard_error == pytest.approx(np.sqrt(2 / 2000), rel=0.1)  # not 30 / sqrt(2000)
    assert d.resolved and abs(d.difference - 0.5) < 4 * d.standard_error


def test_ranking_sentence_names_the_best_and_says_what_the_noise_allows():
    rng = np.random.default_rng(1)
    base = rng.normal(-140, 20, 5000)
    per_image = {"flow prior": base + 1.0 + rng.normal(0, 1, 5000),
                 "Gaussian prior": base + rng.normal(0, 1, 5000),
                 "mixture prior": base + 0.98 + rng.normal(0, 1, 5000)}
    text = study.ranking_sentence(per_image)
    assert text.startswith("The flow prior's model has the highest mean test ELBO")
    assert "higher than the Gaussian prior's by 1.0" in text
    assert "within the noise of the mixture prior's" in text and "N = 5000 test images" in text
    tie = study.ranking_sentence({"A": base, "B": base + rng.normal(0, 1, 5000)})
    assert tie.startswith("The mean test ELBOs cannot be told apart")
    with pytest.raises(ValueError, match="at least two"):
        study.ranking_sentence({"A": base})


def test_basics_traversal_grid_is_the_exercise_one():
    cfg = study.BasicsConfig.for_profile("quick")
    assert cfg.traversal_offsets() == [-4.0, -2.0, 0.0, 2.0, 4.0]  # k in {-2..2} times epsilon = 2
    assert cfg.n_alphas == 11 and len(cfg.interpolation_digits) == 3
    for bad, message in [(dict(traversal_step=0), "traversal_step"), (dict(n_alphas=1), "n_alphas"),
                         (dict(interpolation_digits=((2, 17),)), "interpolation_digits"),
                         (dict(traversal_k=(0.5, 1)), "traversal_k")]:
        with pytest.raises(ConfigError, match=message):
            study.BasicsConfig.for_profile("smoke", **bad)


def test_2d_runs_use_the_recipe_of_the_main_runs():
    cfg = study.PriorStudyConfig.for_profile("quick")
    main, flat = cfg.train_config("flow", 0), cfg.train_config("flow", 0, latent_dim=cfg.latent_dim_2d)
    assert flat.latent_dim == 2 and main.latent_dim == cfg.latent_dim
    assert {k: v for k, v in vars(flat).items() if k != "latent_dim"} == \
        {k: v for k, v in vars(main).items() if k != "latent_dim"}


def test_run_2d_priors_trains_one_model_per_prior_with_per_image_scores():
    cfg = study.PriorStudyConfig.for_profile("smoke", priors=("gaussian", "flow"), epochs=1, hidden=(16,),
                                             flow_hidden=8, seed=2)
    x = binary_images(96, seed=1)
    data = study.MNISTSplits("binarized", x[:64], x[64:80], x[80:], np.arange(16) % 10)
    runs = study.run_2d_priors(cfg, data, log=lambda m: None, progress=False)
    assert [(r.prior, r.seed, r.model.latent_dim) for r in runs] == [("gaussian", 2, 2), ("flow", 2, 2)]
    for r in runs:
        assert r.scores["elbo_per_image"].shape == (16,)
        assert r.scores["elbo_mean"] == pytest.approx(r.scores["elbo_per_image"].mean())
        assert len(r.history["val_neg_elbo"]) == 1
    with pytest.raises(ValueError, match="binarized"):
        study.run_2d_priors(cfg, study.MNISTSplits("unit", x, x, x, np.zeros(96)), progress=False)


def test_seed_difference_uses_welch_standard_error_and_declines_single_runs():
    d = study.seed_difference([1.0, 2.0, 3.0], [0.0, 0.5], ("A", "B"))
    # means 2 and 0.25; variances 1 (n=3) and 0.125 (n=2): se = sqrt(1/3 + 0.125/2)
    assert d.difference == pytest.approx(1.75) and d.standard_error == pytest.approx(np.sqrt(1 / 3 + 0.0625))
    assert d.n == 2 and d.resolved
    one = study.seed_difference([1.0], [0.0, 0.5], ("A", "B"))
    assert np.isnan(one.standard_error) and not one.resolved and "one run each cannot judge" in one.phrase()
    with pytest.raises(ValueError, match="at least one run"):
        study.seed_difference([], [1.0], ("A", "B"))
