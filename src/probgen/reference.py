"""Reference results: the committed numbers of one fresh-clone run, and a check that a rerun reproduces them.

    python -m probgen.reference compare --profile quick   # this run's numbers against the reference; exit 1 on a deviation
    python -m probgen.reference freeze --profile quick    # write results/reference/quick/ from results/quick/

`freeze` keeps what a comparison needs and nothing bulky: each chapter's manifest (commit, device, versions,
seeds, sample sizes, wall time), its headline numbers with their standard errors, and its scalar results. A
headline number deviates when it differs from the reference by more than z·√(se² + se_ref²) (z = 1.96); an exact
number (se None on both sides) must agree to 1e-6 of its size. Numbers marked `compare=False` (wall times) are
shown, never judged.
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import sys
from pathlib import Path

from . import paths, runtime
from .atomic import atomic_write_text
from .reporting import chapters_by_profile, load_results

EXACT_RTOL = 1e-6
SKIPPED, MISSING, OK, DEVIATES = "not compared", "missing", "ok", "DEVIATES"
NO_REFERENCE = "no reference"  # the chapter ran at a profile that has no committed reference


def reference_dir(profile: str) -> Path:
    """`<repo>/results/reference/<profile>/`: committed, unlike the run outputs beside it."""
    return paths.repo_root() / "results" / "reference" / runtime.check_profile(profile)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def slim(payload: dict) -> dict:
    """The part of a results file that is committed as reference: manifest, headlines, scalar results."""
    scalars = {k: v for k, v in payload.get("results", {}).items()
               if v is None or isinstance(v, (str, bool)) or _is_number(v)}
    manifest = dict(payload["manifest"])
    manifest["sample_sizes"] = {k: v for k, v in scalars.items() if k.startswith("n_") and _is_number(v)}
    return {"chapter": payload["chapter"], "manifest": manifest, "headlines": payload.get("headlines", {}),
            "results": scalars}


def freeze(profile: str) -> list[Path]:
    """Write every results file of `profile` (slimmed) to the reference folder; returns the files written."""
    written = []
    for chapter, payload in load_results(profile).items():
        if chapter.startswith("99_"):
            continue
        path = reference_dir(profile) / f"{chapter}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, runtime.dumps(slim(payload)) + "\n")
        written.append(path)
    if not written:
        raise FileNotFoundError(f"no results files for the {profile} profile; run `make notebooks PROFILE={profile}`")
    return written


def load_reference(profile: str) -> dict[str, dict]:
    """`{chapter: reference payload}` of a profile; empty when none is committed."""
    folder = reference_dir(profile)
    return {f.stem: json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def judge(current: dict | None, reference: dict | None, z: float = 1.96) -> tuple[str, float | None]:
    """Status of one headline ("ok", "DEVIATES", "missing", "not compared") and the allowed |difference|."""
    if current is None or reference is None:
        return MISSING, None
    a, b = current.get("value"), reference.get("value")
    if not current.get("compare", True) or not (_is_number(a) and _is_number(b)):
        return SKIPPED, None
    if not (math.isfinite(a) and math.isfinite(b)):
        return (OK if (math.isnan(a) and math.isnan(b)) or a == b else DEVIATES), None
    se_a, se_b = current.get("se"), reference.get("se")
    if se_a is None and se_b is None:
        allowed = EXACT_RTOL * max(1.0, abs(a), abs(b))
    else:
        allowed = z * math.hypot(se_a or 0.0, se_b or 0.0)
    return (OK if abs(a - b) <= allowed else DEVIATES), allowed


def comparison(current: dict[str, dict], reference: dict[str, dict], z: float = 1.96):
    """One row per headline number of either side: this run, the reference, |difference|, allowed, status."""
    import pandas as pd

    rows = []
    for chapter in sorted(set(current) | set(reference)):
        cur = (current.get(chapter) or {}).get("headlines", {})
        ref = (reference.get(chapter) or {}).get("headlines", {})
        for name in list(ref) + [n for n in cur if n not in ref]:
            status, allowed = judge(cur.get(name), ref.get(name), z)
            a, b = (cur.get(name) or {}).get("value"), (ref.get(name) or {}).get("value")
            diff = abs(a - b) if _is_number(a) and _is_number(b) else None
            rows.append({"chapter": chapter, "quantity": (ref.get(name) or cur.get(name))["label"],
                         "name": name, "this run": _shown(cur.get(name)), "reference": _shown(ref.get(name)),
                         "|difference|": diff, "allowed": allowed, "status": status})
    return pd.DataFrame(rows, columns=["chapter", "quantity", "name", "this run", "reference", "|difference|",
                                       "allowed", "status"])


def _shown(h: dict | None) -> str:
    if h is None:
        return "–"
    return h["text"] + (f" ± {h['interval']}" if h.get("interval") else "")


def compare(profile: str, z: float = 1.96, chapters: list[str] | None = None):
    """The comparison table of this checkout's results of `profile` against its committed reference."""
    reference = load_reference(profile)
    if not reference:
        raise FileNotFoundError(f"no reference results in {reference_dir(profile)}: only the profiles committed "
                                f"there can be checked")
    folder = paths.results_dir(profile)
    current = {f.stem: load_results(profile, f.stem)[f.stem] for f in sorted(folder.glob("*.json"))
               if f.stem in reference}
    if chapters:
        unknown = sorted(set(chapters) - set(reference))
        if unknown:
            raise KeyError(f"no reference for chapter(s) {unknown}; there are {sorted(reference)}")
        reference = {c: reference[c] for c in chapters}
        current = {c: current[c] for c in chapters if c in current}
    return comparison(current, reference, z)


