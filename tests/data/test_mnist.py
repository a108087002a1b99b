import gzip
import os
import shutil
import struct

import numpy as np
import pytest
import torch

from probgen import paths
from probgen.data import files, mnist
from tests.concurrency import race


def _write_idx(path, arr, gz=True):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def test_read_idx_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    _write_idx(tmp_path / "x.gz", arr)
    _write_idx(tmp_path / "y", np.arange(5, dtype=np.uint8), gz=False)
    assert np.array_equal(mnist.read_idx(tmp_path / "x.gz"), arr)
    assert mnist.read_idx(tmp_path / "y").tolist() == [0, 1, 2, 3, 4]


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    arr = np.zeros((4, 2, 2), dtype=np.uint8)
    _write_idx(tmp_path / "x", arr, gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "x").read_bytes()[:-3])
    with pytest.raises(ValueError, match="header says"):
        mnist.read_idx(tmp_path / "short")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ValueError, match="magic"):
        mnist.read_idx(tmp_path / "png")


def test_views():
    x = torch.tensor([0, 127, 128, 255], dtype=torch.uint8)
    assert torch.allclose(mnist.to_view(x, "unit"), torch.tensor([0, 127 / 255, 128 / 255, 1.0]))
    assert mnist.to_view(x, "binarized").tolist() == [0.0, 0.0, 1.0, 1.0]  # > 0.5, static
    assert torch.allclose(mnist.to_view(x, "symmetric"), 2 * mnist.to_view(x, "unit") - 1)
    assert mnist.to_view(x, "uint8") is x
    with pytest.raises(ValueError, match="view='pm1' is not allowed"):
        mnist.to_view(x, "pm1")


def test_missing_file_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBGEN_DATA", str(tmp_path))
    with pytest.raises(files.DataFileError) as err:
        files.find("mnist/train-images-idx3-ubyte.gz")
    msg = str(err.value)
    assert str(tmp_path) in msg and "$PROBGEN_DATA" in msg and "<repo>/data" in msg
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg and "python -m probgen.data download" in msg


def test_checksum_mismatch_is_an_error(tmp_path):
    (tmp_path / "trueskill").mkdir()
    (tmp_path / "trueskill" / "SerieA.csv").write_text("not the file\n")
    with pytest.raises(files.DataFileError, match="md5 .* expected 41fbbc576bf062b5249e3e00754ffdb6"):
        files.find("trueskill/SerieA.csv", tmp_path)


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("PROBGEN_DATA", raising=False)
    assert paths.data_dir() == paths.repo_root() / "data"
    monkeypatch.setenv("PROBGEN_DATA", str(tmp_path / "env"))
    assert paths.data_dir() == tmp_path / "env"
    assert paths.data_dir(tmp_path / "arg") == tmp_path / "arg"


def _have_mnist():
    try:
        files.find("mnist/t10k-labels-idx1-ubyte.gz")
        return True
    except files.DataFileError:
        return False


@pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")
def test_real_mnist_splits_and_views():
    train = mnist.load_mnist("train", "binarized")
    val = mnist.load_mnist("val", "symmetric", limit=100)
    test = mnist.load_mnist("test", "uint8")
    assert train.images.shape == (50_000, 1, 28, 28) and len(val) == 100 and len(test) == 10_000
    assert set(train.images.unique().tolist()) == {0.0, 1.0}
    assert val.images.min() >= -1 and val.images.max() <= 1
    assert test.images.dtype == torch.uint8 and test.labels.bincount().tolist()[0] == 980  # known class count
    # the validation split is the tail of the training file, disjoint from train
    full = mnist.load_mnist("trainval", "uint8")
    assert torch.equal(full.images[-10_000:][:100], mnist.load_mnist("val", "uint8", limit=100).images)


def _cache_file(name: str):
    rel = f"mnist/{name}"
    return paths.cache_dir("mnist") / f"{name}.{files.KNOWN_FILES[rel].md5}.npy"


@pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")
def test_damaged_decoded_cache_is_detected_and_rebuilt():
    labels = mnist.load_mnist("test", "uint8").labels
    cache = _cache_file("t10k-labels-idx1-ubyte.gz")
    raw = bytearray(cache.read_bytes())
    raw[-64:] = bytes(255 - b for b in raw[-64:])  # the last 64 labels, overwritten in place
    cache.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="does not match its SHA-256"):
        again = mnist.load_mnist("test", "uint8").labels
    assert torch.equal(again, labels)  # rebuilt from the md5-verified source
    assert np.array_equal(np.load(cache), labels.numpy())  # and the cache repaired


@pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")
def test_decoded_cache_without_checksum_is_rebuilt():
    labels = mnist.load_mnist("test", "uint8").labels
    cache = _cache_file("t10k-labels-idx1-ubyte.gz")
    np.save(cache, np.zeros(10_000, dtype=np.uint8))  # as written by a version that stored no checksum
    for sidecar in cache.parent.glob(cache.name + ".sha256"):
        sidecar.unlink()
    with pytest.warns(RuntimeWarning, match="no SHA-256"):
        assert torch.equal(mnist.load_mnist("test", "uint8").labels, labels)


@pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")
def test_cache_files_are_readable_like_ordinary_files():
    before = os.umask(0o022)
    try:
        mnist.load_mnist("test", "uint8")
    finally:
        os.umask(before)
    cache = _cache_file("t10k-images-idx3-ubyte.gz")
    assert {p.stat().st_mode & 0o777 for p in cache.parent.iterdir()} == {0o644}


@pytest.mark.skipif(not _have_mnist(), reason="MNIST not in the data directory (set PROBGEN_DATA)")
def test_processes_decoding_into_a_fresh_cache_at_once():
    # Four processes decode the test images into an empty cache at the same moment, four times; with one
    # shared temporary name most of them failed (FileNotFoundError) or left a half-written cache.
    folder = paths.cache_dir("mnist")
    jobs = [(mnist._decoded, ("test", "images", None))] * 4
    errors = race(jobs, rounds=4, between=lambda r: shutil.rmtree(folder))
    assert errors == []
    images = mnist._decoded("test", "images", None)  # verifies the SHA-256 of what the last writer left
    assert images.shape == (10_000, 28, 28)
    cache = _cache_file("t10k-images-idx3-ubyte.gz")
    assert sorted(p.name for p in folder.iterdir()) == [cache.name, cache.name + ".sha256"]
