"""The DDPM chapter's config and its cached sampler evaluation."""

import pytest
import torch

from probgen.diffusion import study
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


def test_evaluate_sampler_is_cached_and_scores_every_n(monkeypatch):
    from probgen import metrics

    scored = []
    monkeypatch.setattr(metrics, "fid_from_stats", lambda ref, s: scored.append(len(s)) or float(len(s)))
    calls = []

    def draw(b, g):
        calls.append(b)
        return torch.rand(b, 1, 28, 28, generator=g) * 2 - 1

    refs = {4: None, 8: None, 50: None}
    out = study.evaluate_sampler("test", "model-a", draw, 8, batch=4, device="cpu", references=refs, seed=0,
                                 keep=3, log=lambda m: None)
    assert out["fid"] == {4: 4.0, 8: 8.0} and out["n"] == 8 and out["images"].shape == (3, 1, 28, 28)
    assert out["samples_per_s"] > 0 and calls == [4, 4]
    again = study.evaluate_sampler("test", "model-a", draw, 8, batch=4, device="cpu", references=refs, seed=0,
                                   keep=3, log=lambda m: None)
    assert calls == [4, 4] and again["fid"] == out["fid"]  # loaded, not redrawn
    torch.testing.assert_close(again["images"], out["images"])


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
