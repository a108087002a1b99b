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
