"""LatentDDPM: standardisation round trip, the β trade-off of reconstructions, sampling shapes."""

import pytest
import torch

from probgen.diffusion import DDPM, LatentDDPM, LatentNormalizer, NoiseSchedule
from probgen.diffusion.latent_study import LatentStudyConfig
from probgen.nets import TimeMLP
from probgen.runtime import ConfigError
from probgen.vae import VAETrainConfig, train_vae

from ..tolerances import rounding_tol


def test_normalizer_round_trips_and_standardises():
    scales = torch.tensor([1e-3, 0.1, 1, 10, 100, 3.0], dtype=torch.float64)
    codes = torch.randn(500, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * scales + 5
    norm = LatentNormalizer.fit(codes)
    u = norm.normalize(codes)
    # z − mean rounds by eps·|z| (|z| ≤ 5 + 4·scale) before the division by std ≈ scale, and the mean and std
    # themselves carry a few such roundings: 1e-12 was at the edge for the 1e-3 dimension (1.5e-12 seen)
    tol = rounding_tol(torch.float64, (5 + 4 * scales) / scales, ops=8)
    assert ((u.mean(0) - 0).abs() <= tol).all(), (u.mean(0), tol)
    assert ((u.std(0) - 1).abs() <= tol).all(), (u.std(0), tol)
    torch.testing.assert_close(norm.denormalize(u), codes, atol=1e-12, rtol=1e-12)
    again = LatentNormalizer.from_state_dict(norm.state_dict())
    torch.testing.assert_close(again.normalize(codes), u)


def test_normalizer_keeps_float32_codes_float32_and_floors_dead_dimensions():
    codes = torch.randn(100, 3)
    codes[:, 1] = 0.5  # a dimension the encoder switched off
    norm = LatentNormalizer.fit(codes)
    assert norm.normalize(codes).dtype == torch.float32
    assert float(norm.std[1]) == pytest.approx(1e-6)
    assert torch.isfinite(norm.normalize(codes)).all()


def test_normalizer_rejects_bad_input():
    with pytest.raises(ValueError, match="N, D"):
        LatentNormalizer.fit(torch.randn(1, 3))
    with pytest.raises(ValueError, match="positive std"):
        LatentNormalizer(torch.zeros(2), torch.tensor([1.0, 0.0]))


@pytest.fixture(scope="module")
def tiny_images():
    g = torch.Generator().manual_seed(0)
    # 256 blurry "digits": random low-frequency patterns in [-1, 1]
    low = torch.randn(256, 1, 7, 7, generator=g)
    return torch.tanh(torch.nn.functional.interpolate(low, size=(28, 28), mode="bilinear", align_corners=False))


def _tiny_vae(beta, x):
    cfg = VAETrainConfig(latent_dim=4, hidden=(64,), epochs=15, batch_size=32, lr=3e-3, view="symmetric",
                         likelihood="gaussian", likelihood_std=1.0, beta=beta, device="cpu")
    return train_vae(cfg, train_x=x, val_x=x[:64], progress=False, log=lambda m: None)[0]


def test_reconstruction_error_falls_as_beta_falls(tiny_images):
    errors = []
    for beta in (1.0, 1e-2, 1e-6):
        model = _tiny_vae(beta, tiny_images)
        with torch.no_grad():
            mean, _ = model.encode(tiny_images)
            errors.append(float((model.decode(mean) - tiny_images).pow(2).mean()))
    assert errors[0] > errors[1] > errors[2], errors


def test_latent_ddpm_samples_have_image_shape_and_codes_round_trip(tiny_images):
    model = _tiny_vae(1e-6, tiny_images)
    with torch.no_grad():
        codes, _ = model.encode(tiny_images)
    norm = LatentNormalizer.fit(codes)
    latent = LatentDDPM(DDPM(TimeMLP(dim=4, hidden=16, layers=1), NoiseSchedule.linear(20, 1e-3, 0.2)), model, norm)
    with torch.no_grad():
        first, _ = model.encode(tiny_images[:8])  # the same batch: a batch of 256 may round otherwise on another CPU
    torch.testing.assert_close(latent.encode(tiny_images[:8]), norm.normalize(first), rtol=0, atol=0)
    g = torch.Generator().manual_seed(1)
    assert latent.sample_latents(5, generator=g).shape == (5, 4)
    for kwargs in ({}, {"steps": 5}, {"steps": 5, "eta": 1.0}):
        x = latent.sample(3, generator=g, **kwargs)
        assert x.shape == (3, 1, 28, 28) and torch.isfinite(x).all() and x.abs().max() <= 1


def test_latent_ddim_with_all_steps_and_eta_one_is_latent_ancestral_sampling(tiny_images):
    """DDIM in latent space, η = 1 and all T steps, from the same generator seed: the same standardised codes and
    the same decoded images as the ancestral sampler (both draw u_T, then one z per step but the last).

    Float64 throughout (the same maths; see test_ddpm's pixel version): a few roundings per step of size
    eps·max|u| over T steps for the codes; the decoder (an MLP with tanh) then adds roundings of the size of its
    inputs and does not amplify differences (|tanh'| ≤ 1, weights of order 1)."""
    model = _tiny_vae(1e-6, tiny_images).double()
    with torch.no_grad():
        codes, _ = model.encode(tiny_images.double())
    torch.manual_seed(0)
    T = 20
    latent = LatentDDPM(DDPM(TimeMLP(dim=4, hidden=16, layers=2).double(), NoiseSchedule.linear(T, 5e-3, 0.4)),
                        model, LatentNormalizer.fit(codes))
    anc = latent.sample_latents(32, generator=torch.Generator().manual_seed(3))
    ddim = latent.sample_latents(32, steps=T, eta=1.0, generator=torch.Generator().manual_seed(3))
    assert anc.dtype == torch.float64 and anc.shape == (32, 4)
    tol = rounding_tol(torch.float64, anc.abs().max().item(), ops=4 * T)
    torch.testing.assert_close(ddim, anc, rtol=0, atol=tol)
    images_anc = latent.sample(32, generator=torch.Generator().manual_seed(3))
    images_ddim = latent.sample(32, steps=T, eta=1.0, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(images_ddim, images_anc, rtol=0, atol=rounding_tol(torch.float64, 1.0, ops=4 * T + 50))
    deterministic = latent.sample_latents(32, steps=T, eta=0.0, generator=torch.Generator().manual_seed(3))
    assert (deterministic - anc).abs().max() > 1e-3  # η = 0 is another sampler: the test can tell them apart


def test_latent_config_validates():
    with pytest.raises(ConfigError, match="betas"):
        LatentStudyConfig.for_profile("smoke", betas=())
    with pytest.raises(ConfigError, match="latent_dim"):
        LatentStudyConfig.for_profile("smoke", latent_dim=0)
    cfg = LatentStudyConfig.for_profile("quick")
    assert cfg.ddpm_config().profile == "quick"
    assert cfg.vae_config(1e-6).beta == 1e-6 and cfg.vae_config(1.0).view == "symmetric"
    assert float(cfg.schedule().betas[0]) == pytest.approx(1e-4)
