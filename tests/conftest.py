import pytest
import torch

from probgen.runtime import torch_threads


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """Tests write caches, results and figures into a temporary folder, never the repo's."""
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROBGEN_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PROBGEN_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("PROBGEN_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("PROBGEN_RUN_DIR", raising=False)
    yield
    from probgen import paths

    paths.set_run_folder(None)  # a test's Results with non-default parameters must not redirect the next test


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run small models many times; on a shared 2-core machine intra-op threads only wait on each other."""
    with torch_threads(1):
        yield


@pytest.fixture
def torch_dtype():
    """The default torch dtype of a test; a folder's conftest overrides it (tests/gp: float64)."""
    return torch.float32


@pytest.fixture(autouse=True)
def _default_dtype(torch_dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)
    yield
    torch.set_default_dtype(before)


@pytest.fixture
def interrupt_call(monkeypatch):
    """`interrupt_call(module, name, at_call)`: the `at_call`-th call of `module.name` raises
    KeyboardInterrupt, as if the run were killed there. Returns a function that puts the real one back."""
    def patch(module, name: str, at_call: int):
        real = getattr(module, name)
        calls = 0

        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == at_call:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
        return lambda: monkeypatch.setattr(module, name, real)

    return patch
