import pytest
import torch

from probgen.runtime import ConfigError
from probgen.score2d import Score2DConfig, ScoreModel, SpiralMixture, build_score_model, guided_score, train_score_model
from probgen.score2d import training as score_training

TINY = dict(steps=40, batch_size=64, lr=3e-3, hidden=16, layers=2, embedding_dim=8, K=50, log_every=10,
            checkpoint_every=20, seed=0)


@pytest.fixture(scope="module")
def data():
    return SpiralMixture().sample(512, torch.Generator().manual_seed(0)).float()


def _train(cfg, data, labels=None, logs=None):
    logs = [] if logs is None else logs
    return train_score_model(cfg, data, labels, log=logs.append, progress=False)


def _fixed_loss(model, cfg, data):
    """The configured loss on the whole data set with fixed noise: comparable before and after training."""
    return score_training.step_loss(model, cfg, data, torch.Generator().manual_seed(123)).mean().item()


@pytest.mark.parametrize("loss", ["dsm", "ism_exact", "ism_hutchinson"])
def test_training_reduces_the_loss_then_loads_from_cache(loss, data):
    cfg = Score2DConfig(loss=loss, **TINY)
    before = _fixed_loss(build_score_model(cfg), cfg, data)
    logs = []
    model, history = _train(cfg, data, logs=logs)
    assert isinstance(model, ScoreModel) and not model.training
    assert history["step"] == [10, 20, 30, 40] and len(history["loss"]) == 4
    assert _fixed_loss(model, cfg, data) < before
    assert not any("loaded" in m for m in logs)

    logs.clear()
    again, history2 = _train(cfg, data, logs=logs)
    assert any("loaded score2d" in m for m in logs) and history2 == history
    a, b = model.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_other_data_or_config_trains_again(data):
    cfg = Score2DConfig(**{**TINY, "steps": 10})
    _train(cfg, data)
    logs = []
    _train(cfg, data[:256], logs=logs)
    assert not any("loaded" in m for m in logs)
    _train(cfg.replace(lr=1e-3), data, logs=logs)
    assert not any("loaded" in m for m in logs)
    _train(cfg.replace(checkpoint_every=5), data, logs=logs)  # not part of the result, so not of the key
    assert any("loaded" in m for m in logs)


def test_interrupted_run_resumes_and_ends_with_the_same_weights(data, monkeypatch, tmp_path, interrupt_call):
    cfg = Score2DConfig(**{**TINY, "log_every": 7})  # a partial block is pending at the checkpoint
    restore = interrupt_call(score_training, "step_loss", at_call=25)  # step 20's checkpoint has been written
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, data)
    restore()
    logs = []
    resumed, history = _train(cfg, data, logs=logs)
    assert any("resuming score2d from step 20" in m for m in logs)

    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "other-cache"))
    straight, history_straight = _train(cfg, data)
    a, b = resumed.state_dict(), straight.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert history["step"] == history_straight["step"] == [7, 14, 21, 28, 35, 40]
    assert history["loss"] == history_straight["loss"]


def test_nan_loss_raises_a_helpful_error(data, monkeypatch):
    def nan_loss(model, cfg, x0, generator, labels=None):
        return torch.full((x0.shape[0],), float("nan"), requires_grad=True)

    monkeypatch.setattr(score_training, "step_loss", nan_loss)
    with pytest.raises(FloatingPointError, match=r"step 1 .*lower learning rate"):
        _train(Score2DConfig(**TINY), data)


def test_conditional_training_and_guidance(data):
    labels = (data[:, 0] > 0).long()  # two "classes": left and right half of the spiral
    cfg = Score2DConfig(**{**TINY, "steps": 10, "n_classes": 2, "p_uncond": 0.2})
    model, _ = _train(cfg, data, labels)
    x = torch.randn(8, 2)
    with torch.no_grad():
        torch.testing.assert_close(guided_score(model, 1, 0.0)(x, 10), model(x, 10, 1))
    with pytest.raises(ConfigError, match="labels"):
        _train(cfg, data)
    with pytest.raises(ConfigError, match="labels"):
        _train(cfg.replace(n_classes=None), data, labels)
    with pytest.raises(ValueError, match="labels must be"):
        _train(cfg.replace(n_classes=1), data, labels)


@pytest.mark.parametrize("key,value,words", [
    ("loss", "sliced", "loss='sliced'.*ism_exact.*ism_hutchinson.*dsm"),
    ("weighting", "likelihood", "weighting"),
    ("parametrisation", "x0", "parametrisation"),
    ("steps", 0, "steps"),
    ("batch_size", 1.5, "batch_size"),
    ("lr", -1.0, "lr"),
    ("K", 0, "K"),
    ("beta_1", 0.0, "beta_0"),
    ("p_uncond", 1.0, "p_uncond"),
    ("n_classes", 0, "n_classes"),
    ("seed", -1, "seed"),
    ("embedding_dim", 5, "embedding_dim"),
    ("device", "tpu", "device"),
])
def test_config_rejects_bad_values(key, value, words):
    with pytest.raises(ConfigError, match=words):
        Score2DConfig(**{key: value})


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown parameter.*epochs.*allowed: .*loss"):
        Score2DConfig.from_dict({"epochs": 3})
    assert Score2DConfig().replace(loss="ism_exact").loss == "ism_exact"
