import numpy as np
import pytest
import torch

from probgen.runtime import ConfigError
from probgen.vae import VAE, VAETrainConfig, build_vae, evaluate, train_vae
from probgen.vae import training as vae_training

from ..tolerances import rounding_tol
from .helpers import binary_images

TINY = dict(latent_dim=2, hidden=(32,), epochs=2, batch_size=64, lr=1e-3, device="cpu", seed=0)


def _train(cfg, train_x, val_x, logs=None):
    logs = [] if logs is None else logs
    return train_vae(cfg, train_x=train_x, val_x=val_x, log=logs.append, progress=False)


@pytest.fixture(scope="module")
def data():
    return binary_images(256, seed=1), binary_images(64, seed=2)


@pytest.mark.parametrize("prior", ["gaussian", "mog", "flow", "vamp"])
def test_build_vae_is_seeded(prior):
    cfg = VAETrainConfig(prior=prior, flow_hidden=8, n_components=3, **TINY)
    a, b = build_vae(cfg).state_dict(), build_vae(cfg).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build_vae(cfg.replace(seed=1)).state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_train_then_load_from_cache(data):
    cfg = VAETrainConfig(prior="mog", n_components=3, **TINY)
    logs = []
    model, history = _train(cfg, *data, logs)
    assert isinstance(model, VAE) and not model.training
    assert history["epoch"] == [1, 2] and all(len(v) == 2 for v in history.values())
    assert set(history) == set(vae_training.HISTORY_KEYS)
    # three float32 sums over the n validation images (of −ELBO, NLL and KL, each of one sign), in an order the
    # CPU's vector width decides: each errs by up to ~n·eps/2 relative; a missing KL would be ~2e-3 (1 of 550 nats)
    n_val = data[1].shape[0]
    np.testing.assert_allclose(np.array(history["val_neg_elbo"]),
                               np.array(history["val_reconstruction_nll"]) + np.array(history["val_kl"]),
                               rtol=rounding_tol(torch.float32, ops=n_val))
    assert history["train_neg_elbo"][1] < history["train_neg_elbo"][0]
    assert not any("loaded" in m for m in logs)

    logs.clear()
    again, history2 = _train(cfg, *data, logs)
    assert any("loaded" in m for m in logs) and history2 == history
    a, b = model.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_other_data_or_config_trains_again(data):
    cfg = VAETrainConfig(**TINY)
    _train(cfg, *data)
    logs = []
    _train(cfg, binary_images(256, seed=9), data[1], logs)  # same config, other images
    assert not any("loaded" in m for m in logs)
    _train(cfg.replace(lr=2e-3), *data, logs)
    assert not any("loaded" in m for m in logs)


def test_interrupted_run_resumes_at_the_next_epoch(data, monkeypatch, tmp_path, interrupt_call):
    cfg = VAETrainConfig(prior="flow", flow_layers=2, flow_hidden=8, **TINY)
    # The 2nd call is the validation of epoch 2: epoch 1 has been saved.
    restore = interrupt_call(vae_training, "_mean_terms", at_call=2)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, *data)
    restore()
    logs = []
    resumed, history = _train(cfg, *data, logs)
    assert any("resuming vae from step 1" in m for m in logs)
    assert history["epoch"] == [1, 2]

    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "other-cache"))
    straight, history_straight = _train(cfg, *data)
    a, b = resumed.state_dict(), straight.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # resuming changes nothing
    assert history["val_neg_elbo"] == history_straight["val_neg_elbo"]


def test_nan_loss_raises_a_helpful_error(data, monkeypatch):
    def nan_terms(self, x, generator=None):
        nan = torch.full((x.shape[0],), float("nan"), requires_grad=True)
        return {"elbo": nan, "reconstruction": nan, "kl": nan}

    monkeypatch.setattr(VAE, "elbo_terms", nan_terms)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1.*lower learning rate"):
        _train(VAETrainConfig(**TINY), *data)


def test_n_train_limits_the_training_images(data):
    cfg = VAETrainConfig(**{**TINY, "epochs": 1, "n_train": 64})
    _, history = _train(cfg, *data)
    full = data[0][:64]
    logs = []
    _train(cfg, torch.cat([full, binary_images(10, seed=5)]), data[1], logs)  # same first 64 images
    assert any("loaded" in m for m in logs) and len(history["epoch"]) == 1


def test_evaluate_reports_elbo_and_iwae(data):
    model = build_vae(VAETrainConfig(**TINY))
    out = evaluate(model, data[1], iwae_k=50, batch_size=16, generator=torch.Generator().manual_seed(0))
    assert out["elbo_per_image"].shape == (64,) and out["n_images"] == 64
    assert out["elbo_mean"] == pytest.approx(out["elbo_per_image"].mean())
    # float64 means of float32 per-image terms, where elbo = reconstruction − kl was rounded once (eps/2 relative)
    assert out["elbo_mean"] == pytest.approx(out["reconstruction_mean"] - out["kl_mean"],
                                             rel=rounding_tol(torch.float32, ops=2))
    assert out["iwae_mean"] > out["elbo_mean"] and out["iwae_per_image"].shape == (64,)
    again = evaluate(model, data[1], batch_size=16)
    assert again["iwae_mean"] is None
    assert evaluate(model, data[1], batch_size=16)["elbo_mean"] == again["elbo_mean"]  # seeded by default


@pytest.mark.parametrize("key, value, words", [
    ("prior", "laplace", "'gaussian', 'mog', 'flow', 'vamp'"),
    ("encoder", "rnn", "'mlp', 'conv'"),
    ("view", "uint8", "'binarized'"),
    ("latent_dim", 0, "latent_dim"),
    ("lr", -1.0, "lr"),
    ("n_train", 0, "n_train"),
])
def test_config_rejects_bad_values(key, value, words):
    with pytest.raises(ConfigError, match=words):
        VAETrainConfig(**{key: value})


def test_config_rejects_unknown_keys_and_bernoulli_on_symmetric_pixels():
    with pytest.raises(ConfigError, match="unknown parameter.*latent_size.*allowed"):
        VAETrainConfig.from_dict({"latent_size": 2})
    with pytest.raises(ConfigError, match="bernoulli"):
        VAETrainConfig(view="symmetric")
    assert VAETrainConfig(hidden=[8, 8]).hidden == (8, 8)
