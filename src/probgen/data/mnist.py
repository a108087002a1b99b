"""MNIST from the four original IDX gzip files, decoded once into uint8 tensors.

The decoded arrays are cached as `.npy` in `cache/mnist/` next to the SHA-256
of their values, so a later load reads and checks the array rather than
gunzipping it; a cache whose values no longer match is rebuilt from the
md5-verified source with a warning. Every view the chapters need is a tensor
op on the preloaded data (never per-item PIL work, which is ~200x slower).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..atomic import atomic_path, atomic_write_text
from . import files

SPLITS = ("train", "val", "trainval", "test")
VIEWS = ("uint8", "unit", "binarized", "symmetric")
N_VAL = 10_000  # the fixed validation split: the last 10 000 training images
_FILES = {
    ("trainval", "images"): "mnist/train-images-idx3-ubyte.gz",
    ("trainval", "labels"): "mnist/train-labels-idx1-ubyte.gz",
    ("test", "images"): "mnist/t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "mnist/t10k-labels-idx1-ubyte.gz",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Decode an IDX file (gzipped or not) into a uint8 array of the shape its header gives."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise ValueError(f"{path}: only unsigned-byte IDX files are supported (type code {dtype_code:#x})")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} ({int(np.prod(shape))} values) but holds {data.size}")
    return data.reshape(shape)


def _array_sha256(arr: np.ndarray) -> str:
    """SHA-256 of an array's shape, dtype and values."""
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{arr.shape} {arr.dtype}:".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _load_verified(cache: Path, checksum: Path) -> np.ndarray | None:
    """The cached array if it matches its stored SHA-256; else None, with a warning that says why."""
    if not checksum.exists():
        problem = "has no SHA-256 next to it (written by an older probgen)"
    else:
        try:
            arr = np.load(cache)
        except (ValueError, OSError) as exc:
            problem = f"cannot be read ({exc})"
        else:
            if _array_sha256(arr) == checksum.read_text().strip():
                return arr
            problem = "does not match its SHA-256"
    warnings.warn(f"MNIST cache {cache} {problem}; rebuilding it from the md5-verified source", RuntimeWarning,
                  stacklevel=4)
    return None


def _decoded(split: str, kind: str, data_dir) -> np.ndarray:
    """The decoded array of one IDX file, cached as `<file>.<md5>.npy` with its SHA-256 in `<...>.npy.sha256`.

    The cache is checked against its SHA-256 on every load (~0.06 s for the
    training images) and rebuilt from the md5-verified source when it does not
    match, cannot be read or has no checksum. Writers use unique temporary
    files, so processes filling a fresh cache at once all succeed (the last
    rename wins; all wrote the same bytes). The checksum is written first, so
    a cache file never appears without one.
    """
    rel = _FILES[(split, kind)]
    known = files.KNOWN_FILES[rel]
    cache = paths.cache_dir("mnist") / f"{Path(rel).name}.{known.md5}.npy"
    checksum = cache.with_name(cache.name + ".sha256")
    if cache.exists():
        cached = _load_verified(cache, checksum)
        if cached is not None:
            return cached
    arr = read_idx(files.find(rel, data_dir))  # find() verifies the md5
    atomic_write_text(checksum, _array_sha256(arr) + "\n")
    with atomic_path(cache) as tmp:
        np.save(tmp, arr)
    return arr


@dataclass(frozen=True)
class MNIST:
    """One split of MNIST as tensors: `images` (N, 1, 28, 28) in the chosen view, `labels` (N,) int64."""

    images: "torch.Tensor"  # noqa: F821
    labels: "torch.Tensor"  # noqa: F821
    split: str
    view: str

    def __len__(self) -> int:
        return self.images.shape[0]


def load_mnist(split: str = "train", view: str = "unit", *, data_dir=None, limit: int | None = None,
               dtype=None) -> MNIST:
    """Load a split of MNIST in a view.

    Args:
        split: "train" (first 50 000 training images), "val" (last 10 000), "trainval" (all 60 000) or "test".
        view: "uint8" (0..255), "unit" ([0, 1]), "binarized" (unit > 0.5 -> 1, else 0; static and
            deterministic) or "symmetric" ([-1, 1]).
        limit: keep only the first `limit` images (smoke profiles).
    Returns:
        MNIST with images (N, 1, 28, 28) and labels (N,).
    """
    import torch

    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not allowed; choose one of {SPLITS}")
    if view not in VIEWS:
        raise ValueError(f"view={view!r} is not allowed; choose one of {VIEWS}")
    source = "test" if split == "test" else "trainval"
    images = _decoded(source, "images", data_dir)
    labels = _decoded(source, "labels", data_dir)
    if split == "train":
        images, labels = images[:-N_VAL], labels[:-N_VAL]
    elif split == "val":
        images, labels = images[-N_VAL:], labels[-N_VAL:]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(np.array(images)).unsqueeze(1)  # copy out of the memory map; (N, 28, 28) -> (N, 1, 28, 28)
    y = torch.from_numpy(np.array(labels)).long()
    x = to_view(x, view, dtype=dtype)
    return MNIST(images=x, labels=y, split=split, view=view)


def to_view(x_uint8, view: str, dtype=None):
    """Map uint8 images to a view (see `load_mnist`)."""
    import torch

    dtype = dtype or torch.float32
    if view == "uint8":
        return x_uint8
    unit = x_uint8.to(dtype) / 255.0
    if view == "unit":
        return unit
    if view == "binarized":
        return (unit > 0.5).to(dtype)
    if view == "symmetric":
        return unit * 2.0 - 1.0
    raise ValueError(f"view={view!r} is not allowed; choose one of {VIEWS}")


def download_mnist(data_dir=None) -> list[Path]:
    """Download the four IDX files into `<data_dir>/mnist/`, verifying each md5 (for real users)."""
    return [files.download(rel, data_dir) for rel in _FILES.values()]
