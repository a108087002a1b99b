import json
import os
import time

import pytest

from probgen import paths, reporting, runtime
from tests.concurrency import race


def test_results_file_has_values_and_manifest():
    res = reporting.Results("00_test", profile="smoke", seeds=[1, 2])
    res.glue("accuracy", 0.6543, fmt="{:.3f}")
    res.add("table", [{"a": 1}])
    res.headline("acc", 0.5, label="accuracy (N=10)", fmt="{:.2f}")
    path = res.save()
    payload = json.loads(path.read_text())
    assert payload["results"] == {"accuracy": 0.6543, "table": [{"a": 1}], "acc": 0.5}
    assert payload["headlines"]["acc"] == {"label": "accuracy (N=10)", "value": 0.5, "text": "0.50", "se": None,
                                           "interval": None, "better": None, "compare": True}
    res.headline("fid", 20.0, label="FID", fmt="{:.1f}", se=1.0, better="lower")
    assert res.headlines["fid"]["interval"] == "2.0" and res.headlines["fid"]["better"] == "lower"
    with pytest.raises(ValueError, match="se="):
        res.headline("bad", 1.0, label="x", se=float("nan"))
    with pytest.raises(ValueError, match="better="):
        res.headline("bad", 1.0, label="x", better="more")
    table = reporting.headline_table([{"chapter": "00_test", "profile": "smoke", "payload": payload}])
    assert table.loc[0, "quantity"] == "accuracy (N=10)" and table.loc[0, "value"] == "0.50"
    assert payload["manifest"]["profile"] == "smoke" and payload["manifest"]["seeds"] == [1, 2]
    assert reporting.load_results("smoke", "00_test")["00_test"]["results"]["accuracy"] == 0.6543


def test_a_headline_of_fewer_seeds_than_its_run_says_which():
    res = reporting.Results("00_test", profile="smoke", seeds=[0, 1, 2])
    res.headline("mean", 0.8, label="mean over 3 runs", se=0.1)
    res.headline("one", 3.0, label="one run", se=0.2, seeds=[0])
    with pytest.raises(ValueError, match=r"seeds \[7\] are not among the run's seeds"):
        res.headline("bad", 1.0, label="x", seeds=[0, 7])
    payload = json.loads(res.save().read_text())
    assert "seeds" not in payload["headlines"]["mean"] and payload["headlines"]["one"]["seeds"] == [0]
    table = reporting.headline_table([{"chapter": "00_test", "profile": "smoke", "payload": payload}])
    assert table.set_index("quantity")["seeds"].to_dict() == {"mean over 3 runs": "0, 1, 2", "one run": "0"}


def test_results_reject_unknown_profile():
    with pytest.raises(runtime.ConfigError):
        reporting.Results("x", profile="huge", seeds=0)


def test_missing_results_file_says_what_to_run():
    with pytest.raises(FileNotFoundError, match="make notebooks PROFILE=quick"):
        reporting.load_results("quick", "nope")


def test_atomic_write_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "b.json"
    reporting.atomic_write_text(target, "x")
    assert target.read_text() == "x" and [p.name for p in target.parent.iterdir()] == ["b.json"]


def _save_results(n: int, times: int) -> None:
    for _ in range(times):
        res = reporting.Results("00_race", profile="smoke", seeds=0)
        res.add("table", list(range(n)))
        res.save()


def _read_results(seconds: float) -> None:
    path, end = paths.results_dir("smoke") / "00_race.json", time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        json.loads(text)  # a half-written file raises


def test_processes_saving_the_same_results_file_at_once():
    before = os.umask(0o022)
    try:
        jobs = [(_save_results, (10, 5)), (_save_results, (20_000, 5)), (_read_results, (0.3,))]
        assert race(jobs, rounds=4) == []
    finally:
        os.umask(before)
    folder = paths.results_dir("smoke")
    assert [p.name for p in folder.iterdir()] == ["00_race.json"]
    assert (folder / "00_race.json").stat().st_mode & 0o777 == 0o644
