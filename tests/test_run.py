
import nbformat
import pytest

from probgen import paths, run, runtime


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


def test_every_parameter_is_checked_before_any_notebook_runs(nbdir, tmp_path):
    _nb(nbdir / "01_a.ipynb", ["open('ran', 'w').write('yes')"], params="profile = 'smoke'  # p\nseed = 0  # s")
    _nb(nbdir / "02_b.ipynb", [])  # has no `seed`
    with pytest.raises(SystemExit, match="(?s)02_b.ipynb has no parameter\\(s\\) seed.*nothing was run") as err:
        run.main(["--profile", "smoke", "-p", "seed=1"])
    assert "01_a" not in str(err.value)
    assert not (nbdir / "ran").exists() and not (tmp_path / "executed" / "01_a.ipynb").exists()


def test_profile_is_set_by_profile_only(nbdir):
    _nb(nbdir / "01_a.ipynb", [])
    with pytest.raises(SystemExit, match="set the profile with --profile quick, not -p profile="):
        run.main(["--profile", "smoke", "-p", "profile=quick"])


def test_failure_names_notebook_cell_and_error(nbdir, tmp_path):
    _nb(nbdir / "01_broken.ipynb", ["x = 1", "raise ValueError('loss is NaN at step 3')"])
    with pytest.raises(SystemExit) as err:
        run.main(["--profile", "smoke", "01_broken"])
    msg = str(err.value)
    assert "01_broken.ipynb failed in cell" in msg and "ValueError: loss is NaN at step 3" in msg
    failed = tmp_path / "executed" / "01_broken.failed.ipynb"
    assert str(failed) in msg and "make notebooks PROFILE=smoke NOTEBOOKS=01_broken" in msg
    assert failed.exists()  # kept for inspection, under a name the book never renders
    assert not (tmp_path / "executed" / "01_broken.ipynb").exists()


def test_a_failed_rerun_never_replaces_the_good_copy(nbdir, tmp_path):
    nb = _nb(nbdir / "01_a.ipynb", ["print('good run', profile)"])
    assert run.main(["--profile", "quick", "01_a"]) == 0
    good = (tmp_path / "executed" / "01_a.ipynb").read_bytes()
    _nb(nb, ["raise RuntimeError('broken now')"])
    with pytest.raises(SystemExit, match="the last good copy .* is unchanged"):
        run.main(["--profile", "quick", "01_a"])
    assert (tmp_path / "executed" / "01_a.ipynb").read_bytes() == good
    assert "broken now" in (tmp_path / "executed" / "01_a.failed.ipynb").read_text()
    assert not list((tmp_path / "executed").glob(".*"))  # no temporary file left behind
    _nb(nb, ["print('fixed')"])
    assert run.main(["--profile", "quick", "01_a"]) == 0
    assert not (tmp_path / "executed" / "01_a.failed.ipynb").exists()  # superseded by the good run


