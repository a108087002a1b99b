import numpy as np
import pytest
import torch

from probgen.runtime import ConfigError
from probgen.vae import study

from ..tolerances import rounding_tol
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
    # smoke trains too briefly for a target; the others name theirs
    assert study.PriorStudyConfig.for_profile("smoke").target_test_elbo is None
    assert study.PriorStudyConfig.for_profile("quick").target_test_elbo is not None


@pytest.mark.parametrize("overrides, message", [
    (dict(priors=("gaussian", "cauchy")), "priors"),
    (dict(n_train=0), "n_train"),
    (dict(iwae_k=0), "iwae_k"),
    (dict(epoch=3), "unknown parameter"),
    (dict(target_test_elbo="low"), "target_test_elbo"),
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
    # the standard errors: test-set (run-averaged images) and combined with the spread over seeds
    x = study.per_image_scores(runs, "gaussian")  # (seeds, images)
    assert x.shape == (2, 16) and x.mean(1) == pytest.approx(g.to_numpy())
    test_se = x.mean(0).std(ddof=1) / np.sqrt(16)
    assert summary["test ELBO test-set s.e."].iloc[0] == pytest.approx(test_se)
    assert summary["test ELBO s.e."].iloc[0] == pytest.approx(np.hypot(g.std(ddof=1) / np.sqrt(2), test_se))
    est = study.prior_estimates(runs)
    assert list(est) == [study.PRIOR_NAMES["gaussian"], study.PRIOR_NAMES["mog"]]
    assert est[study.PRIOR_NAMES["gaussian"]].se == pytest.approx(summary["test ELBO s.e."].iloc[0])
    # reconstruction error is −log p(x|z); ELBO = log p(x|z) − KL image by image, one float32 subtraction apart
    rec = study.per_image_scores(runs, "gaussian", "reconstruction error")
    kl = study.per_image_scores(runs, "gaussian", "KL")
    np.testing.assert_allclose(-rec - kl, x, rtol=rounding_tol(torch.float32), atol=0)
    assert summary["IWAE − ELBO (same images)"].iloc[0] == pytest.approx(
        study.per_image_scores(runs, "gaussian", "IWAE − ELBO").mean())
    with pytest.raises(ValueError, match="no runs of prior"):
        study.per_image_scores(runs, "flow")
    with pytest.raises(ValueError, match="score="):
        study.per_image_scores(runs, "gaussian", "likelihood")
    with pytest.raises(ValueError, match="binarized"):
        study.run_prior_study(cfg, study.MNISTSplits("unit", x, x, x, np.zeros(96)), progress=False)


def test_basics_splits_follow_the_reference_protocol():
    cfg = study.BasicsConfig.for_profile("smoke")
    assert (cfg.train_split, cfg.val_split) == ("trainval", "test")
    with pytest.raises(ConfigError, match="val_split"):
        study.BasicsConfig.for_profile("smoke", val_split="train")


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
