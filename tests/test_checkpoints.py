import json
from dataclasses import dataclass

import pytest
import torch

from probgen import checkpoints
from probgen.checkpoints import CheckpointError


@dataclass(frozen=True)
class Cfg:
    lr: float = 1e-3
    width: int = 8


def _trainer(calls, steps=3, fail_at=None):
    def train(resume, save):
        calls.append(resume)
        start = resume["step"] if resume else 0
        w = resume["state"]["w"] if resume else torch.zeros(2)
        for step in range(start, steps):
            if fail_at is not None and step == fail_at:
                raise KeyboardInterrupt  # an interruption after a partial checkpoint
            w = w + 1
            save({"w": w}, step + 1, {"loss": [float(step)]})
        return {"w": w}, steps, {"loss": [0.0, 1.0, 2.0]}
    return train


def test_hash_covers_the_whole_config():
    a, b = checkpoints.config_hash("m", Cfg()), checkpoints.config_hash("m", Cfg(width=9))
    assert a != b and len(a) == 16
    assert checkpoints.config_hash("m", Cfg()) == checkpoints.config_hash("m", {"width": 8, "lr": 1e-3})
    assert checkpoints.config_hash("other", Cfg()) != a


def test_cache_hit_does_not_retrain():
    calls = []
    first = checkpoints.train_or_load("toy", Cfg(), _trainer(calls), log=lambda m: None)
    second = checkpoints.train_or_load("toy", Cfg(), _trainer(calls), log=lambda m: None)
    assert len(calls) == 1
    assert torch.equal(first["state"]["w"], second["state"]["w"]) and second["complete"]
    assert second["config"] == {"lr": 1e-3, "width": 8} and second["probgen_version"]


def test_changed_config_trains_a_new_model():
    calls = []
    checkpoints.train_or_load("toy", Cfg(), _trainer(calls), log=lambda m: None)
    checkpoints.train_or_load("toy", Cfg(lr=1e-2), _trainer(calls), log=lambda m: None)
    assert len(calls) == 2


def test_interrupted_training_resumes_from_partial_checkpoint():
    calls = []
    with pytest.raises(KeyboardInterrupt):
        checkpoints.train_or_load("toy", Cfg(), _trainer(calls, steps=5, fail_at=3), log=lambda m: None)
    out = checkpoints.train_or_load("toy", Cfg(), _trainer(calls, steps=5), log=lambda m: None)
    assert calls[1]["step"] == 3  # resumed, not restarted
    assert torch.equal(out["state"]["w"], torch.full((2,), 5.0))


def test_corrupt_file_is_reported_moved_aside_and_retrained():
    calls, logs = [], []
    checkpoints.train_or_load("toy", Cfg(), _trainer(calls), log=logs.append)
    path = checkpoints.cache_path("toy", Cfg())
    path.write_bytes(path.read_bytes()[:50])  # truncated file
    out = checkpoints.train_or_load("toy", Cfg(), _trainer(calls), log=logs.append)
    assert len(calls) == 2 and out["complete"]
    assert any("cannot be read" in m for m in logs)
    assert path.with_name(path.name + ".bad").exists()  # kept for inspection, not deleted


def test_mismatched_config_in_file_is_an_error():
    path = checkpoints.cache_path("toy", Cfg())
    checkpoints.save_checkpoint(path, kind="toy", config=Cfg(width=99), state={"w": torch.zeros(1)}, step=1)
    with pytest.raises(CheckpointError, match="differs in: width"):
        checkpoints.load_checkpoint(path, kind="toy", config=Cfg())
    with pytest.raises(CheckpointError, match="holds a 'toy', not a 'vae'"):
        checkpoints.load_checkpoint(path, kind="vae", config=Cfg(width=99))


def test_load_is_strict_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        checkpoints.load_checkpoint(path, kind="toy", config=Cfg())


def test_cached_json_hit_and_corruption():
    calls = []

    def compute():
        calls.append(1)
        return {"acc": 0.5, "xs": (1, 2)}

    assert checkpoints.cached_json("res", Cfg(), compute, log=lambda m: None) == {"acc": 0.5, "xs": [1, 2]}
    assert checkpoints.cached_json("res", Cfg(), compute, log=lambda m: None) == {"acc": 0.5, "xs": [1, 2]}
    assert len(calls) == 1
    path = checkpoints.cache_path("res", Cfg(), ext="json")
    path.write_text("{not json")
    checkpoints.cached_json("res", Cfg(), compute, log=lambda m: None)
    assert len(calls) == 2 and json.loads(path.read_text())["result"]["acc"] == 0.5
