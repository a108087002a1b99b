import json

import pytest

from probgen import reporting, runtime


def test_results_file_has_values_and_manifest():
    res = reporting.Results("00_test", profile="smoke", seeds=[1, 2])
    res.glue("accuracy", 0.6543, fmt="{:.3f}")
    res.add("table", [{"a": 1}])
    res.headline("acc", 0.5, label="accuracy (N=10)", fmt="{:.2f}")
    path = res.save()
    payload = json.loads(path.read_text())
    assert payload["results"] == {"accuracy": 0.6543, "table": [{"a": 1}], "acc": 0.5}
    assert payload["headlines"]["acc"] == {"label": "accuracy (N=10)", "value": 0.5, "text": "0.50"}
    table = reporting.headline_table("smoke")
    assert table.loc[0, "quantity"] == "accuracy (N=10)" and table.loc[0, "value"] == "0.50"
    assert reporting.manifest_table("smoke").loc[0, "chapter"] == "00_test"
    assert payload["manifest"]["profile"] == "smoke" and payload["manifest"]["seeds"] == [1, 2]
    assert reporting.load_results("smoke", "00_test")["00_test"]["results"]["accuracy"] == 0.6543


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
