"""Sweeps: run chapters over a grid of their parameters, each run in its own folder, in parallel on Dask.

    python -m probgen.run --profile quick 09_trueskill 08 --sweep seed=0,1,2
    python -m probgen.run --profile quick 09 --sweep seed=0,1,2 --scheduler tcp://host:8786   # an existing cluster
    python -m probgen.run --profile quick 09 --retry-failed                                  # only the failed runs
    python -m probgen.run aggregate 09_trueskill --profile quick                             # mean, std, min, max, n

Every combination of the `--sweep` values is one run of each chosen chapter. A
run writes only into `runs/<profile>/<chapter>/<slug>/` (see `probgen.runs`):
the book's `executed/`, `results/` and `figures/` are never touched.

Runs go to a Dask cluster: by default a `LocalCluster` of one-task worker
processes sized to the machine (workers × torch threads ≤ cores; one run per
GPU where there are GPUs), or the cluster at `--scheduler`. Trained models are
shared through the model cache, whose train-or-load holds a file lock, so two
runs that need the same model train it once: the second waits for the file.

A failed or killed run does not stop the others. Each run folder holds a
`run.json` record (queued, running, done or failed, with the failed cell and
error); the summary names every failed run and `--retry-failed` reruns those.
"""

from __future__ import annotations

import ast
import datetime as _dt
import itertools
import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from . import paths, runs, runtime

TOPIC = "probgen-sweep"  # the Dask event topic on which workers report their runs' progress


@dataclass(frozen=True)
class Job:
    """One run of a sweep: a chapter notebook at a profile with some parameters."""

    notebook: str
    profile: str
    parameters: dict

    @property
    def chapter(self) -> str:
        return Path(self.notebook).stem

    @property
    def folder(self) -> Path:
        return runs.run_folder(self.profile, self.chapter, self.parameters)

    @property
    def label(self) -> str:
        return f"{self.chapter} {runs.slug(self.parameters)}"


# --- what to run ------------------------------------------------------------------------------------

def parse_sweeps(items: list[str]) -> dict[str, list]:
    """`["seed=0,1,2", "beta=0.1,1"]` → `{"seed": [0, 1, 2], "beta": [0.1, 1]}` (values read as Python literals)."""
    out: dict[str, list] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier() or not values.strip():
            raise SystemExit(f"error: --sweep {item!r} must look like key=v1,v2,... (e.g. --sweep seed=0,1,2)")
        if key == "profile":
            raise SystemExit("error: a sweep runs one profile; set it with --profile and sweep other parameters")
        if key in out:
            raise SystemExit(f"error: --sweep {key}=... is given twice; put all its values in one list")
        parsed = []
        for text in values.split(","):
            text = text.strip()
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
            if value in parsed:
                raise SystemExit(f"error: --sweep {key} lists {text!r} twice")
            parsed.append(value)
        out[key] = parsed
    return out


def grid(sweeps: dict[str, list]) -> list[dict]:
    """Every combination of the swept values, in the order given (the last key varies fastest)."""
    keys = list(sweeps)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(sweeps[k] for k in keys))]


def plan(nbs: list[Path], profile: str, sweeps: dict[str, list]) -> list[Job]:
    """The runs of a sweep, every key checked against each chapter's declared parameters before anything runs."""
    from .run import RESULTS_PAGE, notebook_parameters

    runtime.check_profile(profile)
    problems = []
    chapters = [nb for nb in nbs if nb.stem != RESULTS_PAGE]
    if not chapters:
        raise SystemExit("error: name the chapter(s) to sweep, e.g. python -m probgen.run --profile quick 09 --sweep seed=0,1")
    for nb in chapters:
        declared = notebook_parameters(nb)
        unknown = sorted(set(sweeps) - set(declared))
        if unknown:
            problems.append(f"{nb.name} has no parameter(s) {', '.join(unknown)}; it takes: {', '.join(declared)}")
    if problems:
        raise SystemExit("error: " + "\n       ".join(problems) + "\nnothing was run.")
    return [Job(str(nb), profile, params) for nb in chapters for params in grid(sweeps)]


def unfinished(jobs: list[Job]) -> list[Job]:
    """The jobs whose run folder does not record a finished run (failed, killed, interrupted or never run)."""
    return [job for job in jobs if (runs.read_record(job.folder) or {}).get("status") != "done"]


