import errno
import json
import os
import struct
import zipfile
from dataclasses import dataclass

import pytest
import torch

from probgen import checkpoints, paths
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


def _big_trainer(calls, value=1.0):
    def train(resume, save):
        calls.append(resume)
        return {"w": torch.full((256,), value)}, 1, {"elbo": [-90.0]}
    return train


def _flip_tensor_bytes(path, at=16, n=64, record="data/0"):
    """Overwrite `n` bytes from byte `at` of a tensor record of a torch zip file, as a damaged disk or copy would."""
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(record))
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len + at  # into the record's data
    raw[start : start + n] = bytes(b ^ 0xFF for b in raw[start : start + n])
    path.write_bytes(bytes(raw))


def test_damaged_tensor_bytes_are_reported_moved_aside_and_retrained():
    calls, logs = [], []
    checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=logs.append)
    path = checkpoints.cache_path("toy", Cfg())
    _flip_tensor_bytes(path)
    damaged = path.read_bytes()
    out = checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=logs.append)
    assert len(calls) == 2 and torch.equal(out["state"]["w"], torch.ones(256))
    assert any("does not match" in m for m in logs)
    assert path.with_name(path.name + ".bad").read_bytes() == damaged
    _flip_tensor_bytes(path, at=512)  # a second damage: a second piece of evidence, the first one kept
    damaged_again = path.read_bytes()
    checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=logs.append)
    assert len(calls) == 3 and damaged_again != damaged
    assert path.with_name(path.name + ".bad").read_bytes() == damaged
    assert path.with_name(path.name + ".bad.1").read_bytes() == damaged_again


def test_checkpoint_without_a_checksum_cannot_be_verified_and_is_retrained():
    calls, logs = [], []
    path = checkpoints.cache_path("toy", Cfg())
    old = {"format": 1, "kind": "toy", "config": checkpoints.config_dict(Cfg()),
           "config_hash": checkpoints.config_hash("toy", Cfg()), "probgen_version": "0.1.0",
           "step": 1, "complete": True, "metrics": {}, "state": {"w": torch.zeros(256)}}
    torch.save(old, path)  # as the first format wrote it: no checksum
    out = checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=logs.append)
    assert len(calls) == 1 and torch.equal(out["state"]["w"], torch.ones(256))
    assert any("cannot be verified" in m for m in logs) and path.with_name(path.name + ".bad").exists()


def test_cached_json_with_changed_values_is_recomputed():
    calls, logs = [], []

    def compute():
        calls.append(1)
        return {"acc": 0.5}

    checkpoints.cached_json("res", Cfg(), compute, log=logs.append)
    path = checkpoints.cache_path("res", Cfg(), ext="json")
    payload = json.loads(path.read_text())
    payload["result"]["acc"] = 0.9  # still valid JSON, another number
    path.write_text(json.dumps(payload))
    assert checkpoints.cached_json("res", Cfg(), compute, log=logs.append) == {"acc": 0.5}
    assert len(calls) == 2 and any("does not match" in m for m in logs)
    assert json.loads(path.with_name(path.name + ".bad").read_text())["result"]["acc"] == 0.9


def test_cache_files_are_readable_like_ordinary_files():
    before = os.umask(0o022)
    try:
        checkpoints.train_or_load("toy", Cfg(), _big_trainer([]), log=lambda m: None)
        checkpoints.cached_json("res", Cfg(), lambda: 1, log=lambda m: None)
    finally:
        os.umask(before)
    for path in (checkpoints.cache_path("toy", Cfg()), checkpoints.cache_path("res", Cfg(), ext="json")):
        assert path.stat().st_mode & 0o777 == 0o644


def test_unusable_cache_folder_is_reported_before_training(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "a_file" / "cache"))  # cannot be created
    calls = []
    with pytest.raises(paths.UnwritableFolderError, match=r"a_file/cache/toy.*set \$PROBGEN_CACHE to a writable"):
        checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=lambda m: None)
    assert calls == []  # nothing was trained for nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the next test simulates it")
def test_read_only_cache_folder_is_reported_before_training(tmp_path, monkeypatch):
    checkpoints.train_or_load("toy", Cfg(), _big_trainer([]), log=lambda m: None)
    path = checkpoints.cache_path("toy", Cfg())
    path.write_bytes(b"corrupt")
    os.chmod(path.parent, 0o500)
    calls = []
    try:
        with pytest.raises(paths.UnwritableFolderError, match=r"set \$PROBGEN_CACHE to a writable"):
            checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=lambda m: None)
    finally:
        os.chmod(path.parent, 0o700)
    assert calls == []


def test_corrupt_file_that_cannot_be_moved_aside_gives_the_clear_error(monkeypatch):
    checkpoints.train_or_load("toy", Cfg(), _big_trainer([]), log=lambda m: None)
    path = checkpoints.cache_path("toy", Cfg())
    path.write_bytes(b"corrupt")

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", read_only)  # what a read-only folder does to moving the file aside
    calls = []
    with pytest.raises(paths.UnwritableFolderError, match=r"set \$PROBGEN_CACHE to a writable"):
        checkpoints.train_or_load("toy", Cfg(), _big_trainer(calls), log=lambda m: None)
    assert calls == [] and path.read_bytes() == b"corrupt"