def test_parameters_are_injected_and_shown_once_with_the_values_used(nbdir, tmp_path):
    _nb(nbdir / "01_ok.ipynb", ["assert (profile, seed) == ('quick', 4), (profile, seed)"],
        params="profile = 'smoke'   # which profile\nseed = 0            # which seed")
    assert run.main(["--profile", "quick", "-p", "seed=4", "01_ok"]) == 0
    # seed=4 is not the notebook's default, so this is not the book's run: it goes to its own folder
    assert not (tmp_path / "executed" / "01_ok.ipynb").exists()
    nb = nbformat.read(tmp_path / "runs" / "quick" / "01_ok" / "seed=4" / "01_ok.ipynb", as_version=4)
    params = [c for c in nb.cells if {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]
    assert len(params) == 1
    assert params[0].source == 'profile = "quick"   # which profile\nseed = 4            # which seed'
    record = nb.metadata["probgen"]
    assert record["profile"] == "quick" and record["parameters"] == {"profile": "quick", "seed": 4}
    assert record["run_id"] and record["started_utc"] <= record["finished_utc"]


def test_fold_parameters_keeps_comments_when_the_value_grows():
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile = "smoke"  # which\n# a note\nx = 1')
    p.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "quick"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [p, injected]
    run.fold_parameters(nb, {"profile": "a much longer value"})
    assert [c.source for c in nb.cells] == ['profile = "a much longer value"  # which\n# a note\nx = 1']


def test_progress_goes_to_the_terminal_not_into_the_notebook(nbdir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run.StatusLine.__init__, "__kwdefaults__", {"stream": None, "log_every": 0.5})
    _nb(nbdir / "01_bar.ipynb", ["import time\nfrom probgen import runtime\n"
                                 "for i in runtime.progress(range(4), desc='training the U-Net'):\n"
                                 "    time.sleep(0.6)"])
    assert run.main(["--profile", "smoke", "01_bar"]) == 0
    out = capsys.readouterr().out
    assert "training the U-Net:" in out and "cell 3/3" in out
    nb = nbformat.read(tmp_path / "executed" / "01_bar.ipynb", as_version=4)
    assert [o for c in nb.cells for o in c.get("outputs", [])] == []  # no widget, no stderr bar
    assert "widgets" not in nb.metadata


def test_status_line_file_keeps_the_open_bars_only(tmp_path, monkeypatch):
    status = tmp_path / "status.txt"
    monkeypatch.setenv(runtime.STATUS_ENV, str(status))
    outer = runtime.progress(total=3, desc="outer")
    outer.update(1)
    outer.refresh()
    inner = runtime.progress(total=10, desc="inner")
    inner.update(5)
    inner.refresh()
    assert "outer" in status.read_text() and "inner: " in status.read_text()
    inner.close()
    assert "inner" not in status.read_text() and "outer" in status.read_text()
    outer.close()
    assert status.read_text() == ""


def _executed(path, *, cells_ok=True, exception=False, record=True, started="2026-01-01T00:00:00+00:00",
              finished="2026-01-01T00:01:00+00:00"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["papermill"] = {"status": "completed" if cells_ok else "pending", "exception": False}
    nb.cells = [cell]
    nb.metadata["papermill"] = {"exception": exception}
    if record:
        nb.metadata["probgen"] = {"profile": "quick", "started_utc": started, "finished_utc": finished}
    nbformat.write(nb, path)


def test_check_refuses_failed_unfinished_foreign_missing_and_stale(nbdir, tmp_path):
    ex = tmp_path / "executed"
    _executed(ex / "01_ok.ipynb")
    _executed(ex / "02_exc.ipynb", exception=True)
    _executed(ex / "03_half.ipynb", cells_ok=False)
    _executed(ex / "04_foreign.ipynb", record=False)
    _executed(ex / "99_results.ipynb", started="2026-01-01T00:00:30+00:00")  # before 01_ok finished
    problems = run.check_executed(["01_ok", "02_exc", "03_half", "04_foreign", "05_missing", "99_results"])
    text = "\n".join(problems)
    assert len(problems) == 5 and "01_ok.ipynb" not in text.split("before")[0]
    assert "02_exc.ipynb records a failed or unfinished run" in text
    assert "03_half.ipynb records a failed or unfinished run (cells 0)" in text
    assert "04_foreign.ipynb was not executed by `python -m probgen.run`" in text
    assert "05_missing.ipynb is missing" in text
    assert "executed before 01_ok finished" in text and "NOTEBOOKS=99_results" in text
    assert "make notebooks PROFILE=quick NOTEBOOKS=02_exc" in text


def test_results_page_runs_after_any_chapter(nbdir, tmp_path):
    _nb(nbdir / "01_a.ipynb", [])
    _nb(nbdir / "99_results.ipynb", [])
    assert run.main(["--profile", "smoke", "01_a"]) == 0
    assert (tmp_path / "executed" / "99_results.ipynb").exists()
    assert run.check_executed(["01_a", "99_results"]) == []


def test_a_killed_run_keeps_the_good_copy_and_the_partial_run(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "executed").mkdir()
    (root / "_toc.yml").write_text("root: intro\n")
    _nb(root / "notebooks" / "01_slow.ipynb", ["import time\nprint('started', flush=True)\ntime.sleep(60)"])
    good = root / "executed" / "01_slow.ipynb"
    good.write_text("the last good copy")
    env = {**os.environ, "PROBGEN_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "probgen.run", "--profile", "smoke", "01_slow"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((root / "executed").glob(".01_slow.*")):
        time.sleep(0.2)
    time.sleep(3)  # let the kernel reach the sleeping cell
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "was interrupted" in out and "01_slow.failed.ipynb" in out, out
    assert good.read_text() == "the last good copy"
    assert (root / "executed" / "01_slow.failed.ipynb").exists()
    assert not list((root / "executed").glob(".*"))
