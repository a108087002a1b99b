"""The resumable diffusion trainer: loss falls, cache, exact resume, NaN handling, previews, EMA and the lr schedule."""

import pytest
import torch
from torch import nn

from probgen import checkpoints
from probgen.diffusion import DDPM, EMA, NoiseSchedule, TrainConfig, train_diffusion
from probgen.nets import TimeMLP
from probgen.runtime import ConfigError

from ..tolerances import rounding_tol

KEY = {"net": "timemlp-32", "T": 50}
CFG = TrainConfig(epochs=12, batch_size=64, lr=3e-3, ema_decay=0.9, seed=0, device="cpu")  # 5 steps/epoch, 60 steps


def build():
    torch.manual_seed(0)
    return DDPM(TimeMLP(dim=2, hidden=32, layers=2, time_dim=16), NoiseSchedule.linear(50, 1e-3, 0.2))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 1.0]])
    return centres[torch.randint(0, 2, (300,), generator=g)] + 0.3 * torch.randn(300, 2, generator=g)


def train(data, cfg=CFG, logs=None, **kwargs):
    logs = [] if logs is None else logs
    return train_diffusion("ddpm", KEY, build, cfg, data, log=logs.append, progress=False, **kwargs)


def fixed_loss(model, data):
    with torch.no_grad():
        return model.loss(data, generator=torch.Generator().manual_seed(123)).item()


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_lowers_the_loss_then_loads_from_the_cache(data, monkeypatch):
    before = fixed_loss(build(), data)
    logs = []
    model, record = train(data, logs=logs)
    assert not model.network.training and not any("loaded" in m for m in logs)
    assert fixed_loss(model, data) < 0.8 * before
    assert record["step"] == 60 and record["history"]["epoch"] == list(range(1, 13))
    assert record["history"]["step"] == list(range(5, 61, 5)) and len(record["losses"]) == 1  # one block of 50
    assert record["history"]["loss"][-1] < record["history"]["loss"][0]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model must not be trained again")

    logs = []
    with monkeypatch.context() as patch:  # (not monkeypatch.undo(): that would also undo the cache isolation)
        patch.setattr(DDPM, "loss", no_training)
        again, record2 = train(data, logs=logs)
        assert any("loaded ddpm" in m for m in logs)
        assert same_weights(again.network.state_dict(), model.network.state_dict())
        assert record2["history"] == record["history"] and record2["losses"] == record["losses"]
        train(data, CFG.replace(save_every_s=1.0), logs=logs)  # not part of the key
    assert sum("loaded ddpm" in m for m in logs) == 2
    logs.clear()
    train(data, CFG.replace(lr=1e-3, max_steps=5), logs=logs)  # part of the key
    assert not any("loaded" in m for m in logs)


@pytest.mark.parametrize("where", ["epoch_end", "mid_epoch"])
def test_interrupted_run_resumes_to_the_same_ema_weights(where, data, monkeypatch, tmp_path, interrupt_call):
    """epoch_end: checkpoints only at epoch ends, the 4th save (step 20) is interrupted → resume from step 15.
    mid_epoch: save_every_s = 0 saves after every step; the 33rd step is interrupted → resume from step 32, inside
    epoch 7 and with 32 losses of the first 50-step block pending."""
    if where == "epoch_end":
        cfg, restore, resumed_at = CFG.replace(save_every_s=1e9), interrupt_call(checkpoints, "save_checkpoint", 4), 15
    else:
        cfg, restore, resumed_at = CFG.replace(save_every_s=0.0), interrupt_call(DDPM, "loss", 33), 32
    with pytest.raises(KeyboardInterrupt):
        train(data, cfg)
    restore()
    logs = []
    resumed, record = train(data, cfg, logs=logs)
    assert any(f"resuming ddpm from step {resumed_at}" in m for m in logs)

    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "other-cache"))
    straight, record_straight = train(data, cfg)
    assert same_weights(resumed.network.state_dict(), straight.network.state_dict())  # the EMA weights
    assert same_weights(record["network_state"], record_straight["network_state"])
    assert record["losses"] == record_straight["losses"] and len(record["losses"]) == 1
    assert record["history"]["step"] == record_straight["history"]["step"]
    assert record["history"]["lr"] == record_straight["history"]["lr"]
    if where == "epoch_end":
        assert record["history"]["loss"] == record_straight["history"]["loss"]


