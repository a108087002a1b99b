import contextlib
import os

import pytest

from probgen import atomic


@contextlib.contextmanager
def _umask(mask):
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def test_atomic_path_replaces_the_file_only_on_success(tmp_path):
    target = tmp_path / "sub" / "fig.png"
    with atomic.atomic_path(target) as tmp:
        assert tmp.name == "fig.png" and tmp.parent.parent == target.parent  # writers see the target's own name
        tmp.write_bytes(b"new")
        assert not target.exists()  # invisible until complete
    assert target.read_bytes() == b"new"
    with pytest.raises(ValueError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise ValueError("interrupted")
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["fig.png"]


def test_temporary_paths_are_unique(tmp_path):
    target = tmp_path / "x.npy"
    with atomic.atomic_path(target) as a, atomic.atomic_path(target) as b:
        assert a != b
        a.write_bytes(b"a")
        b.write_bytes(b"b")
    assert target.read_bytes() == b"a"  # the last to finish wins
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_torch_files_are_the_same_bytes_as_a_direct_save(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"w": torch.arange(4.0)}
    torch.save(state, tmp_path / "direct.pt")
    with atomic.atomic_path(tmp_path / "sub" / "direct.pt") as tmp:
        torch.save(state, tmp)
    assert (tmp_path / "sub" / "direct.pt").read_bytes() == (tmp_path / "direct.pt").read_bytes()


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_mode_of_ordinary_files(tmp_path, mask, mode):
    with _umask(mask):
        atomic.atomic_write_text(tmp_path / "a.json", "{}")
        atomic.atomic_write_bytes(tmp_path / "b.bin", b"\0")
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {mode}


def test_write_text_and_bytes(tmp_path):
    atomic.atomic_write_text(tmp_path / "a.txt", "é\n")
    atomic.atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é\n" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]