def failed_jobs(nbs: list[Path], profile: str) -> list[Job]:
    """The runs of these chapters at `profile` whose record says they did not finish, with their parameters."""
    from .run import RESULTS_PAGE

    out = []
    for nb in (nb for nb in nbs if nb.stem != RESULTS_PAGE):
        for folder in runs.chapter_folders(profile, nb.stem):
            record = runs.read_record(folder)
            if record is not None and record.get("status") != "done":
                out.append(Job(str(nb), profile, dict(record["parameters"])))
    return out


def machine(n_runs: int, *, workers: int | None = None, threads: int | None = None,
            cores: int | None = None, gpus: int | None = None) -> tuple[int, int, int]:
    """(workers, torch threads per run, GPUs) for a local cluster.

    With GPUs, one run per GPU; without, as many runs as cores (at most `n_runs`), and the cores shared
    among them as torch threads, so workers × threads ≤ cores and no run waits for another's threads.
    """
    cores = cores or os.cpu_count() or 1
    if gpus is None:
        gpus = _cuda_devices()
    if workers is not None and workers < 1 or threads is not None and threads < 1:
        raise SystemExit("error: --workers and --threads must be at least 1")
    workers = workers or max(1, min(n_runs, gpus if gpus else cores))
    threads = threads or max(1, cores // workers)
    return workers, threads, gpus


def _cuda_devices() -> int:
    return runtime.cuda_device_count()


# --- one run, on a worker ---------------------------------------------------------------------------

def _utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_one(job: dict, *, threads: int | None, gpus: int, run_id: str, rerun: str) -> dict:
    """Execute one run of a sweep into its folder and return its record (also written as `run.json`).

    Runs on a Dask worker (it reports its progress there as events of `TOPIC`) or, without one, in-process.
    A notebook that fails is a failed record, not an exception, so the sweep goes on.
    """
    from . import run

    job = Job(**job)
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not on a worker
        worker = None

    def send(state: str, detail: str = "") -> None:
        if worker is not None:
            worker.log_event(TOPIC, {"label": job.label, "state": state, "detail": detail})

    env = {runs.RUN_DIR_ENV: str(job.folder)}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if gpus and worker is not None and isinstance(worker.name, int):
        env["CUDA_VISIBLE_DEVICES"] = str(worker.name % gpus)  # one run per GPU
    record = {"chapter": job.chapter, "profile": job.profile, "parameters": job.parameters, "status": "running",
              "sweep": run_id, "worker": getattr(worker, "address", "in-process"), "git_commit": runtime.git_commit(),
              "started_utc": _utcnow(), "cell": None, "error": None}
    runs.write_record(job.folder, record)
    send("running")
    try:
        seconds = run.execute(Path(job.notebook), {"profile": job.profile, **job.parameters}, run_id=run_id,
                              label=job.label, out_dir=job.folder, env=env, rerun=rerun,
                              sink=lambda text: send("running", text))
    except run.RunError as exc:
        record.update(status="failed", cell=exc.cell, error=exc.error, finished_utc=_utcnow())
        runs.write_record(job.folder, record)
        send("failed", exc.error)
        return record
    record.update(status="done", wall_time_s=round(seconds, 1), finished_utc=_utcnow())
    runs.write_record(job.folder, record)
    send("done", f"{seconds:.0f} s")
    return record


# --- the terminal -----------------------------------------------------------------------------------

class Display:
    """One line per run (queued, running with its current cell, done, failed) and an overall bar.

    On a terminal the block is redrawn in place; in a log (CI) a line is printed when a run changes state,
    at most every `log_every` seconds while it runs, and the bar whenever a run ends.
    """

    def __init__(self, jobs: list[Job], *, stream=None, log_every: float = 30.0):
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_every = log_every
        self.rows = {job.label: {"state": "queued", "detail": "", "since": None, "printed": 0.0} for job in jobs}
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = 0

    def event(self, event) -> None:
        """A worker's report (a Dask event `(timestamp, msg)`)."""
        _, msg = event
        self.update(msg["label"], msg["state"], msg.get("detail", ""))

    def update(self, label: str, state: str, detail: str = "") -> None:
        with self._lock:
            row = self.rows.get(label)
            if row is None:
                return
            changed = row["state"] != state
            now = time.monotonic()
            if changed and state == "running":
                row["since"] = now
            row.update(state=state, detail=detail)
            if not self.tty and (changed or now - row["printed"] >= self.log_every):
                self.stream.write(self._line(label, row) + "\n")
                if changed and state in ("done", "failed"):
                    self.stream.write(self._bar() + "\n")
                self.stream.flush()
                row["printed"] = now

    def _line(self, label: str, row: dict) -> str:
        state = row["state"]
        parts = [label]
        if state == "running" and row["since"] is not None:
            parts.append(f"{(time.monotonic() - row['since']) / 60:.1f} min")
        if row["detail"]:
            parts.append(row["detail"])
        return f"  {state:8s} " + " · ".join(parts)

    def counts(self) -> dict[str, int]:
        out = {"queued": 0, "running": 0, "done": 0, "failed": 0}
        for row in self.rows.values():
            out[row["state"]] = out.get(row["state"], 0) + 1
        return out

    def _bar(self, width: int = 30) -> str:
        c, n = self.counts(), len(self.rows)
        ended = c["done"] + c["failed"]
        filled = int(round(width * ended / n)) if n else width
        return (f"sweep [{'#' * filled}{'-' * (width - filled)}] {ended}/{n} runs · {c['running']} running · "
                f"{c['failed']} failed · {(time.monotonic() - self.start) / 60:.1f} min")

    def render(self) -> None:
        """Redraw the block (terminal only; a log gets its lines from `update`)."""
        if not self.tty:
            return
        with self._lock:
            try:
                width = max(40, os.get_terminal_size(self.stream.fileno()).columns - 1)
            except OSError:
                width = 120
            lines = [self._line(label, row)[:width] for label, row in self.rows.items()] + [self._bar()[:width]]
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self.stream.write(up + "".join(line + "\x1b[K\n" for line in lines))
            self.stream.flush()
            self._drawn = len(lines)


# --- the sweep --------------------------------------------------------------------------------------

def rerun_command(jobs: list[Job]) -> str:
    chapters = " ".join(dict.fromkeys(job.chapter for job in jobs))
    return f"python -m probgen.run --profile {jobs[0].profile} {chapters} --retry-failed"


def run_sweep(jobs: list[Job], *, workers: int | None = None, threads: int | None = None,
              scheduler: str | None = None, stream=None) -> list[dict]:
    """Run `jobs` on a Dask cluster (a local one unless `scheduler` is an address); return their records.

    Every job's folder gets a record before anything runs (`queued`), so a sweep cut short leaves each
    unfinished run findable by `--retry-failed`.
    """
    import dask
    from distributed import Client, LocalCluster

    stream = stream or sys.stdout
    run_id = f"sweep-{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    rerun = rerun_command(jobs)
    for job in jobs:
        runs.write_record(job.folder, {"chapter": job.chapter, "profile": job.profile, "parameters": job.parameters,
                                       "status": "queued", "sweep": run_id, "cell": None, "error": None})
    if scheduler:
        try:
            client, cluster = Client(scheduler, timeout=30), None
        except OSError as exc:
            raise SystemExit(f"error: cannot reach a Dask scheduler at {scheduler} ({exc}). Start the cluster first "
                             "(README: Sweeps, on a cluster), or leave out --scheduler for a local one. The runs' "
                             "folders say 'queued'; --retry-failed picks them up.") from None
        n_workers = len(client.scheduler_info().get("workers", {}))
        gpus = 0
        where = f"the Dask cluster at {scheduler} ({n_workers} workers)"
    else:
        n_workers, threads, gpus = machine(len(jobs), workers=workers, threads=threads)
        # a killed run is reported, not silently restarted on another worker
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   memory_limit=0, silence_logs=logging.ERROR)
            client = Client(cluster)
        where = (f"a local Dask cluster: {n_workers} worker(s) × {threads} torch thread(s)"
                 + (f", one GPU each of {gpus}" if gpus else f" on {os.cpu_count()} cores"))
    stream.write(f"{run_id}: {len(jobs)} run(s) on {where}\n")
    stream.flush()
    display = Display(jobs, stream=stream)
    records: dict[str, dict] = {}
    try:
        client.subscribe_topic(TOPIC, display.event)
        futures = {client.submit(run_one, asdict(job), threads=threads, gpus=gpus, run_id=run_id, rerun=rerun,
                                 key=f"probgen-{i}-{run_id}", pure=False): job for i, job in enumerate(jobs)}
        pending = set(futures)
        while pending:
            time.sleep(0.5)
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                job = futures[future]
                records[job.label] = _outcome(future, job, run_id)
                display.update(job.label, records[job.label]["status"], records[job.label].get("error") or "")
            display.render()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    display.render()
    return [records[job.label] for job in jobs]