def for_page(runs: list[dict]) -> tuple[dict[str, dict] | None, str]:
    """The reference to set beside a build's numbers (`runs` from `reporting.chapter_runs`) and a sentence on it.

    Each chapter is compared with the committed reference of the profile it ran at, so a build that mixes
    profiles (a smoke book with one chapter rerun at quick, say) still shows whether that chapter reproduces the
    book. The dict returned has an entry for every chapter run at a profile with a committed reference (an
    empty one for a chapter that reference lacks: its numbers are then "missing"); a chapter of a profile
    without one is left out, and the results page says "no reference" for it. None when no chapter has one.
    """
    by_profile = chapters_by_profile(runs)
    committed = {p: load_reference(p) for p in by_profile}
    ref = {r["chapter"]: committed[r["profile"]].get(r["chapter"], {}) for r in runs if committed[r["profile"]]}
    if not ref:
        root = reference_dir(next(iter(by_profile), "quick")).parent  # results/reference/ (glob: nothing if absent)
        have = sorted(p.name for p in root.glob("*") if p.is_dir())
        which = f" (there is one for {', '.join(have)})" if have else ""
        profiles = sorted(by_profile)
        if len(profiles) == 1:
            return None, f"No reference results are committed for the {profiles[0]} profile{which}, so this " \
                         f"build is not checked against one."
        return None, f"No reference results are committed for this build's profiles ({', '.join(profiles)})" \
                     f"{which}, so it is not checked against one."
    heads = []
    for profile in (p for p in by_profile if committed[p]):
        manifests = [payload["manifest"] for payload in committed[profile].values()]
        commits = sorted({(m.get("git_commit") or "unknown")[:12] for m in manifests})
        devices = sorted({m.get("device") or "unknown" for m in manifests})
        scope = "" if len(by_profile) == 1 else f" for the {len(by_profile[profile])} chapter(s) run at {profile}"
        heads.append(f"the committed {profile} results (commit {', '.join(commits)}, {', '.join(devices)}){scope}")
    head = f"The reference column holds {' and '.join(heads)}."
    without = [p for p in by_profile if not committed[p]]
    if without:
        head += (f" No reference is committed for the {' or '.join(without)} profile, so the chapters run at it "
                 f"({', '.join(c for p in without for c in by_profile[p])}) say \"{NO_REFERENCE}\".")
    table = comparison({r["chapter"]: r["payload"] for r in runs if r["payload"] and r["chapter"] in ref}, ref)
    judged = table[table["status"] != SKIPPED]
    bad = judged[judged["status"].isin([DEVIATES, MISSING])]
    if bad.empty:
        return ref, (f"{head} All {len(judged)} compared numbers of this build reproduce them within their "
                     f"stated uncertainty (1.96 standard errors of the difference; exact numbers to 1e-6).")
    names = "; ".join(f"{r.chapter}: {r.quantity} ({r.status.lower()})" for r in bad.itertuples())
    return ref, (f"{head} {len(bad)} of {len(judged)} compared numbers of this build do not reproduce them within "
                 f"their stated uncertainty: {names}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.reference", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="compare this checkout's results with the committed reference")
    c.add_argument("--profile", default="quick")
    c.add_argument("--z", type=float, default=1.96, help="allowed deviation in standard errors (default 1.96)")
    c.add_argument("chapters", nargs="*", help="only these chapters (default: every chapter of the reference)")
    f = sub.add_parser("freeze", help="write results/<profile>/ as the reference (after a fresh-clone run)")
    f.add_argument("--profile", default="quick")
    args = parser.parse_args(argv)
    try:
        if args.command == "freeze":
            for path in freeze(args.profile):
                print(f"wrote {path.relative_to(paths.repo_root())}")
            return 0
        table = compare(args.profile, args.z, args.chapters)
    except (FileNotFoundError, KeyError, runtime.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_colwidth", 60, "display.width", 200):
        print(table.drop(columns=["name"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    counts = table["status"].value_counts().to_dict()
    print("\n" + ", ".join(f"{n} {s}" for s, n in counts.items()))
    bad = table["status"].isin([DEVIATES, MISSING])
    if bad.any():
        print(f"{int(bad.sum())} number(s) deviate from the reference beyond their stated uncertainty or are "
              f"missing: this run does not reproduce the book's {args.profile} results", file=sys.stderr)
        return 1
    print(f"every compared number reproduces the {args.profile} reference within its uncertainty")
    return 0


if __name__ == "__main__":
    sys.exit(main())
