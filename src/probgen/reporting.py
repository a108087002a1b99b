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


def headline_table(profile: str):
    """One row per headline number of every results file of `profile` (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for chapter, payload in load_results(profile).items():
        seeds = ", ".join(map(str, payload["manifest"]["seeds"]))
        for h in payload.get("headlines", {}).values():
            rows.append({"chapter": chapter, "quantity": h["label"], "value": h["text"], "seeds": seeds})
    return pd.DataFrame(rows, columns=["chapter", "quantity", "value", "seeds"])


def manifest_table(profile: str):
    """One row per results file of `profile`: where and when its numbers were computed."""
    import pandas as pd

    rows = []
    for chapter, payload in load_results(profile).items():
        m = payload["manifest"]
        rows.append({"chapter": chapter, "device": m["device"], "commit": m["git_commit"][:12],
                     "wall time (s)": m["wall_time_s"], "created (UTC)": m["created_utc"]})
    return pd.DataFrame(rows, columns=["chapter", "device", "commit", "wall time (s)", "created (UTC)"])


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
