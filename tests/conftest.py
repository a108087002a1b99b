import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """Tests write caches, results and figures into a temporary folder, never the repo's."""
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROBGEN_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PROBGEN_FIGURES", str(tmp_path / "figures"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run small models many times; on a shared 2-core machine intra-op threads only wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _float32_default():
    """float32 unless a test module asks otherwise (the GP tests use a float64 fixture of their own)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(before)
