"""Execute the book's notebooks with papermill into `executed/`.

    python -m probgen.run --profile quick                 # every notebook
    python -m probgen.run --profile smoke 09_trueskill    # chosen ones (name or prefix)
    python -m probgen.run --list                          # what there is, and its parameters

The executed copies are what Jupyter Book renders. On failure the runner names
the notebook, the cell and the error, and keeps the partly executed copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import paths, runtime

RESULTS_PAGE = "99_results"  # reads every other notebook's results file, so it runs last


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


def execute(nb: Path, profile: str, extra: dict, *, kernel: str = "python3") -> float:
    """Run one notebook; return its wall time. Raises SystemExit with a clear message on failure."""
    import papermill as pm

    declared = notebook_parameters(nb)
    unknown = sorted(set(extra) - set(declared))
    if unknown:
        raise SystemExit(
            f"error: {nb.name} has no parameter(s) {', '.join(unknown)}; it takes: {', '.join(declared)}"
        )
    out = paths.executed_dir() / nb.name
    params = {"profile": profile, **extra}
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(nb), str(out), parameters=params, kernel_name=kernel, progress_bar=True,
            cwd=str(nb.parent), log_output=False, request_save_on_cell_execute=True,
        )
    except pm.PapermillExecutionError as exc:
        raise SystemExit(
            f"\nerror: notebook {nb} failed in cell {exc.cell_index} "
            f"(execution count {exc.exec_count}) with {exc.ename}: {exc.evalue}\n"
            f"The partly executed notebook, with the traceback, is {out}"
        ) from None
    return time.perf_counter() - start


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
    args = parser.parse_args(argv)

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
    extra = parse_params(args.param)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    timings = []
    for i, nb in enumerate(nbs, 1):
        print(f"[{i}/{len(nbs)}] {nb.stem} (profile={args.profile})", flush=True)
        seconds = execute(nb, args.profile, extra)
        timings.append((nb.stem, seconds))
        print(f"      done in {seconds:.1f} s -> executed/{nb.name}", flush=True)
    print("\nnotebook                          seconds")
    for stem, seconds in timings:
        print(f"{stem:32s} {seconds:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