def test_mid_epoch_resume_keeps_the_epoch_loss(data, monkeypatch, tmp_path, interrupt_call):
    cfg = CFG.replace(save_every_s=0.0, epochs=2)
    restore = interrupt_call(DDPM, "loss", 8)  # resume from step 7 of 10, inside epoch 2
    with pytest.raises(KeyboardInterrupt):
        train(data, cfg)
    restore()
    _, record = train(data, cfg)
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "other-cache"))
    _, record_straight = train(data, cfg)
    assert record["history"]["loss"] == pytest.approx(record_straight["history"]["loss"], rel=1e-12)


def test_nan_loss_raises_naming_the_step_and_keeps_the_last_checkpoint(data, monkeypatch, tmp_path):
    real, calls = DDPM.loss, []

    def nan_at_step_8(self, *args, **kwargs):
        calls.append(1)
        loss = real(self, *args, **kwargs)
        return loss * float("nan") if len(calls) == 8 else loss

    monkeypatch.setattr(DDPM, "loss", nan_at_step_8)
    with pytest.raises(FloatingPointError, match=r"ddpm: the loss became nan at step 8 .*last checkpoint is kept"):
        train(data, CFG.replace(save_every_s=1e9))
    files = list((tmp_path / "cache" / "ddpm").glob("ddpm-*.pt"))
    assert len(files) == 1
    payload = torch.load(files[0], weights_only=True)
    assert payload["complete"] is False and payload["step"] == 5  # the end of epoch 1


def test_previews_are_recorded_for_the_requested_epochs_on_the_ema_network(data):
    x, t = torch.randn(4, 2, generator=torch.Generator().manual_seed(9)), torch.full((4,), 10.0)

    def preview(model):
        assert not model.network.training
        with torch.no_grad():
            return model.network(x, t)

    model, record = train(data, CFG.replace(epochs=4, preview_epochs=(1, 4)), preview=preview)
    assert sorted(record["previews"]) == [1, 4]
    with torch.no_grad():
        torch.testing.assert_close(record["previews"][4], model.network(x, t), rtol=0, atol=0)  # EMA weights
        raw = build().network
        raw.load_state_dict(record["network_state"])
        assert not torch.allclose(record["previews"][4], raw(x, t))
    assert not torch.allclose(record["previews"][1], record["previews"][4])
    _, record = train(data, CFG.replace(epochs=4, max_steps=12, preview_epochs=(3,)), preview=preview)
    assert record["previews"] == {}  # epoch 3 never finished


def test_snapshots_are_recorded_at_the_requested_steps_and_survive_a_resume(data, monkeypatch, tmp_path,
                                                                           interrupt_call):
    x, t = torch.randn(4, 2, generator=torch.Generator().manual_seed(9)), torch.full((4,), 10.0)

    def snapshot(model):
        assert not model.network.training
        with torch.no_grad():
            return {"out": model.network(x, t), "loss": torch.tensor(fixed_loss(model, data))}

    cfg = CFG.replace(epochs=4, snapshot_steps=(3, 7, 20), save_every_s=0.0)  # 7 is inside epoch 2
    model, record = train(data, cfg, snapshot=snapshot)
    assert sorted(record["snapshots"]) == [3, 7, 20]
    with torch.no_grad():
        torch.testing.assert_close(record["snapshots"][20]["out"], model.network(x, t), rtol=0, atol=0)
    assert not torch.equal(record["snapshots"][3]["out"], record["snapshots"][7]["out"])

    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "resumed"))
    restore = interrupt_call(DDPM, "loss", 12)  # after the snapshot at step 7 (which calls loss once too)
    with pytest.raises(KeyboardInterrupt):
        train(data, cfg, snapshot=snapshot)
    restore()
    _, resumed = train(data, cfg, snapshot=snapshot)
    assert sorted(resumed["snapshots"]) == [3, 7, 20]
    for step in (3, 7, 20):
        torch.testing.assert_close(resumed["snapshots"][step]["out"], record["snapshots"][step]["out"], rtol=0, atol=0)