def _outcome(future, job: Job, run_id: str) -> dict:
    """A finished future's record; a run whose worker died (killed, out of memory) is recorded as failed here."""
    if future.status == "finished":
        return future.result()
    exc = future.exception()
    error = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "KilledWorker":
        error = f"its worker died (killed, or out of memory): {exc}"
    record = {**(runs.read_record(job.folder) or {}), "chapter": job.chapter, "profile": job.profile,
              "parameters": job.parameters, "status": "failed", "sweep": run_id, "error": error,
              "finished_utc": _utcnow()}
    record.setdefault("cell", None)
    runs.write_record(job.folder, record)
    return record


def summary(jobs: list[Job], records: list[dict], seconds: float) -> str:
    """The table printed after a sweep: each run, its status, wall time and folder; then what failed and why."""
    lines = [f"\n{'run':40s} {'status':8s} {'seconds':>8s}  folder"]
    for job, rec in zip(jobs, records):
        wall = rec.get("wall_time_s")
        lines.append(f"{job.label:40s} {rec['status']:8s} {'' if wall is None else f'{wall:8.1f}':>8s}  {job.folder}")
    failed = [(job, rec) for job, rec in zip(jobs, records) if rec["status"] != "done"]
    lines.append(f"\n{len(jobs) - len(failed)} of {len(jobs)} run(s) done in {seconds:.1f} s.")
    if failed:
        lines.append(f"{len(failed)} failed:")
        for job, rec in failed:
            cell = "" if rec.get("cell") is None else f" in cell {rec['cell']}"
            lines.append(f"  {job.label}: failed{cell} with {rec.get('error')}"
                         f" (the run so far: {job.folder / (job.chapter + '.failed.ipynb')})")
        lines.append(f"Rerun only those with: {rerun_command(jobs)}")
    for chapter in dict.fromkeys(job.chapter for job in jobs):
        lines.append(f"Gather the runs: python -m probgen.run aggregate {chapter} --profile {jobs[0].profile}")
    return "\n".join(lines)


