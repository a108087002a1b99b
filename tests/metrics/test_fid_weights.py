"""The committed FID classifier weights, `load_fid_classifier`, image-level `fid` and the re-train command."""

import json
import shutil

import pytest
import torch

from probgen.data import files
from probgen.metrics import (
    FID_CLASSIFIER_SHA256,
    FIDWeightsError,
    accuracy,
    fid,
    fid_from_stats,
    fid_reference,
    fid_stats,
    load_fid_classifier,
)
from probgen.metrics import classifier as clf_module
from probgen.metrics import retrain as retrain_module


def _have_mnist():
    try:
        for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            files.find(f"mnist/{name}")
        return True
    except files.DataFileError:
        return False


needs_mnist = pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")


def noise_images(n, seed):
    return torch.rand((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _use_weights(monkeypatch, path, sha=None):
    """Point `load_fid_classifier` at another file, trusting `sha` (default: the file's own checksum)."""
    monkeypatch.setattr(clf_module, "FID_WEIGHTS_PATH", path)
    monkeypatch.setattr(clf_module, "FID_CLASSIFIER_SHA256", sha or clf_module.file_sha256(path))


def test_committed_weights_match_the_checksum_and_sidecar():
    path = clf_module.FID_WEIGHTS_PATH
    assert clf_module.file_sha256(path) == FID_CLASSIFIER_SHA256
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == FID_CLASSIFIER_SHA256 and sidecar["file"] == path.name
    assert sidecar["test_accuracy"] >= 0.99 and sidecar["config"]["seed"] == 0
    assert sidecar["config"] == clf_module.checkpoints.config_dict(clf_module.FID_CONFIG)
    state = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values())


def test_loaded_classifier_is_cached_in_eval_mode_and_deterministic():
    model = load_fid_classifier()
    model.train()
    again = load_fid_classifier("cpu")
    assert again is model and not again.training
    x = noise_images(8, 0)
    with torch.no_grad():
        assert torch.equal(model.features(x), model.features(x))


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_load_is_strict(change, tmp_path, monkeypatch):
    state = torch.load(clf_module.FID_WEIGHTS_PATH, weights_only=True)
    if change == "extra":
        state["fc3.weight"] = torch.zeros(1)
    else:
        del state["fc2.bias"]
    path = tmp_path / "fid_classifier.pt"
    torch.save(state, path)
    _use_weights(monkeypatch, path)
    with pytest.raises(FIDWeightsError, match="Unexpected key" if change == "extra" else "Missing key"):
        load_fid_classifier()


def test_corrupt_or_missing_weights_give_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "fid_classifier.pt"
    shutil.copy(clf_module.FID_WEIGHTS_PATH, path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    _use_weights(monkeypatch, path, sha=FID_CLASSIFIER_SHA256)
    with pytest.raises(FIDWeightsError, match=r"SHA-256 [0-9a-f]{64}, not the committed(.|\n)*probgen.metrics.retrain"):
        load_fid_classifier()
    path.unlink()
    with pytest.raises(FIDWeightsError, match=r"missing(.|\n)*probgen.metrics.retrain"):
        load_fid_classifier()


def test_fid_of_a_set_with_itself_is_zero_and_stats_can_be_reused():
    x, y = noise_images(300, 1), noise_images(200, 2)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)
    value = fid(x, y, batch_size=64)
    assert value > 0
    # with the same batches the features, and so the float64 statistics and the distance, are the same numbers; other
    # batch sizes may run other float32 kernels (their rounding is tested in test_classifier)
    assert fid_from_stats(fid_stats(x, batch_size=64), y, batch_size=64) == value


def test_fid_refuses_unit_range_images():
    x = noise_images(16, 3)
    with pytest.raises(ValueError, match=r"generated look like \[0, 1\] pixels.*symmetric"):
        fid(x, (x + 1) / 2)


@needs_mnist
def test_committed_classifier_on_500_test_images():
    from probgen.data.mnist import load_mnist

    test = load_mnist("test", "symmetric", limit=500)
    assert accuracy(load_fid_classifier(), test.images, test.labels) >= 0.98


@needs_mnist
def test_fid_reference_floor_is_below_ceiling_and_cached():
    ref = fid_reference(100, seed=0, log=lambda m: None)
    assert ref["n"] == 100 and 0 < ref["floor"] < ref["ceiling"]
    logs = []
    assert fid_reference(100, seed=0, log=logs.append) == ref and any("loaded fid_reference" in m for m in logs)
    with pytest.raises(ValueError, match="n=1 "):
        fid_reference(1)


@needs_mnist
def test_retrain_writes_loadable_weights_and_sidecar_reproducibly(tmp_path, monkeypatch):
    from probgen.data import mnist

    real_load = mnist.load_mnist
    monkeypatch.setattr(mnist, "load_mnist",  # 128 training and 200 test images: the pipeline, not the accuracy
                        lambda split, view, **kw: real_load(split, view, **{**kw, "limit": kw.get("limit") or 200}))
    monkeypatch.setattr(retrain_module, "FID_CONFIG", clf_module.FID_CONFIG.replace(n_train=128, epochs=1))
    first = retrain_module.retrain(tmp_path / "a", log=lambda m: None)
    shutil.rmtree(tmp_path / "cache" / "mnist_classifier")  # train again from scratch (conftest's cache folder)
    second = retrain_module.retrain(tmp_path / "b", log=lambda m: None)
    assert first["sha256"] == second["sha256"] == clf_module.file_sha256(tmp_path / "a" / "fid_classifier.pt")
    sidecar = json.loads((tmp_path / "a" / "fid_classifier.json").read_text())
    assert sidecar == json.loads(json.dumps(first)) and sidecar["n_test"] == 200 and sidecar["epochs"] == 1
    _use_weights(monkeypatch, tmp_path / "a" / "fid_classifier.pt")
    test = real_load("test", "symmetric", limit=200)
    assert accuracy(load_fid_classifier(), test.images, test.labels) == sidecar["test_accuracy"]


@pytest.mark.slow  # --check decodes MNIST again into its fresh temporary cache
@needs_mnist
def test_retrain_command_line(tmp_path, monkeypatch, capsys):
    from probgen.data import mnist

    real_load = mnist.load_mnist
    monkeypatch.setattr(mnist, "load_mnist",
                        lambda split, view, **kw: real_load(split, view, **{**kw, "limit": kw.get("limit") or 200}))
    monkeypatch.setattr(retrain_module, "FID_CONFIG", clf_module.FID_CONFIG.replace(n_train=128, epochs=1))
    assert retrain_module.main(["--out", str(tmp_path / "out")]) == 0
    written = json.loads((tmp_path / "out" / "fid_classifier.json").read_text())
    assert f'set FID_CLASSIFIER_SHA256 = "{written["sha256"]}"' in capsys.readouterr().out
    assert retrain_module.main(["--check"]) == 1  # a 1-epoch, 128-image model is not the committed one
    out = capsys.readouterr().out
    assert f"retrained {written['sha256']} (DIFFERENT)" in out and "test accuracy: committed 0.9915" in out
