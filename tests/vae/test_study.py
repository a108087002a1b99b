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
