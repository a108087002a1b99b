"""Runs that are not the book's own: where they write, and the table that gathers a sweep.

The book's run of a chapter (its notebook's default parameters, at any profile)
writes `executed/<chapter>.ipynb`, `results/<profile>/<chapter>.json` and
`figures/<chapter>/`. Any other run writes into a folder of its own,

    runs/<profile>/<chapter>/<slug>/      e.g. runs/quick/09_trueskill/seed=1/
        <chapter>.ipynb                   the executed notebook (written by the sweep runner)
        <chapter>.json                    its results, with manifest and parameters
        figures/<chapter>/*.png           its figures
        run.json                          the sweep runner's record: status, failed cell and error, times

so a sweep, or a plain `papermill ... -p seed 1`, never replaces the book's
numbers. Where a notebook writes is decided in the notebook, by its parameters
(`reporting.Results(..., parameters={...})` calls `place`): non-default values
send it to its run folder; the sweep runner sends every run of a sweep there,
defaults included, through `$PROBGEN_RUN_DIR`.

`aggregate` gathers the headline numbers of a chapter's runs into one table
(mean, std, min, max and the number of runs per quantity, grouped by the swept
parameters other than the seed); `estimates` gives the same as `Estimate`s
(mean ± std/√n) for the verdict helpers of `probgen.reporting`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

from . import paths, runtime

RUN_DIR_ENV = "PROBGEN_RUN_DIR"  # set by the sweep runner: the folder this notebook run writes into
RECORD = "run.json"  # the sweep runner's record in each run folder
REPLICATE_KEYS = ("seed",)  # parameters whose values are replicates, not groups, in `aggregate`


def notebook_defaults(chapter: str) -> dict[str, Any] | None:
    """The default parameters of `notebooks/<chapter>.ipynb` (its `parameters` cell), without the profile.

    None when the notebook is not there (the package is used outside its repository).
    """
    path = paths.notebooks_dir() / f"{chapter}.ipynb"
    if not path.is_file():
        return None
    cells = json.loads(path.read_text())["cells"]
    source = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    out.pop("profile", None)
    return out


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)  # exact: 0.1 and 0.1000001 are two runs
    return str(value)


def slug(parameters: Mapping[str, Any]) -> str:
    """A folder name for a run's parameters: `key=value` pairs in key order, joined by commas.

    Characters that a folder name should not hold become `-`; `seed=1` stays `seed=1`.
    """
    if not parameters:
        raise ValueError("a run folder needs at least one parameter to be named by")
    text = ",".join(f"{k}={_text(parameters[k])}" for k in sorted(parameters))
    return re.sub(r"[^A-Za-z0-9._=,+-]", "-", text)


def run_folder(profile: str, chapter: str, parameters: Mapping[str, Any]) -> Path:
    """`runs/<profile>/<chapter>/<slug of parameters>/`."""
    return paths.runs_dir(runtime.check_profile(profile), chapter, slug(parameters))


def non_default(chapter: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters whose values differ from the notebook's defaults (all of them if the defaults are unknown)."""
    defaults = notebook_defaults(chapter)
    if defaults is None:
        return dict(parameters)
    return {k: v for k, v in parameters.items() if k not in defaults or defaults[k] != v}


def place(chapter: str, profile: str, parameters: Mapping[str, Any]) -> Path | None:
    """Where a run of `chapter` with `parameters` writes: None for the book's own folders, else its run folder.

    `$PROBGEN_RUN_DIR` (set by the sweep runner) wins; otherwise a run whose parameters all equal the
    notebook's defaults is the book's, and any other goes to `runs/<profile>/<chapter>/<slug>/`, named by
    the parameters that differ from the defaults.
    """
    import os

    env = os.environ.get(RUN_DIR_ENV)
    if env:
        return Path(env)
    changed = non_default(chapter, {k: v for k, v in parameters.items() if k != "profile"})
    return run_folder(profile, chapter, changed) if changed else None