def test_cache_keys_without_snapshots_are_unchanged():
    assert "snapshot_steps" not in TrainConfig().cache_key()
    assert TrainConfig(snapshot_steps=(5,)).cache_key()["snapshot_steps"] == [5]  # as JSON stores it
    with pytest.raises(ConfigError, match="snapshot_steps"):
        TrainConfig(snapshot_steps=(0,))


def test_ema_follows_the_closed_form_recursion():
    net = nn.Linear(1, 1, bias=False, dtype=torch.float64)  # the recursion is exact maths: compare in float64
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.8)
    shadow, values = 0.0, [1.0, -2.0, 3.0, 0.5, 4.0, 4.0, -1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    for k, v in enumerate(values):
        with torch.no_grad():
            net.weight.fill_(v)
        ema.update(net)
        d = min(0.8, (1 + k) / (10 + k))  # 0.1, 0.18, 0.25, … then 0.8 from k = 26; here always the warm-up value
        shadow = d * shadow + (1 - d) * v
        # lerp_ rounds differently from this formula: ~3 roundings (eps/2 each) of values ≤ 4 per update, and older
        # errors shrink by d < 0.6 per update, so about (3/2)/(1 − 0.6) ≈ 4 eps·4 at most (measured: 0.5 eps·4)
        assert ema.shadow.weight.item() == pytest.approx(shadow, rel=0, abs=rounding_tol(torch.float64, 4.0, ops=8))
    assert ema.updates == len(values) and not ema.shadow.weight.requires_grad
    ema2 = EMA(net, decay=0.5)
    ema2.updates = 100  # past the warm-up: d = 0.5
    ema2.shadow.weight.data.fill_(0.0)
    ema2.update(net)
    assert ema2.shadow.weight.item() == pytest.approx(1.0)
    restored = EMA(nn.Linear(1, 1, bias=False, dtype=torch.float64), decay=0.8)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == ema.updates and torch.equal(restored.shadow.weight, ema.shadow.weight)


def test_lr_at_warm_up_and_decay():
    cfg = TrainConfig(lr=1e-2, warmup_steps=10, lr_decay=0.9)
    assert cfg.lr_at(0) == pytest.approx(1e-2 * 0.1)
    assert cfg.lr_at(4) == pytest.approx(1e-2 * 0.5 * 0.9**4)
    assert cfg.lr_at(9) == pytest.approx(1e-2 * 0.9**9)
    assert cfg.lr_at(30) == pytest.approx(1e-2 * 0.9**30)
    assert TrainConfig(lr=1e-3).lr_at(1000) == 1e-3


@pytest.mark.parametrize("key,value", [
    ("epochs", 0), ("epochs", 1.5), ("batch_size", 0), ("batch_size", True), ("lr", 0.0), ("lr", float("nan")),
    ("lr", float("inf")), ("lr_decay", 0.0), ("lr_decay", 1.01), ("ema_decay", 1.0), ("ema_decay", -0.1),
    ("max_steps", 0), ("device", "tpu"),
])
def test_train_config_rejects_bad_values(key, value, data):
    with pytest.raises(ConfigError, match=key):
        cfg = TrainConfig(**{key: value})
        train(data, cfg)  # device is only checked when training starts


@pytest.mark.parametrize("key,value", [("warmup_steps", -5), ("grad_clip", 0.0)])
def test_train_config_rejects_negative_warmup_and_clip(key, value):
    with pytest.raises(ConfigError, match=key):
        TrainConfig(**{key: value})


def test_bad_data_raise(data):
    with pytest.raises(ValueError, match="labels must have shape"):
        train(data, labels=torch.zeros(5, dtype=torch.long))
    bad = data.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train(bad)
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"steps": 3})
