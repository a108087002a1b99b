"""Reference results (probgen.reference) and published references (probgen.published)."""
import json
import re

import pytest

from probgen import paths, published, reference, reporting
from probgen.stats import Estimate


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A repository root of its own, so the reference folder is not the checkout's."""
    (tmp_path / "pyproject.toml").touch()
    monkeypatch.setenv("PROBGEN_ROOT", str(tmp_path))
    return tmp_path


def write(chapter, *, fid=20.0, fid_se=1.0, count=7, seconds=3.0, profile="quick"):
    res = reporting.Results(chapter, profile=profile, seeds=[0])
    res.headline("fid", fid, label="FID at N = 1000", fmt="{:.2f}", se=fid_se, better="lower")
    res.headline("count", count, label="a count", fmt="{}")
    res.headline("seconds", seconds, label="wall time (s)", fmt="{:.0f}", compare=False)
    res.add("n_fid", 1000)
    res.add("samples", [[0.1] * 50] * 50)  # an array: not committed as reference
    res.save()


def test_freeze_keeps_numbers_not_arrays(root):
    write("02_x")
    (path,) = reference.freeze("quick")
    assert path == paths.repo_root() / "results" / "reference" / "quick" / "02_x.json"
    payload = json.loads(path.read_text())
    assert set(payload["results"]) == {"fid", "count", "seconds", "n_fid"}  # the array of samples is dropped
    assert payload["manifest"]["sample_sizes"] == {"n_fid": 1000}
    assert {"git_commit", "device", "versions", "seeds", "wall_time_s"} <= set(payload["manifest"])
    assert payload["headlines"]["fid"]["se"] == 1.0


def test_a_rerun_within_its_uncertainty_reproduces(root):
    write("02_x")
    reference.freeze("quick")
    write("02_x", fid=22.0, seconds=99.0)  # |Δ| = 2 ≤ 1.96·√2 = 2.77; the wall time is never judged
    table = reference.compare("quick")
    assert dict(zip(table["name"], table["status"])) == {"fid": "ok", "count": "ok", "seconds": "not compared"}
    assert reference.main(["compare", "--profile", "quick"]) == 0


def test_a_deviation_and_a_changed_exact_number_fail(root, capsys):
    write("02_x")
    reference.freeze("quick")
    write("02_x", fid=23.0, count=8)  # |Δ| = 3 > 2.77, and an exact number changed
    table = reference.compare("quick")
    assert dict(zip(table["name"], table["status"])) == {"fid": "DEVIATES", "count": "DEVIATES",
                                                         "seconds": "not compared"}
    assert reference.main(["compare", "--profile", "quick"]) == 1
    assert "does not reproduce" in capsys.readouterr().err


def test_a_missing_number_and_a_missing_reference(root, capsys):
    write("02_x")
    reference.freeze("quick")
    path = paths.results_dir("quick") / "02_x.json"
    payload = json.loads(path.read_text())
    del payload["headlines"]["count"]
    path.write_text(json.dumps(payload))
    assert "missing" in set(reference.compare("quick")["status"])
    assert reference.main(["compare", "--profile", "smoke"]) == 2
    assert "no reference results" in capsys.readouterr().err
    with pytest.raises(KeyError, match="no reference for chapter"):
        reference.compare("quick", chapters=["07_nope"])


def run(chapter, profile):
    """A row of `reporting.chapter_runs` for a chapter whose results file was written by `write`."""
    return {"chapter": chapter, "profile": profile, "record": None, "note": "",
            "payload": reporting.load_results(profile, chapter)[chapter]}


def test_the_results_page_table_shows_the_reference_column(root):
    write("02_x")
    reference.freeze("quick")
    write("02_x", fid=30.0)
    table = reporting.headline_table([run("02_x", "quick")], reference.load_reference("quick"))
    assert list(table.columns) == ["chapter", "quantity", "value", "± (95 %)", "reference", "reproduced", "seeds"]
    rows = table.set_index("quantity")
    assert rows.loc["FID at N = 1000", "reproduced"] == "DEVIATES"
    assert rows.loc["FID at N = 1000", "± (95 %)"] == "1.96" and rows.loc["a count", "± (95 %)"] == "exact"
    assert rows.loc["wall time (s)", "± (95 %)"] == "–"


def ref(**kw):
    base = dict(chapter="c", headline="h", better="higher", source="s", differs="d")
    return published.Published(**{**base, **kw})