# --- the runner's record of each run ---------------------------------------------------------------

def read_record(folder: Path) -> dict | None:
    """The `run.json` of a run folder, or None if there is none (or it cannot be read)."""
    try:
        return json.loads((Path(folder) / RECORD).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_record(folder: Path, record: dict) -> None:
    from .atomic import atomic_write_text

    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(folder) / RECORD, runtime.dumps(record))


def chapter_folders(profile: str, chapter: str) -> list[Path]:
    """Every run folder of `chapter` at `profile` (those with a results file or a record), sorted by name."""
    base = paths.runs_dir(runtime.check_profile(profile), chapter)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir()
                  if p.is_dir() and ((p / RECORD).is_file() or (p / f"{chapter}.json").is_file()))


def completed(profile: str, chapter: str) -> list[dict]:
    """The results payloads of `chapter`'s completed runs at `profile` (each with its `folder`).

    A run counts when its results file exists and its record (if the sweep runner wrote one) says `done`:
    the results file of a run that failed later in the notebook is left out.
    """
    out = []
    for folder in chapter_folders(profile, chapter):
        record = read_record(folder)
        path = folder / f"{chapter}.json"
        if not path.is_file() or (record is not None and record.get("status") != "done"):
            continue
        payload = json.loads(path.read_text())
        payload["folder"] = str(folder)
        out.append(payload)
    return out


# --- gathering a sweep ----------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _groups(payloads: list[dict], replicate: tuple[str, ...]) -> tuple[list[str], dict[tuple, list[dict]]]:
    keys = sorted({k for p in payloads for k in p.get("parameters", {}) if k != "profile" and k not in replicate})
    groups: dict[tuple, list[dict]] = {}
    for p in payloads:
        params = p.get("parameters", {})
        groups.setdefault(tuple(params.get(k) for k in keys), []).append(p)
    return keys, groups


def aggregate(chapter: str, profile: str, *, replicate: tuple[str, ...] = REPLICATE_KEYS, payloads=None):
    """One row per (group of swept parameters, headline quantity) over `chapter`'s completed runs.

    Columns: the swept parameters other than `replicate` (seeds are replicates), name, quantity, mean, std
    (over runs, ddof = 1; NaN for a single run), min, max and n (the runs with a finite value).
    Raises FileNotFoundError, saying what to run, when the chapter has no completed run at `profile`.
    """
    import numpy as np
    import pandas as pd

    payloads = completed(profile, chapter) if payloads is None else payloads
    if not payloads:
        raise FileNotFoundError(
            f"no completed run of {chapter} at the {profile} profile under {paths.runs_dir(profile, chapter)}; "
            f"run a sweep first, e.g. python -m probgen.run --profile {profile} {chapter} --sweep seed=0,1,2")
    keys, groups = _groups(payloads, replicate)
    rows = []
    def order(kv):  # numbers in numeric order (2 before 10), then anything else by its text
        return tuple((0, v, "") if _number(v) is not None else (1, 0, str(v)) for v in kv[0])

    for group, members in sorted(groups.items(), key=order):
        names: dict[str, str] = {}
        for p in members:
            for name, h in p.get("headlines", {}).items():
                names.setdefault(name, h.get("label", name))
        for name, label in names.items():
            values = [v for p in members
                      if (v := _number(p.get("headlines", {}).get(name, {}).get("value"))) is not None]
            if not values:
                continue
            x = np.asarray(values)
            rows.append({**dict(zip(keys, group)), "name": name, "quantity": label, "mean": float(x.mean()),
                         "std": float(x.std(ddof=1)) if x.size > 1 else math.nan,
                         "min": float(x.min()), "max": float(x.max()), "n": int(x.size)})
    return pd.DataFrame(rows, columns=[*keys, "name", "quantity", "mean", "std", "min", "max", "n"])


