"""Results files and numbers in prose.

Each notebook collects its numbers in a `Results` object, glues the ones the
prose quotes (myst-nb `glue`), and writes them once to
`results/<profile>/<chapter>.json` together with a manifest (commit, profile,
device, versions, seeds, wall time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import paths, runtime
from .atomic import atomic_write_text


class _Text(str):
    """A string whose text/plain repr has no quotes (for glue)."""

    def __repr__(self) -> str:
        return str(self)


def _plain(value: Any) -> Any:
    """NumPy scalars to Python numbers (their repr would show `np.float64(...)` in the prose)."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


class Results:
    """The numbers of one chapter run, written with their manifest.

    Usage in a notebook::

        results = reporting.Results("09_trueskill", profile=profile, seeds=[seed])
        results.glue("serie_a_accuracy", 0.654, fmt="{:.3f}")   # quoted in prose as {glue:}`serie_a_accuracy`
        results.add("ranking", table.to_dict("records"))        # stored, not quoted
        results.save()
    """

    def __init__(self, chapter: str, *, profile: str, seeds, device: str = "cpu"):
        self.chapter = chapter
        self.profile = runtime.check_profile(profile)
        self.seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        self.device = device
        self.values: dict[str, Any] = {}
        self.headlines: dict[str, dict] = {}
        self._start = time.perf_counter()

    def headline(self, name: str, value: Any, *, label: str, fmt: str = "{}") -> None:
        """A number for the "results at a glance" page (also glued for the prose)."""
        value = _plain(value)
        self.headlines[name] = {"label": label, "value": value, "text": fmt.format(value)}
        self.glue(name, value)

    def add(self, name: str, value: Any) -> None:
        """Store `value` in the results file (not quoted in the prose)."""
        self.values[name] = value

    def glue(self, name: str, value: Any, fmt: str | None = None, display: bool = False) -> None:
        """Store `value` and glue it for the prose.

        Numbers are glued as plain Python numbers, so the prose formats them:
        {glue:text}`name:.3f`. With `fmt`, the formatted text is glued instead
        (without quotes), for {glue:}`name`.
        """
        value = _plain(value)
        self.add(name, value)
        shown = _Text(fmt.format(value)) if fmt is not None else (_Text(value) if isinstance(value, str) else value)
        try:
            from myst_nb import glue

            glue(name, shown, display=display)
        except ImportError:  # outside a notebook toolchain the value is still stored
            pass

    @property
    def path(self) -> Path:
        return paths.results_dir(self.profile) / f"{self.chapter}.json"

    def save(self, **manifest_extra) -> Path:
        wall = time.perf_counter() - self._start
        payload = {
            "chapter": self.chapter,
            "manifest": runtime.manifest(
                profile=self.profile, seeds=self.seeds, device=self.device, wall_time_s=wall, **manifest_extra
            ),
            "headlines": self.headlines,
            "results": self.values,
        }
        atomic_write_text(self.path, runtime.dumps(payload))
        return self.path


def chapter_runs(profile: str) -> list[dict]:
    """Where the numbers of each chapter of the book come from, in book order.

    A chapter's executed copy (written by `python -m probgen.run`) records the
    profile and the run it came from; its results file must come from that same
    run. A chapter with no executed copy (a test run under nbmake) falls back
    to the results file of `profile`. Each row: chapter, profile, run record
    (or None), results payload (or None), and a note when the two disagree.
    """
    from .run import RESULTS_PAGE, run_record, toc_chapters

    rows = []
    for chapter in (c for c in toc_chapters() if c != RESULTS_PAGE):
        record = run_record(chapter)
        used = record["profile"] if record else runtime.check_profile(profile)
        path = paths.results_dir(used) / f"{chapter}.json"
        payload = load_results(used, chapter)[chapter] if path.is_file() else None
        if payload is None:
            note = f"no results file {path.name} for the {used} profile"
        elif record is None:
            note = "not run into the book (executed/ has no copy)"
        elif payload["manifest"].get("run_id") != record.get("run_id"):
            note = "its results file comes from another run than its page: rerun the chapter"
        else:
            note = ""
        rows.append({"chapter": chapter, "profile": used, "record": record, "payload": payload, "note": note})
    return rows


def headline_table(runs: list[dict]):
    """One row per headline number of every chapter in `runs` (from `chapter_runs`), as a DataFrame.

    A profile column is added when the chapters come from more than one profile.
    """
    import pandas as pd

    rows = []
    for run in runs:
        payload = run["payload"] or {}
        seeds = ", ".join(map(str, payload.get("manifest", {}).get("seeds", [])))
        for h in payload.get("headlines", {}).values():
            rows.append({"chapter": run["chapter"], "profile": run["profile"], "quantity": h["label"],
                         "value": h["text"], "seeds": seeds})
    columns = ["chapter", "profile", "quantity", "value", "seeds"]
    if len({r["profile"] for r in runs}) <= 1:
        columns.remove("profile")
    return pd.DataFrame(rows, columns=["chapter", "profile", "quantity", "value", "seeds"])[columns]


def provenance_table(runs: list[dict]):
    """One row per chapter: the profile, run, commit, device and wall time its numbers come from."""
    import pandas as pd

    rows = []
    for run in runs:
        m = (run["payload"] or {}).get("manifest", {})
        record = run["record"] or {}
        rows.append({"chapter": run["chapter"], "profile": run["profile"],
                     "run": record.get("run_id") or "–", "commit": (m.get("git_commit") or "–")[:12],
                     "device": m.get("device", "–"), "wall time (s)": m.get("wall_time_s"),
                     "note": run["note"] or "–"})
    return pd.DataFrame(rows, columns=["chapter", "profile", "run", "commit", "device", "wall time (s)", "note"])


def profile_summary(runs: list[dict]) -> str:
    """One sentence on the profiles the book's numbers come from; it says so when a build mixes them."""
    by_profile: dict[str, list[str]] = {}
    for run in runs:
        by_profile.setdefault(run["profile"], []).append(run["chapter"])
    run_ids = sorted({(r["record"] or {}).get("run_id") or "none" for r in runs})
    if len(by_profile) == 1:
        (profile,) = by_profile
        which = f"run {run_ids[0]}" if len(run_ids) == 1 else f"{len(run_ids)} runs"
        return f"Every chapter's numbers come from the {profile} profile ({which})."
    parts = "; ".join(f"{p}: {', '.join(chs)}" for p, chs in by_profile.items())
    return (f"This build mixes profiles ({parts}). Numbers of different profiles come from different "
            f"data sizes and training lengths: compare them only within a profile.")


def load_results(profile: str, chapter: str | None = None) -> dict[str, dict]:
    """Read the results files of a profile: `{chapter: payload}` (one chapter if named)."""
    folder = paths.results_dir(runtime.check_profile(profile))
    files = [folder / f"{chapter}.json"] if chapter else sorted(folder.glob("*.json"))
    out = {}
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"no results file {f}; run the notebook first: make notebooks PROFILE={profile}")
        with open(f) as fh:
            out[f.stem] = json.load(fh)
    return out


def _enable_tables() -> None:
    from .tables import enable_markdown_tables

    enable_markdown_tables()


_enable_tables()