def test_published_verdicts_flip_with_our_number():
    point = ref(value=-88.8, se=0.3)
    assert published.judge(Estimate(-87.0, 0.2), point) == "better"
    assert published.judge(Estimate(-90.0, 0.2), point) == "worse"
    assert published.judge(Estimate(-88.6, 0.2), point) == "equal"
    fid_range = ref(better="lower", low=82.0, high=153.0)
    assert published.judge(Estimate(40.0, 2.0), fid_range) == "better"
    assert published.judge(Estimate(200.0, 2.0), fid_range) == "worse"
    assert published.judge(Estimate(150.0, 5.0), fid_range) == "equal"
    target = ref(better="lower", bound=104.0)
    assert published.judge(Estimate(100.0, 0.5), target) == "meets"
    assert published.judge(Estimate(110.0, 0.5), target) == "misses"
    assert published.judge(Estimate(103.8, 0.5), target) == "cannot tell"
    lml = published.rounded("c", "h", -15.8, 1, better="higher", source="s", differs="d")
    assert (lml.low, lml.high, lml.text) == (pytest.approx(-15.85), pytest.approx(-15.75), "-15.8")
    assert published.judge(Estimate(-15.769), lml) == "equal" and published.judge(Estimate(-15.9), lml) == "worse"


def test_published_entries_are_well_formed_and_match_real_headlines():
    with pytest.raises(ValueError, match="exactly one"):
        ref(value=1.0, bound=2.0)
    with pytest.raises(ValueError, match="low <= high"):
        ref(low=2.0, high=1.0)
    keys = [(r.chapter, r.headline) for r in published.REFERENCES]
    assert len(keys) == len(set(keys))
    notebooks = {p.stem: p.read_text() for p in (paths.repo_root() / "notebooks").glob("*.ipynb")}

    def written(name: str, text: str) -> bool:  # literally, or built by an f-string with one part a {field}
        parts = name.split("_")
        patterns = [re.escape(name)] + ["_".join(re.escape(q) if j != i else r"\{[^}]*\}" for j, q in enumerate(parts))
                                        for i in range(len(parts))]
        return any(re.search(p, text) for p in patterns)

    for chapter, name in keys:  # every reference names a headline its chapter writes
        assert chapter in notebooks, chapter
        assert written(name, notebooks[chapter]), (chapter, name)


def test_published_table_uses_this_builds_numbers():
    res_runs = [{"chapter": "09_trueskill", "profile": "quick", "record": None, "note": "",
                 "payload": {"headlines": {"serie_a_accuracy_mp": {
                     "label": "Serie A accuracy", "value": 0.70, "text": "0.700", "se": 0.005, "interval": "0.010"}}}}]
    table = published.published_table(res_runs).set_index("quantity")
    assert table.loc["Serie A accuracy", "ours vs published"] == "better"
    assert table.loc["Serie A accuracy", "ours"] == "0.700 ± 0.010"
    assert (table["ours vs published"] == "not in this build").sum() == len(published.REFERENCES) - 1


def test_a_mixed_build_compares_each_chapter_with_its_own_profiles_reference(root):
    write("02_x")
    write("03_y", fid=10.0)
    reference.freeze("quick")  # the quick reference has 02_x and 03_y; smoke has none
    write("02_x", fid=21.0)  # within 2.77 of the reference
    write("03_y", fid=40.0, profile="smoke")  # smoke numbers are far off, but smoke has no reference to miss
    runs = [run("02_x", "quick"), run("03_y", "smoke")]
    ref, sentence = reference.for_page(runs)
    assert set(ref) == {"02_x"}
    assert "committed quick results" in sentence and "1 chapter(s) run at quick" in sentence
    assert 'run at it (03_y) say "no reference"' in sentence and "All 2 compared numbers" in sentence
    table = reporting.headline_table(runs, ref).set_index(["chapter", "quantity"])
    assert list(table.columns) == ["profile", "value", "± (95 %)", "reference", "reproduced", "seeds"]
    assert table.loc[("02_x", "FID at N = 1000"), "reproduced"] == "ok"
    assert set(table.loc["03_y", "reproduced"]) == {"no reference"} and set(table.loc["03_y", "reference"]) == {"–"}

    write("02_x", fid=30.0)  # now the quick chapter deviates, and the sentence says which number
    runs[0] = run("02_x", "quick")
    _, sentence = reference.for_page(runs)
    assert "1 of 2 compared numbers" in sentence and "02_x: FID at N = 1000 (deviates)" in sentence


def test_the_page_says_why_there_is_no_reference_column(root):
    write("02_x", profile="smoke")
    write("03_y", profile="full")
    ref, sentence = reference.for_page([run("02_x", "smoke")])
    assert ref is None and sentence.startswith("No reference results are committed for the smoke profile,")
    write("02_x")
    reference.freeze("quick")
    ref, sentence = reference.for_page([run("02_x", "smoke"), run("03_y", "full")])
    assert ref is None and "for this build's profiles (full, smoke) (there is one for quick)" in sentence
    assert "reference" not in reporting.headline_table([run("02_x", "smoke")], ref).columns
