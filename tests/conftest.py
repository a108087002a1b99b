import pytest


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path, monkeypatch):
    """Tests write caches, results and figures into a temporary folder, never the repo's."""
    monkeypatch.setenv("PROBGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROBGEN_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PROBGEN_FIGURES", str(tmp_path / "figures"))
