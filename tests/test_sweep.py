"""Sweeps and runs that are not the book's own: where they write, the Dask runner, failures, aggregation."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from probgen import checkpoints, paths, reporting, runs, sweep

REPO = Path(__file__).resolve().parents[1]


def _nb(path, code_cells, params="profile = 'smoke'  # which profile\nseed = 0  # a seed"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p] + [nbformat.v4.new_code_cell(c) for c in code_cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# --- where a run writes ------------------------------------------------------------------------------

def test_parse_and_grid_give_every_combination_in_order():
    sweeps = sweep.parse_sweeps(["seed=0,1", "beta=0.5,1.0,x"])
    assert sweeps == {"seed": [0, 1], "beta": [0.5, 1.0, "x"]}
    assert sweep.grid(sweeps) == [{"seed": s, "beta": b} for s in (0, 1) for b in (0.5, 1.0, "x")]
    for bad in (["seed"], ["seed="], ["profile=quick"], ["seed=0", "seed=1"], ["seed=1,1"]):
        with pytest.raises(SystemExit):
            sweep.parse_sweeps(bad)


def test_slug_names_a_run_by_its_parameters():
    assert runs.slug({"seed": 1}) == "seed=1"
    assert runs.slug({"seed": 2, "beta": 0.5}) == "beta=0.5,seed=2"
    assert runs.slug({"device": "cuda:0", "name": "a b/c"}) == "device=cuda-0,name=a-b-c"
    with pytest.raises(ValueError):
        runs.slug({})


def test_place_is_decided_by_the_parameters(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbdir)
    _nb(nbdir / "01_x.ipynb", [], params="profile = 'smoke'\nseed = 0\ndevice = 'auto'  # where")
    assert runs.notebook_defaults("01_x") == {"seed": 0, "device": "auto"}
    assert runs.place("01_x", "smoke", {"seed": 0, "device": "auto"}) is None  # the book's run
    assert runs.place("01_x", "quick", {"seed": 1, "device": "auto"}) == tmp_path / "runs" / "quick" / "01_x" / "seed=1"
    monkeypatch.setenv(runs.RUN_DIR_ENV, str(tmp_path / "elsewhere"))  # the sweep runner's folder wins
    assert runs.place("01_x", "smoke", {"seed": 0, "device": "auto"}) == tmp_path / "elsewhere"


def test_results_and_figures_of_a_non_default_run_go_to_its_folder(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from probgen import plotting

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    monkeypatch.setattr(paths, "notebooks_dir", lambda: nbdir)
    _nb(nbdir / "01_x.ipynb", [])
    res = reporting.Results("01_x", profile="smoke", seeds=[3], parameters={"seed": 3})
    res.headline("h", 1.5, label="a number", se=0.1)
    saved = res.save()
    fig = plt.figure()
    png = plotting.savefig(fig, "f", chapter="01_x")
    plt.close(fig)
    folder = tmp_path / "runs" / "smoke" / "01_x" / "seed=3"
    assert saved == folder / "01_x.json" and png == folder / "figures" / "01_x" / "f.png"
    assert json.loads(saved.read_text())["parameters"] == {"profile": "smoke", "seed": 3}
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))
    book = reporting.Results("01_x", profile="smoke", seeds=[0], parameters={"seed": 0})  # back to the book's
    assert book.path == tmp_path / "results" / "smoke" / "01_x.json" and paths.run_folder() is None


def test_machine_keeps_workers_times_threads_within_the_cores():
    assert sweep.machine(6, cores=2, gpus=0) == (2, 1, 0)
    assert sweep.machine(1, cores=2, gpus=0) == (1, 2, 0)
    assert sweep.machine(6, cores=16, gpus=4) == (4, 4, 4)  # one run per GPU
    assert sweep.machine(6, workers=1, cores=2, gpus=0) == (1, 2, 0)  # one after another
    for n in range(1, 9):
        for cores in (1, 2, 3, 8):
            workers, threads, _ = sweep.machine(n, cores=cores, gpus=0)
            assert 1 <= workers <= n and workers * threads <= cores


# --- aggregation against a hand computation ----------------------------------------------------------

def _fake_run(profile, chapter, params, headlines, status="done"):
    folder = runs.run_folder(profile, chapter, params)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"chapter": chapter, "parameters": {"profile": profile, **params},
               "headlines": {k: {"label": k.upper(), "value": v, "text": f"{v}"} for k, v in headlines.items()}}
    (folder / f"{chapter}.json").write_text(json.dumps(payload))
    runs.write_record(folder, {"status": status, "parameters": params})


def test_aggregate_equals_a_hand_computation_grouped_by_the_swept_parameters():
    values = {(0, 0.5): 1.0, (1, 0.5): 2.0, (2, 0.5): 4.5, (0, 1.0): 10.0, (1, 1.0): 13.0}
    for (seed, beta), v in values.items():
        _fake_run("quick", "03_x", {"seed": seed, "beta": beta}, {"fid": v, "flag": True})
    _fake_run("quick", "03_x", {"seed": 9, "beta": 0.5}, {"fid": 1e9}, status="failed")  # left out
    table = runs.aggregate("03_x", "quick")
    assert list(table.columns) == ["beta", "name", "quantity", "mean", "std", "min", "max", "n"]
    assert set(table["name"]) == {"fid"}  # a boolean is not a number to average
    for beta in (0.5, 1.0):
        x = np.array([v for (s, b), v in values.items() if b == beta])
        row = table[table["beta"] == beta].iloc[0]
        assert row["n"] == x.size and row["quantity"] == "FID"
        assert row["mean"] == pytest.approx(x.sum() / x.size, rel=1e-12)
        assert row["std"] == pytest.approx(math.sqrt(((x - x.mean()) ** 2).sum() / (x.size - 1)), rel=1e-12)
        assert (row["min"], row["max"]) == (x.min(), x.max())
    est = runs.estimates("03_x", "quick")[(0.5,)]["fid"]
    assert est.value == pytest.approx(2.5) and est.se == pytest.approx(np.std([1, 2, 4.5], ddof=1) / math.sqrt(3))


def test_aggregate_without_runs_says_what_to_run():
    with pytest.raises(FileNotFoundError, match="--sweep seed=0,1,2"):
        runs.aggregate("09_nothing", "quick")


def test_sweep_table_places_the_book_value_against_the_spread():
    for seed, v in enumerate([1.0, 1.2, 0.8, 1.1]):
        _fake_run("smoke", "09_x", {"seed": seed}, {"acc": v})
    book = [{"chapter": "09_x", "payload": {"headlines": {"acc": {"value": 1.05, "text": "1.05"}}}}]
    table = runs.sweep_table("smoke", book)
    assert table.iloc[0]["against the runs"] == "within the spread" and table.iloc[0]["runs"] == 4
    book[0]["payload"]["headlines"]["acc"]["value"] = 3.0
    assert runs.sweep_table("smoke", book).iloc[0]["against the runs"] == "above"
    assert "09_x (4 runs)" in runs.sweep_summary("smoke")
    assert runs.sweep_table("quick") is None and "No sweep" in runs.sweep_summary("quick")


# --- two processes, one model -----------------------------------------------------------------------

def _compute_once(cache: str, log: str) -> None:
    os.environ["PROBGEN_CACHE"] = cache

    def compute():
        with open(log, "a") as fh:
            fh.write("computed\n")
        time.sleep(1.0)
        return {"x": 1}

    assert checkpoints.cached_json("shared", {"a": 1}, compute, log=lambda m: None) == {"x": 1}


@pytest.mark.slow
def test_two_processes_needing_the_same_result_compute_it_once(tmp_path):
    from tests.concurrency import race

    log = tmp_path / "log.txt"
    errors = race([(_compute_once, (str(tmp_path / "cache"), str(log)))] * 2, rounds=1)
    assert errors == []
    assert log.read_text().count("computed") == 1


# --- the runner, end to end on a small repository ------------------------------------------------------

TINY = [
    "from pathlib import Path\nfrom probgen import plotting, reporting\nimport matplotlib.pyplot as plt",
    "results = reporting.Results('01_tiny', profile=profile, seeds=[seed], parameters={'seed': seed})",
    "if Path(results.path).parents[3].joinpath('fail-seed-%d' % seed).exists():\n"
    "    raise ValueError(f'seed {seed} fails on purpose')",
    "results.headline('square', seed ** 2 + 0.5, label='seed squared', fmt='{:.1f}')\n"
    "fig = plt.figure(); plotting.savefig(fig, 'tiny', chapter='01_tiny')\nresults.save()",
]


@pytest.fixture
def tiny_repo(tmp_path):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text("root: intro\n")
    _nb(root / "notebooks" / "01_tiny.ipynb", TINY)
    env = {**os.environ, "PROBGEN_ROOT": str(root), "PROBGEN_RUNS": str(root / "runs"),
           "PROBGEN_RESULTS": str(root / "results"), "PROBGEN_FIGURES": str(root / "figures")}
    return root, env


def _cli(args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "probgen.run", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.mark.slow
def test_a_sweep_on_a_two_worker_cluster_reports_a_failure_and_retries_only_it(tiny_repo):
    root, env = tiny_repo
    (root / "runs").mkdir()
    (root / "runs" / "fail-seed-1").write_text("")  # seed 1 fails in cell 2 until this file goes
    out = _cli(["--profile", "smoke", "01_tiny", "--sweep", "seed=0,1,2", "--workers", "2"], env)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "2 worker(s) × 1 torch thread(s)" in text
    assert "01_tiny seed=1: failed in cell 4 with ValueError: seed 1 fails on purpose" in text, text  # (papermill's
    # injected parameters cell counts)
    assert "--retry-failed" in text
    base = root / "runs" / "smoke" / "01_tiny"
    records = {s: runs.read_record(base / f"seed={s}") for s in (0, 1, 2)}
    assert [records[s]["status"] for s in (0, 1, 2)] == ["done", "failed", "done"]
    for s in (0, 2):
        folder = base / f"seed={s}"
        assert json.loads((folder / "01_tiny.json").read_text())["headlines"]["square"]["value"] == s ** 2 + 0.5
        assert (folder / "01_tiny.ipynb").is_file() and (folder / "figures" / "01_tiny" / "tiny.png").is_file()
    assert (base / "seed=1" / "01_tiny.failed.ipynb").is_file()
    assert not (root / "results").exists() and not (root / "figures").exists() and not (root / "executed").exists()

    (root / "runs" / "fail-seed-1").unlink()
    started = {s: records[s]["started_utc"] for s in (0, 2)}
    out = _cli(["--profile", "smoke", "01_tiny", "--retry-failed", "--workers", "2"], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 of 1 run(s) done" in out.stdout
    assert runs.read_record(base / "seed=1")["status"] == "done"
    assert all(runs.read_record(base / f"seed={s}")["started_utc"] == started[s] for s in (0, 2))  # not rerun

    out = _cli(["aggregate", "01_tiny", "--profile", "smoke"], env)
    assert out.returncode == 0, out.stderr
    x = np.array([0.5, 1.5, 4.5])
    assert "3 completed run(s)" in out.stdout and f"{x.mean():.4g}" in out.stdout and f"{x.std(ddof=1):.4g}" in out.stdout


@pytest.mark.slow
def test_a_run_with_a_non_default_parameter_never_writes_the_books_executed_copy(tiny_repo):
    root, env = tiny_repo
    out = _cli(["--profile", "smoke", "01_tiny", "-p", "seed=4"], env)
    assert out.returncode == 0, out.stdout + out.stderr
    folder = root / "runs" / "smoke" / "01_tiny" / "seed=4"
    assert (folder / "01_tiny.ipynb").is_file() and (folder / "01_tiny.json").is_file()
    assert not (root / "executed" / "01_tiny.ipynb").exists() and not (root / "results").exists()


# --- a real chapter ----------------------------------------------------------------------------------

BOOK_CHAPTER = "09_trueskill"


def _book_files(env):
    out = {}
    for key in ("PROBGEN_RESULTS", "PROBGEN_FIGURES"):
        for f in sorted(Path(env[key]).rglob("*")):
            out[str(f)] = f.stat().st_mtime_ns if f.is_file() else None
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_two_seed_sweep_of_a_chapter_leaves_the_book_alone_and_aggregates(tmp_path, monkeypatch):
    env = {**os.environ, "PROBGEN_RUNS": str(tmp_path / "runs"), "PROBGEN_RESULTS": str(tmp_path / "results"),
           "PROBGEN_FIGURES": str(tmp_path / "figures"), "PROBGEN_CACHE": str(tmp_path / "cache")}
    book = Path(env["PROBGEN_RESULTS"]) / "smoke" / f"{BOOK_CHAPTER}.json"
    book.parent.mkdir(parents=True)
    book.write_text('{"the book": "seed 0"}')
    before = _book_files(env)
    out = _cli(["--profile", "smoke", BOOK_CHAPTER, "--sweep", "seed=1,2", "--workers", "2"], env, timeout=800)
    assert out.returncode == 0, out.stdout + out.stderr
    assert _book_files(env) == before and book.read_text() == '{"the book": "seed 0"}'
    base = tmp_path / "runs" / "smoke" / BOOK_CHAPTER
    payloads = [json.loads((base / f"seed={s}" / f"{BOOK_CHAPTER}.json").read_text()) for s in (1, 2)]
    assert [p["parameters"]["seed"] for p in payloads] == [1, 2]
    assert payloads[0]["headlines"] != payloads[1]["headlines"]  # two seeds, two different runs
    assert list((base / "seed=1" / "figures" / BOOK_CHAPTER).glob("*.png"))
    monkeypatch.setenv("PROBGEN_RUNS", env["PROBGEN_RUNS"])
    table = runs.aggregate(BOOK_CHAPTER, "smoke")
    for name in payloads[0]["headlines"]:
        x = [p["headlines"][name]["value"] for p in payloads]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in x):
            continue
        row = table[table["name"] == name].iloc[0]
        assert row["mean"] == pytest.approx((x[0] + x[1]) / 2, rel=1e-12, abs=1e-15)
        assert row["std"] == pytest.approx(abs(x[0] - x[1]) / math.sqrt(2), rel=1e-12, abs=1e-15)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_plain_papermill_with_another_seed_does_not_touch_the_books_results(tmp_path):
    env = {**os.environ, "PROBGEN_RUNS": str(tmp_path / "runs"), "PROBGEN_RESULTS": str(tmp_path / "results"),
           "PROBGEN_FIGURES": str(tmp_path / "figures"), "PROBGEN_CACHE": str(tmp_path / "cache")}
    book = Path(env["PROBGEN_RESULTS"]) / "smoke" / f"{BOOK_CHAPTER}.json"
    book.parent.mkdir(parents=True)
    book.write_text('{"the book": "seed 0"}')
    out = subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / f"{BOOK_CHAPTER}.ipynb"),
                          str(tmp_path / "out.ipynb"), "-p", "seed", "1", "-k", "python3", "--cwd",
                          str(REPO / "notebooks")], env=env, capture_output=True, text=True, timeout=550)
    assert out.returncode == 0, out.stderr[-3000:]
    assert book.read_text() == '{"the book": "seed 0"}'
    assert not list((tmp_path / "figures").rglob("*.png")) if (tmp_path / "figures").exists() else True
    run = tmp_path / "runs" / "smoke" / BOOK_CHAPTER / "seed=1"
    assert json.loads((run / f"{BOOK_CHAPTER}.json").read_text())["parameters"] == {"profile": "smoke", "seed": 1}


@pytest.mark.slow
def test_a_sweep_goes_to_an_existing_cluster_with_scheduler(tiny_repo, monkeypatch):
    from distributed import LocalCluster

    root, env = tiny_repo
    for key in ("PROBGEN_ROOT", "PROBGEN_RUNS", "PROBGEN_RESULTS", "PROBGEN_FIGURES"):
        monkeypatch.setenv(key, env[key])  # the cluster's workers inherit them, as a real cluster's would be set up
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = _cli(["--profile", "smoke", "01_tiny", "--sweep", "seed=5", "--scheduler", cluster.scheduler_address], env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"the Dask cluster at {cluster.scheduler_address} (1 workers)" in out.stdout
    assert runs.read_record(root / "runs" / "smoke" / "01_tiny" / "seed=5")["status"] == "done"


class _Log:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_display_prints_one_line_per_state_change_and_the_bar_when_a_run_ends():
    jobs = [sweep.Job("nb/01_a.ipynb", "smoke", {"seed": s}) for s in (0, 1)]
    log = _Log()
    display = sweep.Display(jobs, stream=log, log_every=3600)
    display.event((0.0, {"label": "01_a seed=0", "state": "running", "detail": "cell 1/3"}))
    display.event((0.0, {"label": "01_a seed=0", "state": "running", "detail": "cell 2/3"}))  # within log_every
    display.update("01_a seed=0", "done", "5 s")
    display.update("01_a seed=1", "failed", "ValueError: no")
    lines = log.text.splitlines()
    assert lines[0].split() [:3] == ["running", "01_a", "seed=0"] and "cell 1/3" in lines[0]
    assert not any("cell 2/3" in line for line in lines)
    assert lines[1].split()[:3] == ["done", "01_a", "seed=0"] and "1/2 runs" in lines[2]
    assert "failed" in lines[3] and "ValueError: no" in lines[3] and "2/2 runs" in lines[4] and "1 failed" in lines[4]
    assert display.counts() == {"queued": 0, "running": 0, "done": 1, "failed": 1}


@pytest.mark.slow
def test_an_interrupted_sweep_keeps_what_finished_and_says_how_to_go_on(tiny_repo, monkeypatch):
    import signal

    root, env = tiny_repo
    monkeypatch.setenv("PROBGEN_RUNS", env["PROBGEN_RUNS"])
    _nb(root / "notebooks" / "02_slow.ipynb", ["import time\nif seed == 1:\n    time.sleep(120)",
                                               "from probgen import reporting\n"
                                               "reporting.Results('02_slow', profile=profile, seeds=[seed], "
                                               "parameters={'seed': seed}).save()"])
    # As a terminal's Ctrl-C reaches a foreground command: with SIGINT's default action (a shell that started
    # pytest in the background, `cmd &`, passes SIGINT on as ignored, and Python then never raises KeyboardInterrupt)
    proc = subprocess.Popen([sys.executable, "-m", "probgen.run", "--profile", "smoke", "02_slow", "--sweep",
                             "seed=0,1", "--workers", "2"], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    base = root / "runs" / "smoke" / "02_slow"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (runs.read_record(base / "seed=0") or {}).get("status") != "done":
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted: 1 of 2 run(s) did not finish" in out and "--retry-failed" in out
    assert runs.read_record(base / "seed=0")["status"] == "done"
    assert runs.read_record(base / "seed=1")["status"] in ("queued", "running")
    assert [j.parameters for j in sweep.failed_jobs([root / "notebooks" / "02_slow.ipynb"], "smoke")] == [{"seed": 1}]
