"""The results page says which profile and run each chapter's numbers come from."""
import json

import nbformat
import pytest

from probgen import paths, reporting, run


@pytest.fixture
def book(tmp_path, monkeypatch):
    executed = tmp_path / "executed"
    executed.mkdir()
    monkeypatch.setattr(paths, "executed_dir", lambda: executed)
    monkeypatch.setattr(run, "toc_chapters", lambda: ["01_a", "02_b", "99_results"])

    def chapter(name, profile, run_id, *, results_run_id=None, executed_copy=True, value=0.5):
        if executed_copy:
            nb = nbformat.v4.new_notebook()
            nb.metadata["probgen"] = {"profile": profile, "run_id": run_id}
            nbformat.write(nb, executed / f"{name}.ipynb")
        res = reporting.Results(name, profile=profile, seeds=[0, 1])
        res.headline("acc", value, label=f"accuracy of {name}", fmt="{:.2f}")
        path = res.save()
        payload = json.loads(path.read_text())
        payload["manifest"]["run_id"] = run_id if results_run_id is None else results_run_id
        path.write_text(json.dumps(payload))

    return chapter


def test_one_profile_one_run(book):
    book("01_a", "quick", "R1")
    book("02_b", "quick", "R1")
    runs = reporting.chapter_runs("smoke")
    assert [r["profile"] for r in runs] == ["quick", "quick"] and all(r["note"] == "" for r in runs)
    assert reporting.profile_summary(runs) == "Every chapter's numbers come from the quick profile (run R1)."
    table = reporting.headline_table(runs)
    assert list(table.columns) == ["chapter", "quantity", "value", "± (95 %)", "seeds"]
    assert table.to_dict("records")[0] == {"chapter": "01_a", "quantity": "accuracy of 01_a", "value": "0.50",
                                           "± (95 %)": "exact", "seeds": "0, 1"}
    prov = reporting.provenance_table(runs)
    assert list(prov["run"]) == ["R1", "R1"] and list(prov["profile"]) == ["quick", "quick"]


def test_a_mixed_build_says_so_and_shows_each_profile(book):
    book("01_a", "smoke", "R1")
    book("02_b", "quick", "R2", value=0.7)
    runs = reporting.chapter_runs("smoke")
    summary = reporting.profile_summary(runs)
    assert summary.startswith("This build mixes profiles (smoke: 01_a; quick: 02_b)")
    table = reporting.headline_table(runs)
    assert list(table["profile"]) == ["smoke", "quick"] and list(table["value"]) == ["0.50", "0.70"]


def test_results_file_of_another_run_and_missing_copies_are_flagged(book):
    book("01_a", "quick", "R1", results_run_id="R0")    # results rewritten by another run
    book("02_b", "smoke", None, executed_copy=False)    # never run into the book
    runs = reporting.chapter_runs("smoke")
    assert "another run" in runs[0]["note"]
    assert runs[1]["profile"] == "smoke" and "executed/ has no copy" in runs[1]["note"]
    assert list(reporting.provenance_table(runs)["note"]) == [runs[0]["note"], runs[1]["note"]]
