import numpy as np
import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import study

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
    from probgen.score2d.evaluation import binomial_se
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
        assert r["accuracy se"] == pytest.approx(binomial_se(r["class accuracy"], 30))
        assert r["FID"] == fids[r["w"]]["fid"] and r["FID low"] <= r["FID high"]
        intended = np.repeat(np.arange(10), 3)  # the order the docstring promises: 3 of digit 0, then 3 of 1, ...
        verdict = study.judge(classifier, study.decode_for_classifier(vae_model, latents[r["w"]]), intended)
        assert r["class accuracy"] == verdict["accuracy"]
    again, _, _ = study.evaluate_guidance(model, **kwargs)
    assert again == rows  # seeded: the same samples and bootstrap
    with pytest.raises(ValueError, match="n_classes"):
        study.evaluate_guidance(build_score_model(cfg.score_config("dsm").replace(hidden=8)), **kwargs)