def main_sweep(nbs: list[Path], profile: str, *, sweep: list[str], retry_failed: bool, workers: int | None,
               threads: int | None, scheduler: str | None) -> int:
    """`python -m probgen.run ... --sweep ... | --retry-failed`: plan, run and summarise; 1 if any run failed."""
    if sweep:
        jobs = plan(nbs, profile, parse_sweeps(sweep))
        if retry_failed:
            jobs = unfinished(jobs)
    else:
        jobs = failed_jobs(nbs, profile)
    if not jobs:
        print("nothing to run: every run of this sweep has finished" if retry_failed else "nothing to run")
        return 0
    start = time.perf_counter()
    try:
        records = run_sweep(jobs, workers=workers, threads=threads, scheduler=scheduler)
    except KeyboardInterrupt:
        left = unfinished(jobs)
        print(f"\ninterrupted: {len(left)} of {len(jobs)} run(s) did not finish (their folders say so); "
              f"finished runs are kept. Rerun the others with: {rerun_command(jobs)}")
        return 130
    print(summary(jobs, records, time.perf_counter() - start))
    return int(any(rec["status"] != "done" for rec in records))


def main_aggregate(argv: list[str]) -> int:
    """`python -m probgen.run aggregate CHAPTER... --profile P`: print each chapter's sweep table, write it as CSV."""
    import argparse

    import pandas as pd

    from .run import discover

    parser = argparse.ArgumentParser(prog="python -m probgen.run aggregate",
                                     description="Gather the headline numbers of a chapter's runs (a sweep) into one "
                                                 "table: mean, std, min, max and n, grouped by the swept parameters "
                                                 "other than the seed.")
    parser.add_argument("chapters", nargs="+", help="chapter names or prefixes")
    parser.add_argument("--profile", default="smoke", help="the profile the runs were made at (default smoke)")
    args = parser.parse_args(argv)
    try:
        runtime.check_profile(args.profile)
    except runtime.ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        for nb in discover(args.chapters):
            try:
                table = runs.aggregate(nb.stem, args.profile)
            except FileNotFoundError as exc:
                raise SystemExit(f"error: {exc}") from None
            n_runs = len(runs.completed(args.profile, nb.stem))
            out = paths.runs_dir(args.profile, nb.stem) / "aggregate.csv"
            table.to_csv(out, index=False)
            print(f"{nb.stem} at {args.profile}: {n_runs} completed run(s) (written to {out})")
            print(table.drop(columns="name").to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            print()
    return 0
