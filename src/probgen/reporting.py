"""Results files and numbers in prose.

Each notebook collects its numbers in a `Results` object, glues the ones the
prose quotes (myst-nb `glue`), and writes them once to
`results/<profile>/<chapter>.json` together with its parameters and a manifest
(commit, profile, device, versions, seeds, wall time). A run with other
parameters than the notebook's defaults, or one of a sweep, writes into its own
folder instead (`probgen.runs`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths, runtime
from .atomic import atomic_write_text
from .stats import Estimate


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

    def __init__(self, chapter: str, *, profile: str, seeds, device: str = "cpu", parameters: dict | None = None):
        """`parameters`: the notebook's parameters other than the profile (e.g. `{"seed": seed}`). They decide
        where this run writes (`probgen.runs.place`): with the notebook's defaults, the book's own
        `results/<profile>/` and `figures/`; with any other value, or under a sweep, its own folder
        `runs/<profile>/<chapter>/<slug>/`, so such a run never replaces the book's numbers or figures.
        """
        from . import runs

        self.chapter = chapter
        self.profile = runtime.check_profile(profile)
        self.seeds = runtime.seed_list(seeds)
        self.device = device
        self.parameters = {k: _plain(v) for k, v in (parameters or {}).items() if k != "profile"}
        self.run_dir = runs.place(chapter, self.profile, self.parameters)  # None: the book's own folders
        paths.set_run_folder(self.run_dir)
        self.values: dict[str, Any] = {}
        self.headlines: dict[str, dict] = {}
        self._start = time.perf_counter()

    def headline(self, name: str, value: Any, *, label: str, fmt: str = "{}", se: float | None = None,
                 better: str | None = None, compare: bool = True, seeds=None) -> None:
        """A number for the "results at a glance" page (also glued for the prose).

        Args:
            se: its standard error (a bootstrap over generated samples, a binomial error, the standard error of
                a test-set mean, or the spread over seeds / √seeds); None for an exact number. The results page
                shows value ± 1.96·se, and `probgen.reference compare` flags a rerun whose value differs from
                the reference by more than 1.96·√(se² + se_ref²).
            better: "higher" or "lower" when the number has a direction (for the verdict against a published
                reference).
            compare: False for numbers that depend on the machine (wall times): the reference comparison
                skips them.
            seeds: the seeds this number comes from when they are not all of the run's (`Results(seeds=…)`),
                e.g. one seed's number in a chapter that averages another over several; the results page shows
                them in its seeds column.
        """
        value = _plain(value)
        if se is not None:
            se = float(_plain(se))
            if not (math.isfinite(se) and se >= 0):
                raise ValueError(f"headline {name!r}: se={se!r} must be a finite number ≥ 0 (or None if exact)")
        if better not in (None, "higher", "lower"):
            raise ValueError(f"headline {name!r}: better={better!r} must be 'higher', 'lower' or None")
        seeds = None if seeds is None else runtime.seed_list(seeds)
        unknown = sorted(set(seeds or []) - set(self.seeds))
        if unknown:
            raise ValueError(f"headline {name!r}: seeds {unknown} are not among the run's seeds {self.seeds}")
        self.headlines[name] = {"label": label, "value": value, "text": fmt.format(value), "se": se,
                                "interval": None if se is None else fmt.format(1.96 * se),
                                "better": better, "compare": bool(compare)}
        if seeds is not None:
            self.headlines[name]["seeds"] = seeds
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
        """`results/<profile>/<chapter>.json` for the book's run, `<run folder>/<chapter>.json` for any other."""
        if self.run_dir is not None:
            return paths.ensure_folder(self.run_dir, "PROBGEN_RUNS") / f"{self.chapter}.json"
        return paths.results_dir(self.profile) / f"{self.chapter}.json"

    def save(self, **manifest_extra) -> Path:
        wall = time.perf_counter() - self._start
        payload = {
            "chapter": self.chapter,
            "parameters": {"profile": self.profile, **self.parameters},
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


def headline_table(runs: list[dict], reference: dict[str, dict] | None = None):
    """One row per headline number of every chapter in `runs` (from `chapter_runs`), as a DataFrame.

    Columns: chapter, quantity, value, "± (95 %)" (1.96 standard errors; "exact" for an exact number, "–" for
    one not compared, such as a wall time) and seeds. A profile column is added when the chapters come from
    more than one profile. With `reference` ({chapter: payload} of `probgen.reference.load_reference`) two
    columns more: the reference's value and whether this build's number reproduces it within the stated
    uncertainty ("ok", "DEVIATES", "missing", "not compared"; "no reference" for a chapter that `reference`
    leaves out because its profile has none, as `reference.for_page` does in a build that mixes profiles).
    """
    import pandas as pd

    from .reference import NO_REFERENCE, _shown, judge

    rows = []
    for run in runs:
        payload = run["payload"] or {}
        run_seeds = payload.get("manifest", {}).get("seeds", [])
        ref = ((reference or {}).get(run["chapter"]) or {}).get("headlines", {})
        for name, h in payload.get("headlines", {}).items():
            if "se" not in h:  # a results file written before headlines carried their uncertainty
                spread = "not stated"
            else:
                spread = h["interval"] or ("–" if not h.get("compare", True) else "exact")
            row = {"chapter": run["chapter"], "profile": run["profile"], "quantity": h["label"],
                   "value": h["text"], "± (95 %)": spread, "seeds": ", ".join(map(str, h.get("seeds", run_seeds)))}
            if reference is not None and run["chapter"] not in reference:  # its profile has no reference
                row["reference"], row["reproduced"] = "–", NO_REFERENCE
            elif reference is not None:
                row["reference"] = _shown(ref.get(name))
                row["reproduced"] = judge(h, ref.get(name))[0]
            rows.append(row)
    columns = ["chapter", "profile", "quantity", "value", "± (95 %)", "seeds"]
    if reference is not None:
        columns[-1:-1] = ["reference", "reproduced"]
    if len({r["profile"] for r in runs}) <= 1:
        columns.remove("profile")
    return pd.DataFrame(rows, columns=columns)


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


def chapters_by_profile(runs: list[dict]) -> dict[str, list[str]]:
    """`{profile: [chapter, ...]}` of `runs` (from `chapter_runs`), both in book order."""
    by_profile: dict[str, list[str]] = {}
    for run in runs:
        by_profile.setdefault(run["profile"], []).append(run["chapter"])
    return by_profile


def profile_summary(runs: list[dict]) -> str:
    """One sentence on the profiles the book's numbers come from; it says so when a build mixes them."""
    by_profile = chapters_by_profile(runs)
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


# ----- verdicts: sentences that compare results, worded from the numbers and their uncertainty ---------------
#
# A sentence of the book that compares, ranks or judges results comes from these helpers, so it reads correctly
# at every profile: the same notebook says "A is better than B by 3.1 ± 1.2" in one run and "A and B cannot be
# told apart at this N" in another. Two values count as different when their difference exceeds z standard
# errors of it (z = 1.96: a two-sided 5 % test of each comparison, not corrected for the several a page makes).


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing A with B: +1 if A is better beyond the noise, −1 if B is, 0 if they cannot be
    told apart; the difference A − B with its standard error, and the sentence (no final full stop)."""

    sign: int
    difference: Estimate
    sentence: str

    def __str__(self) -> str:
        return self.sentence

    @property
    def word(self) -> str:
        """"better", "equal" (cannot be told apart) or "worse": A's standing against B."""
        return {1: "better", 0: "equal", -1: "worse"}[self.sign]


def _better_sign(difference: float, se: float, better: str | None, z: float) -> int:
    if better not in ("higher", "lower", None):
        raise ValueError(f"better={better!r} must be 'higher', 'lower' or None (no direction)")
    if abs(difference) <= z * se:
        return 0
    return (1 if difference > 0 else -1) * (1 if better in ("higher", None) else -1)


def _as_estimate(x) -> Estimate:
    return x if isinstance(x, Estimate) else Estimate(float(x), 0.0)


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    if not items:
        raise ValueError("nothing to join")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def compare(a, b, *, names: tuple[str, str], quantity: str, better: str = "higher", unit: str = "",
            fmt: str = "{:.2f}", z: float = 1.96, difference: Estimate | None = None,
            tie: str = "at this N") -> Verdict:
    """Compare one quantity of A and B (each an `Estimate`, or a number for an exact value).

    Args:
        names: how the sentence names A and B.
        quantity: what is compared ("FID", "test ELBO"); `better` says whether "higher" or "lower" is better;
            None for a quantity without a direction (the sentence then says which is higher, and the
            Verdict's sign is +1 when A is higher).
        difference: the estimate of A − B when A and B are not independent (a paired difference over the same
            test items); by default the two are independent and se = √(se_A² + se_B²).
        tie: how the sentence qualifies a tie ("at this N", "over these seeds").
    Returns:
        a `Verdict` whose sentence reads "A is better than B in FID by 3.10 ± 1.20 (12.40 ± 0.80 against
        15.50 ± 0.90)" or "A and B cannot be told apart in FID at this N (…; difference −0.40 ± 1.20)"; every
        ± is z standard errors.
    """
    a, b = _as_estimate(a), _as_estimate(b)
    d = difference if difference is not None else Estimate(a.value - b.value, math.hypot(a.se, b.se))
    sign = _better_sign(d.value, d.se, better, z)
    u = f" {unit}" if unit else ""

    def show(e: Estimate) -> str:
        return fmt.format(e.value) + (f" ± {fmt.format(z * e.se)}" if e.se > 0 else "")

    values = f"{show(a)} against {show(b)}{u}"
    if sign == 0:
        shown_d = ("−" + fmt.format(-d.value)) if d.value < 0 else "+" + fmt.format(d.value)
        qualifier = f" {tie}" if tie else ""
        return Verdict(0, d, f"{names[0]} and {names[1]} cannot be told apart in {quantity}{qualifier} "
                             f"({values}; difference {shown_d} ± {fmt.format(z * d.se)}{u})")
    first, second = names if sign > 0 else names[::-1]
    values = f"{show(a)} against {show(b)}{u}" if sign > 0 else f"{show(b)} against {show(a)}{u}"
    if better is None:  # no direction: the sign says which is higher
        return Verdict(sign, d, f"{first}'s {quantity} is higher than {second}'s by {fmt.format(abs(d.value))} "
                                f"± {fmt.format(z * d.se)}{u} ({values})")
    return Verdict(sign, d, f"{first} is better than {second} in {quantity} by {fmt.format(abs(d.value))} "
                            f"± {fmt.format(z * d.se)}{u} ({values})")


def compare_across(a: dict, b: dict, *, names: tuple[str, str], quantity: str, label: str, better: str = "higher",
                   key_fmt: str = "{:g}", fmt: str = "{:.2f}", z: float = 1.96,
                   tie: str = "at this N") -> tuple[str, dict]:
    """Compare A with B at every setting they share (step counts, guidance scales, data families).

    Args:
        a, b: setting → `Estimate` (or exact number).
        label: the name of one setting in the sentence ("step count", "guidance scale w", "family").
        key_fmt: how a setting is written; a format with "=" ("β = {:g}") names the setting itself, so a
            mixed sentence reads "at β = 1" rather than "at β 1".
        tie: how an all-tie sentence is qualified ("at this N", "over these seeds", "" for nothing).
    Returns:
        (sentence, {setting: Verdict}). The sentence takes the most common outcome as its rule and names the
        exceptions: "A is better than B in FID at every step count", "A is better than B in FID at every step
        count except 50 and 100, where they cannot be told apart", "A and B cannot be told apart in FID at any
        step count at this N", or for a mixed picture "A is better than B in FID at step counts 10 and 20; B is
        better at 100; they cannot be told apart at 50".
    """
    keys = [k for k in a if k in b]
    if not keys:
        raise ValueError(f"{names[0]} and {names[1]} share no {label} to compare at")
    verdicts = {k: compare(a[k], b[k], names=names, quantity=quantity, better=better, fmt=fmt, z=z) for k in keys}
    groups = {s: [key_fmt.format(k) for k in keys if verdicts[k].sign == s] for s in (1, -1, 0)}
    a_name, b_name = names
    rule = max((1, -1, 0), key=lambda s: (len(groups[s]), s == 0))
    plural = label if label.endswith("s") else label + "s"
    if len(groups[rule]) == len(keys):
        if rule == 0:
            qualifier = f" {tie}" if tie else ""
            return f"{a_name} and {b_name} cannot be told apart in {quantity} at any {label}{qualifier}", verdicts
        first, second = names if rule > 0 else names[::-1]
        return f"{first} is better than {second} in {quantity} at every {label}", verdicts
    exceptions = {1: f"{a_name} is better", -1: f"{b_name} is better", 0: "they cannot be told apart"}
    others = [f"{join_words(groups[s])}, where {exceptions[s]}" for s in (1, -1, 0) if s != rule and groups[s]]
    if len(groups[rule]) > len(keys) / 2 and rule != 0:
        first, second = names if rule > 0 else names[::-1]
        return (f"{first} is better than {second} in {quantity} at every {label} except "
                + "; and except ".join(others)), verdicts
    parts = []
    for s in (1, -1, 0):
        if groups[s]:
            if s == 0:
                parts.append(f"they cannot be told apart at {join_words(groups[s])}")
            else:
                winner, loser = names if s > 0 else names[::-1]
                named = "=" in groups[s][0]  # keys formatted as "w = 3" name themselves
                where = join_words(groups[s]) if named else \
                    f"{plural if len(groups[s]) > 1 else label} {join_words(groups[s])}"
                parts.append(f"{winner} is better than {loser} in {quantity} at {where}"
                             if not parts else f"{winner} is better at {join_words(groups[s])}")
    if parts[0].startswith("they"):  # only ties and one winner: lead with the winner
        parts = parts[1:] + parts[:1]
    return "; ".join(parts), verdicts


def rank(estimates: dict, *, quantity: str, better: str = "higher", unit: str = "", fmt: str = "{:.2f}",
         z: float = 1.96, tie: str = "at this N") -> tuple[str, str]:
    """Which of several independent estimates is best, and whether it is told apart from each of the others.

    `tie` qualifies a tie of all ("at this N", "over these seeds"). Exact values (se = 0) are shown without ±.

    Returns:
        (the best name, a sentence such as "B has the best FID (12.0 ± 1.0): better than A by 5.00 ± 1.41 and
        not told apart from C (difference +0.50 ± 1.41)"; with no difference resolved it reads "A, B and C
        cannot be told apart in FID at this N; B has the best value, …").
    """
    if len(estimates) < 2:
        raise ValueError(f"rank needs at least two estimates, got {list(estimates)}")
    est = {k: _as_estimate(v) for k, v in estimates.items()}
    order = sorted(est, key=lambda k: est[k].value, reverse=(better == "higher"))
    best = order[0]
    u = f" {unit}" if unit else ""
    clauses, resolved = [], False
    for other in order[1:]:
        v = compare(est[best], est[other], names=(best, other), quantity=quantity, better=better, fmt=fmt, z=z)
        d = v.difference
        margin = fmt.format(abs(d.value)) + (f" ± {fmt.format(z * d.se)}" if d.se > 0 else "") + u
        if v.sign != 0:
            resolved = True
            clauses.append(f"better than {other} by {margin}")
        else:
            clauses.append(f"not told apart from {other} (difference {margin})")
    e = est[best]
    shown = fmt.format(e.value) + (f" ± {fmt.format(z * e.se)}" if e.se > 0 else "") + u
    if not resolved:
        qualifier = f" {tie}" if tie else ""
        return best, (f"{join_words(order)} cannot be told apart in {quantity}{qualifier}; {best} has the best "
                      f"value, {shown}, " + join_words(clauses))
    return best, f"{best} has the best {quantity} ({shown}): " + join_words(clauses)


def versus_reference(ours, reference, *, quantity: str, better: str = "higher", fmt: str = "{:.2f}",
                     z: float = 1.96, names: tuple[str, str] = ("ours", "the reference")) -> Verdict:
    """Our estimate against a published (or committed) reference value, which may carry its own se.

    `Verdict.word` is "better", "equal" or "worse" for the results page's column.
    """
    return compare(ours, reference, names=names, quantity=quantity, better=better, fmt=fmt, z=z)


def _enable_tables() -> None:
    from .tables import enable_markdown_tables

    enable_markdown_tables()


_enable_tables()
