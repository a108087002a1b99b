import nbformat
import pytest

from probgen import paths, run


def _nb(path, code_cells, params="profile = 'smoke'  # which profile"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in code_cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def nbdir(tmp_path, monkeypatch):
    d = tmp_path / "notebooks"
    d.mkdir()
    monkeypatch.setattr(paths, "notebooks_dir", lambda: d)
    monkeypatch.setattr(paths, "executed_dir", lambda: tmp_path / "executed")
    (tmp_path / "executed").mkdir()
    return d


def test_discover_orders_results_page_last_and_matches_prefixes(nbdir):
    for name in ["99_results", "09_trueskill", "01_vae"]:
        _nb(nbdir / f"{name}.ipynb", [])
    assert [p.stem for p in run.discover()] == ["01_vae", "09_trueskill", "99_results"]
    assert [p.stem for p in run.discover(["09"])] == ["09_trueskill"]
    with pytest.raises(SystemExit, match="no notebook matches 'gp'; available: 01_vae, 09_trueskill, 99_results"):
        run.discover(["gp"])


def test_unknown_profile_is_rejected(nbdir):
    _nb(nbdir / "01_a.ipynb", [])
    with pytest.raises(SystemExit, match="unknown profile 'medium'"):
        run.main(["--profile", "medium"])


def test_unknown_parameter_names_the_declared_ones(nbdir):
    _nb(nbdir / "01_a.ipynb", [])
    with pytest.raises(SystemExit, match="has no parameter\\(s\\) epochs; it takes: profile"):
        run.main(["--profile", "smoke", "-p", "epochs=3"])


def test_failure_names_notebook_cell_and_error(nbdir, tmp_path):
    _nb(nbdir / "01_broken.ipynb", ["x = 1", "raise ValueError('loss is NaN at step 3')"])
    with pytest.raises(SystemExit) as err:
        run.main(["--profile", "smoke", "01_broken"])
    msg = str(err.value)
    assert "01_broken.ipynb failed in cell" in msg and "ValueError: loss is NaN at step 3" in msg
    assert (tmp_path / "executed" / "01_broken.ipynb").exists()  # kept for inspection


def test_parameters_are_injected(nbdir, tmp_path):
    _nb(nbdir / "01_ok.ipynb", ["assert profile == 'quick', profile"])
    assert run.main(["--profile", "quick", "01_ok"]) == 0