def estimates(chapter: str, profile: str, *, replicate: tuple[str, ...] = REPLICATE_KEYS, payloads=None) -> dict:
    """`{group: {name: Estimate}}`: each quantity's mean over a sweep's runs with its standard error std/√n.

    `group` is a tuple of the swept parameters other than the seed (`()` for a seed sweep). Quantities with
    fewer than two runs are left out (a spread needs two). Feed them to `reporting.compare` and friends.
    """
    from .stats import Estimate

    table = aggregate(chapter, profile, replicate=replicate, payloads=payloads)
    keys = [c for c in table.columns if c not in ("name", "quantity", "mean", "std", "min", "max", "n")]
    out: dict[tuple, dict] = {}
    for row in table.itertuples(index=False):
        row = row._asdict()
        if row["n"] < 2:
            continue
        out.setdefault(tuple(row[k] for k in keys), {})[row["name"]] = Estimate(
            row["mean"], row["std"] / math.sqrt(row["n"]))
    return out


def swept_chapters(profile: str) -> list[str]:
    """The chapters with at least one completed run under `runs/<profile>/`, sorted."""
    base = paths.runs_dir(runtime.check_profile(profile))
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and completed(profile, p.name))


def sweep_table(profile: str, book_runs: list[dict] | None = None, *, z: float = 1.96):
    """The results page's table of every chapter's sweep at `profile`, or None when there is none.

    One row per chapter, group of swept parameters (other than the seed) and headline quantity: the mean
    over the runs with its 95 % interval (z·std/√n), the std, the range and n. With `book_runs` (from
    `reporting.chapter_runs`) two columns more: this build's value and where it lies against the runs'
    spread, computed by `reporting.compare` with the spread of one run (std·√(1 + 1/n)) as its uncertainty:
    "within the spread", "above" or "below".
    """
    import pandas as pd

    from .reporting import compare
    from .stats import Estimate

    book = {r["chapter"]: (r["payload"] or {}).get("headlines", {}) for r in (book_runs or [])}
    rows = []
    for chapter in swept_chapters(profile):
        table = aggregate(chapter, profile)
        keys = [c for c in table.columns if c not in ("name", "quantity", "mean", "std", "min", "max", "n")]
        for row in table.to_dict("records"):
            n, std = row["n"], row["std"]
            spread = "–" if n < 2 else f"{z * std / math.sqrt(n):.4g}"
            out = {"chapter": chapter,
                   "parameters": ", ".join(f"{k} = {_text(row[k])}" for k in keys) or "–",
                   "quantity": row["quantity"], "mean": f"{row['mean']:.4g}", "± (95 %)": spread,
                   "std": "–" if n < 2 else f"{std:.3g}", "range": f"{row['min']:.4g} – {row['max']:.4g}", "runs": n}
            if book_runs is not None:
                h = book.get(chapter, {}).get(row["name"])
                value = _number((h or {}).get("value"))
                out["this build"] = "–" if value is None else h.get("text", f"{value:.4g}")
                if value is None or n < 2:
                    out["against the runs"] = "–"
                else:
                    sign = compare(value, Estimate(row["mean"], std * math.sqrt(1 + 1 / n)), names=("", ""),
                                   quantity=row["quantity"], better=None, z=z).sign
                    out["against the runs"] = {0: "within the spread", 1: "above", -1: "below"}[sign]
            rows.append(out)
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    if (frame["parameters"] == "–").all():
        frame = frame.drop(columns="parameters")
    return frame


def sweep_summary(profile: str) -> str:
    """One sentence for the results page: which chapters have sweeps at `profile`, and how many runs each."""
    chapters = swept_chapters(profile)
    if not chapters:
        return (f"No sweep has been run at the {profile} profile, so there is no table here; "
                f"the README shows how to run one.")
    from .reporting import join_words

    parts = [f"{c} ({len(completed(profile, c))} runs)" for c in chapters]
    return f"Sweeps at the {profile} profile: {join_words(parts)}."
