"""Execute the book's notebooks with papermill into `executed/`.

    python -m probgen.run --profile quick                 # every notebook
    python -m probgen.run --profile smoke 09_trueskill    # chosen ones (name or prefix)
    python -m probgen.run -p seed=1 --profile quick 01    # extra parameters, checked before anything runs
    python -m probgen.run --list                          # what there is, and its parameters
    python -m probgen.run --check                         # may the book be built from executed/?
    python -m probgen.run --profile quick 09 --sweep seed=0,1,2   # a sweep, into runs/ (see probgen.sweep)
    python -m probgen.run aggregate 09 --profile quick            # the sweep's table

The executed copies are what Jupyter Book renders, so a copy there is always a
complete, successful run:

- a notebook runs into a temporary file beside its executed copy and replaces
  it only when every cell has run; a failed or interrupted run leaves the last
  good copy in place and is kept as `executed/<name>.failed.ipynb` (never
  rendered), which the error names;
- each executed copy records how it was made (`metadata.probgen`: profile,
  parameters, run id, commit, times), and its parameters cell shows the values
  actually used (papermill's injected cell is folded into it);
- the results page runs again after any chapter, so it never shows an older run.

While a notebook runs, the terminal shows the running cell's heading and the
progress bar of whatever trains or samples in it (the bars go to a status
file, never into the notebook).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from . import paths, runtime

RESULTS_PAGE = "99_results"  # reads every other notebook's results file, so it runs last
FAILED_SUFFIX = ".failed.ipynb"
ENGINE = "probgen"


class RunError(SystemExit):
    """A notebook run or check failed; the message says which notebook, why, and what to run.

    `cell` (the failed cell's index, or None) and `error` ("ValueError: ...") say it again for a summary.
    """

    def __init__(self, message: str, *, cell: int | None = None, error: str = ""):
        super().__init__(f"error: {message}")
        self.cell, self.error = cell, error or message


def discover(names: list[str] | None = None) -> list[Path]:
    """Notebooks in `notebooks/` in book order, optionally only those matching `names` (name or prefix)."""
    all_nbs = sorted(p for p in paths.notebooks_dir().glob("*.ipynb") if not p.name.startswith("."))
    all_nbs.sort(key=lambda p: (p.stem == RESULTS_PAGE, p.stem))
    if not names:
        return all_nbs
    chosen = []
    for name in names:
        stem = Path(name).stem
        hits = [p for p in all_nbs if p.stem == stem or p.stem.startswith(stem)]
        if not hits:
            raise SystemExit(
                f"error: no notebook matches {name!r}; available: {', '.join(p.stem for p in all_nbs)}"
            )
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen, key=lambda p: (p.stem == RESULTS_PAGE, p.stem))


def notebook_parameters(nb: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(nb))


def parse_params(items: list[str]) -> dict:
    """`key=value` pairs; values are read as Python literals where possible, else strings."""
    import ast

    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"error: parameter {item!r} must look like key=value")
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def plan(nbs: list[Path], profile: str, extra: dict) -> list[tuple[Path, dict]]:
    """Each notebook with the parameters it will get, every key checked before anything runs.

    The profile is set by `--profile` only. Extra parameters go to every chosen
    chapter, each of which must declare them; the results page takes only the profile.
    """
    if "profile" in extra:
        raise SystemExit(f"error: set the profile with --profile {extra['profile']}, not -p profile=...; "
                         "the runner's banner, the executed copies and the results files all follow --profile")
    problems, out = [], []
    for nb in nbs:
        declared = notebook_parameters(nb)
        given = {} if nb.stem == RESULTS_PAGE else extra
        unknown = sorted(set(given) - set(declared))
        if unknown:
            problems.append(f"{nb.name} has no parameter(s) {', '.join(unknown)}; it takes: {', '.join(declared)}")
        out.append((nb, {"profile": profile, **given}))
    if problems:
        raise SystemExit("error: " + "\n       ".join(problems) + "\nnothing was run.")
    return out


# --- the parameters cell, once -------------------------------------------------------------------

def _literal(value) -> str:
    from papermill.translators import PythonTranslator

    return PythonTranslator.translate(value)


def fold_parameters(nb, params: dict) -> None:
    """Show the parameters once, with the values used: write them into the `parameters` cell, drop papermill's.

    `name = default   # comment` lines keep their comment (and its column where it fits).
    """
    cells = nb.cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", [])]
    if not tagged:
        return
    cell = cells[tagged[0]]
    pattern = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?P<eq>\s*=\s*)(?P<value>.*?)(?P<pad>\s*)(?P<comment>#.*)?$")
    lines = []
    for line in cell.source.splitlines():
        m = pattern.match(line)
        if m and m["name"] in params:
            head = f"{m['name']}{m['eq']}{_literal(params[m['name']])}"
            if m["comment"]:
                column = len(line) - len(m["comment"])
                head = head.ljust(column - 1) + " " + m["comment"] if len(head) < column else head + "  " + m["comment"]
            line = head
        lines.append(line)
    cell.source = "\n".join(lines)
    cell.metadata.setdefault("probgen", {})["parameters_used"] = True
    for i in reversed(injected):
        del cells[i]


# --- progress in the terminal ----------------------------------------------------------------------

def _heading(nb, index: int) -> str:
    """The nearest markdown heading at or before cell `index` (the section the running cell belongs to)."""
    for cell in reversed(nb.cells[: index + 1]):
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            if headings:
                return headings[-1]
    return ""


class StatusLine:
    """What the terminal shows while a notebook runs: notebook, cell, section and the inner progress bar.

    On a terminal the line is redrawn in place every second; in a log (CI) a
    new line is printed when the cell changes or every `log_every` seconds.
    """

    def __init__(self, label: str, status_file: Path, *, stream=None, log_every: float = 30.0, sink=None):
        """`sink`: instead of a stream, a function given the line when it changes (at most every 2 s, at once
        when the cell changes); the sweep runner sends it from a worker to the terminal of the sweep."""
        self.label, self.status_file = label, status_file
        self.stream = stream or sys.stdout
        self.sink = sink
        self.tty = sink is None and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_every = log_every
        self.cell = ""
        self._last, self._last_time = "", 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the cell callback (main thread) and the redraw thread both write
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start = time.monotonic()

    def on_cell(self, index: int, nb) -> None:
        if nb.cells[index].cell_type != "code":
            return
        n_code = sum(c.cell_type == "code" for c in nb.cells)
        k = sum(c.cell_type == "code" for c in nb.cells[: index + 1])
        heading = _heading(nb, index)
        self.cell = f"cell {k}/{n_code}" + (f" · {heading}" if heading else "")
        self.show(force=not self.tty)

    def inner(self) -> str:
        try:
            return self.status_file.read_text().strip()
        except OSError:
            return ""

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        parts = [self.label, f"{elapsed / 60:.1f} min", self.cell, self.inner()]
        return " · ".join(p for p in parts if p)

    def show(self, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if self.sink is not None:  # the sweep's display adds the run's label and time itself
                text = " · ".join(p for p in (self.cell, self.inner()) if p)
                if text != self._last and (force or now - self._last_time >= 2.0):
                    self.sink(text)
                    self._last, self._last_time = text, now
                return
            text = self.line()
            if self.tty:
                width = max(40, os.get_terminal_size(self.stream.fileno()).columns - 1)
                self.stream.write("\r" + text[:width].ljust(width))
            elif force or now - self._last_time >= self.log_every:
                self.stream.write("      " + text + "\n")
            else:
                return
            self.stream.flush()
            self._last, self._last_time = text, now

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.show()
            except (OSError, ValueError):  # the terminal went away: keep running the notebook
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.tty:
            self.stream.write("\r" + " " * len(self._last[:200]) + "\r")
            self.stream.flush()


def _register_engine() -> None:
    """A papermill engine that tells the runner which cell starts, and runs kernels over IPC."""
    from jupyter_client.manager import AsyncKernelManager
    from papermill.engines import NBClientEngine, papermill_engines
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        """Kernel sockets as local files: no TCP ports, no "running over TCP without encryption" warning."""

        @default("transport")
        def _transport_default(self):
            return "ipc"

        @default("ip")
        def _ip_default(self):
            # jupyter_client's default, "kernel-ipc" in the working directory, is shared by kernels started at
            # once from several processes (a sweep's workers): their messages then cross. One path per kernel.
            return os.path.join(tempfile.gettempdir(), f"probgen-kernel-{uuid.uuid4().hex[:12]}")

    class Engine(NBClientEngine):
        on_cell = None  # set by `execute` for the notebook being run

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            start = nb_man.cell_start

            def cell_start(cell, cell_index=None, **kw):
                if cls.on_cell is not None:
                    cls.on_cell(cell_index, nb_man.nb)
                return start(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
            kwargs.setdefault("kernel_manager_class", IPCKernelManager)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, Engine)
    _register_engine.engine = Engine


def _utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def execute(nb: Path, params: dict, *, run_id: str, label: str = "", kernel: str = "python3",
            out_dir: Path | None = None, env: dict | None = None, rerun: str | None = None, sink=None) -> float:
    """Run one notebook into `executed/` (or `out_dir`); return its wall time.

    The run writes a temporary file that replaces `<out_dir>/<name>` only on
    success. On failure (an exception in a cell, or Ctrl-C) the good copy stays,
    the run is kept as `<out_dir>/<name>.failed.ipynb`, and `RunError` names the
    notebook, the cell, the error and the command that reruns it (`rerun`).

    `env`: environment variables for the kernel (the sweep runner's run folder and thread counts), set for
    this run only. `sink`: where the progress line goes instead of the terminal (see `StatusLine`).
    """
    import nbformat
    import papermill as pm

    from .atomic import atomic_write_text

    if not hasattr(_register_engine, "engine"):
        _register_engine()
    out_dir = paths.executed_dir() if out_dir is None else paths.ensure_folder(Path(out_dir), "PROBGEN_RUNS")
    final = out_dir / nb.name
    failed = out_dir / (nb.stem + FAILED_SUFFIX)
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{nb.stem}.", suffix=".running.ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    status_fd, status_name = tempfile.mkstemp(prefix=f"probgen-status-{nb.stem}-", suffix=".txt")
    os.close(status_fd)
    status_file = Path(status_name)
    kernel_env = {**(env or {}), runtime.STATUS_ENV: str(status_file), runtime.RUN_ID_ENV: run_id}
    env_before = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)
    started = _utcnow()
    start = time.perf_counter()
    rerun = rerun or f"make notebooks PROFILE={params['profile']} NOTEBOOKS={nb.stem}"
    try:
        with StatusLine(label or nb.stem, status_file, sink=sink) as status:
            _register_engine.engine.on_cell = status.on_cell
            pm.execute_notebook(
                str(nb), str(tmp), parameters=params, kernel_name=kernel, progress_bar=False,
                cwd=str(nb.parent), log_output=False, request_save_on_cell_execute=True, engine_name=ENGINE,
            )
    except (pm.PapermillExecutionError, KeyboardInterrupt, Exception) as exc:
        kept = _keep_failed(tmp, failed)
        where = f"the run so far, with the traceback, is {failed}" if kept else "nothing was written"
        cell = None
        if isinstance(exc, pm.PapermillExecutionError):
            cell, error = exc.cell_index, f"{exc.ename}: {exc.evalue}"
            what = f"notebook {nb} failed in cell {cell} (execution count {exc.exec_count}) with {error}"
        elif isinstance(exc, KeyboardInterrupt):
            error = "interrupted"
            what = f"notebook {nb} was interrupted"
        else:
            error = f"{type(exc).__name__}: {exc}"
            what = f"notebook {nb} could not be run ({error})"
        good = f"the last good copy {final} is unchanged" if final.exists() else f"there is no good copy in {out_dir}"
        raise RunError(f"{what}.\n       {where}; {good}.\n       Rerun it with: {rerun}",
                       cell=cell, error=error) from None
    finally:
        _register_engine.engine.on_cell = None
        status_file.unlink(missing_ok=True)
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    out = nbformat.read(tmp, as_version=4)
    fold_parameters(out, params)
    out.metadata["probgen"] = {
        "profile": params["profile"], "parameters": params, "run_id": run_id, "git_commit": runtime.git_commit(),
        "started_utc": started, "finished_utc": _utcnow(), "wall_time_s": round(seconds, 1),
    }
    atomic_write_text(final, nbformat.writes(out))
    tmp.unlink(missing_ok=True)
    failed.unlink(missing_ok=True)  # an older failure is superseded by this good run
    return seconds


def _keep_failed(tmp: Path, failed: Path) -> bool:
    """Move a failed run's notebook to `failed` (readable like any output); False if there is none."""
    from .atomic import atomic_write_bytes

    try:
        if tmp.exists() and tmp.stat().st_size > 0:
            atomic_write_bytes(failed, tmp.read_bytes())
            return True
        return False
    finally:
        tmp.unlink(missing_ok=True)


# --- may the book be built? --------------------------------------------------------------------------

def toc_chapters() -> list[str]:
    """The `executed/...` entries of `_toc.yml`, in book order (without the extension)."""
    text = (paths.repo_root() / "_toc.yml").read_text()
    return re.findall(r"^\s*-?\s*file:\s*executed/([^\s#]+?)(?:\.ipynb)?\s*(?:#.*)?$", text, flags=re.M)


def run_record(name: str) -> dict | None:
    """The run record (`metadata.probgen`) of `executed/<name>.ipynb`, or None if it has none or is missing."""
    import nbformat

    path = paths.executed_dir() / f"{name}.ipynb"
    return nbformat.read(path, as_version=4).metadata.get("probgen") if path.is_file() else None


def check_executed(names: list[str] | None = None) -> list[str]:
    """Problems that forbid building the book from `executed/`: one message per notebook, with its rerun command.

    Refused: a missing copy, a copy not made by this runner, a copy whose
    papermill metadata records an exception or a cell that did not complete, a
    copy with an error output, and a results page older than a chapter it reports.
    """
    import nbformat

    names = toc_chapters() if names is None else names
    problems, finished = [], {}
    for name in names:
        path = paths.executed_dir() / f"{name}.ipynb"
        if not path.is_file():
            problems.append(f"{path} is missing; run it: make notebooks PROFILE=<profile> NOTEBOOKS={name}")
            continue
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get("probgen")
        profile = (meta or {}).get("profile", "<profile>")
        rerun = f"make notebooks PROFILE={profile} NOTEBOOKS={name}"
        if meta is None:
            problems.append(f"{path} was not executed by `python -m probgen.run` (no run record); rerun it: {rerun}")
            continue
        pm_meta = nb.metadata.get("papermill", {})
        bad_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (
            c.metadata.get("papermill", {}).get("status") != "completed"
            or c.metadata.get("papermill", {}).get("exception")
            or any(o.get("output_type") == "error" for o in c.get("outputs", [])))]
        if pm_meta.get("exception") or bad_cells:
            where = f" (cells {', '.join(map(str, bad_cells[:5]))})" if bad_cells else ""
            problems.append(f"{path} records a failed or unfinished run{where}; rerun it: {rerun}")
            continue
        finished[name] = meta
    page = finished.get(RESULTS_PAGE)
    if page is not None:
        newer = [n for n, m in finished.items() if n != RESULTS_PAGE and m["finished_utc"] > page["started_utc"]]
        if newer:
            problems.append(f"the results page was executed before {', '.join(newer)} finished, so it shows older "
                            f"numbers; rerun it: make notebooks PROFILE={page['profile']} NOTEBOOKS={RESULTS_PAGE}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebook names or prefixes (default: all)")
    parser.add_argument("--profile", default="smoke",
                        help="smoke | quick | full (default smoke). " + "; ".join(
                            f"{k}: {v}" for k, v in runtime.PROFILE_HELP.items()))
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="extra notebook parameter (repeatable), e.g. -p seed=1")
    parser.add_argument("--list", action="store_true", help="list notebooks and their parameters, then exit")
    parser.add_argument("--check", action="store_true",
                        help="check that every chapter of _toc.yml has a complete, successful executed copy")
    sweeps = parser.add_argument_group("sweeps (each run into runs/<profile>/<chapter>/<parameters>/; the book's "
                                       "executed/, results/ and figures/ are left alone)")
    sweeps.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="sweep a parameter (repeatable: every combination runs), e.g. --sweep seed=0,1,2")
    sweeps.add_argument("--retry-failed", action="store_true",
                        help="rerun only the runs of these chapters (of this --sweep, if given) that did not finish")
    sweeps.add_argument("--workers", type=int, help="local cluster: runs at once (default: cores, or GPUs)")
    sweeps.add_argument("--threads", type=int, help="local cluster: torch threads per run (default: cores / workers)")
    sweeps.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the sweep on an existing Dask cluster, e.g. tcp://10.0.0.1:8786")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["aggregate"]:
        from .sweep import main_aggregate

        return main_aggregate(argv[1:])
    args = parser.parse_args(argv)

    if args.check:
        problems = check_executed()
        if problems:
            raise SystemExit("error: the book cannot be built from executed/:\n  " + "\n  ".join(problems))
        profiles: dict[str, list[str]] = {}
        for name in toc_chapters():
            profiles.setdefault(run_record(name)["profile"], []).append(name)
        print(f"executed/: {len(toc_chapters())} notebooks, all complete; profile "
              + "; ".join(f"{p} ({len(n)})" if len(profiles) == 1 else f"{p}: {', '.join(n)}"
                          for p, n in profiles.items()))
        if len(profiles) > 1:
            print("note: the book mixes profiles; its results page says which chapter comes from which")
        return 0
    nbs = discover(args.notebooks)
    if args.list:
        for nb in nbs:
            params = notebook_parameters(nb)
            print(nb.stem)
            for name, p in params.items():
                print(f"    {name} = {p['default']}    {p.get('help', '')}")
        return 0
    try:
        runtime.check_profile(args.profile)
    except runtime.ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.sweep or args.retry_failed:
        from .sweep import main_sweep

        if args.param:
            raise SystemExit("error: with --sweep, give fixed values as one-value sweeps (--sweep key=value), not -p")
        return main_sweep(nbs, args.profile, sweep=args.sweep,
                          retry_failed=args.retry_failed, workers=args.workers, threads=args.threads,
                          scheduler=args.scheduler)
    extra = parse_params(args.param)
    from .runs import place

    # A chapter run with non-default parameters is not the book's: it writes into its own run folder
    # (executed copy, results and figures), and the results page, which shows the book's run, is not rerun.
    folders = {nb.stem: place(nb.stem, args.profile, extra) for nb in nbs if nb.stem != RESULTS_PAGE}
    book_chapters = [stem for stem, folder in folders.items() if folder is None]
    if book_chapters and all(nb.stem != RESULTS_PAGE for nb in nbs):
        nbs += [nb for nb in discover() if nb.stem == RESULTS_PAGE]  # the results page follows every chapter run
    jobs = plan(nbs, args.profile, extra)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_id = f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    print(f"run {run_id}: {len(jobs)} notebook(s), profile={args.profile}", flush=True)
    timings = []
    before = signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` keeps the failed run, as Ctrl-C does
    try:
        for i, (nb, params) in enumerate(jobs, 1):
            label = f"[{i}/{len(jobs)}] {nb.stem}"
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if k != "profile")
            print(f"{label} (profile={args.profile}{', ' + shown if shown else ''})", flush=True)
            folder = folders.get(nb.stem)
            seconds = execute(nb, params, run_id=run_id, label=label, out_dir=folder)
            timings.append((nb.stem, seconds))
            where = f"executed/{nb.name}" if folder is None else f"{folder / nb.name} (not the book's run)"
            print(f"      done in {seconds:.1f} s -> {where}", flush=True)
    finally:
        signal.signal(signal.SIGTERM, before)
    print("\nnotebook                          seconds")
    for stem, seconds in timings:
        print(f"{stem:32s} {seconds:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
