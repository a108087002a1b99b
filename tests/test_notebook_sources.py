"""House rules of the chapter notebooks that the book build alone would not catch."""
import json
import re
from pathlib import Path

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _cells(kind):
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == kind:
                yield path.name, i, "".join(cell["source"])


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 10


def test_a_glued_number_after_maths_is_set_apart():
    # "$\Delta = ${glue:text}`x`" renders as "Δ =-0.25": the maths and the number need a space between them.
    bad = [(name, i, src[max(0, m.start() - 20):m.end()]) for name, i, src in _cells("markdown")
           for m in re.finditer(r"\$\{glue", src)]
    assert bad == []


def test_tables_go_through_the_house_style():
    # A Styler built by hand misses the house style, and a chained .format() resets the earlier one.
    bad = [(name, i) for name, i, src in _cells("code") if ".style." in src]
    assert bad == []


def test_progress_bars_go_through_runtime_progress():
    # tqdm or a library's own bar in a notebook puts a widget into the executed copy (CDN scripts in the book).
    bad = [(name, i) for name, i, src in _cells("code") if "tqdm" in src]
    assert bad == []


def test_every_chapter_tells_its_results_all_its_parameters():
    # Where a run writes is decided by its parameters (probgen.runs.place): a parameter left out of
    # `Results(..., parameters=...)` would let a run with another value overwrite the book's results.
    import ast

    for path in NOTEBOOKS:
        if path.stem == "99_results":
            continue
        cells = json.loads(path.read_text())["cells"]
        params_cell = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
        declared = {node.targets[0].id for node in ast.parse(params_cell).body} - {"profile"}
        calls = [node for c in cells if c["cell_type"] == "code"
                 for node in ast.walk(ast.parse("".join(c["source"])))
                 if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Results"]
        assert len(calls) == 1, path.name
        given = next((k.value for k in calls[0].keywords if k.arg == "parameters"), None)
        assert isinstance(given, ast.Dict), f"{path.name}: Results(...) has no parameters={{...}}"
        keys = {k.value for k in given.keys}
        assert keys == declared, f"{path.name}: Results gets {sorted(keys)}, the notebook declares {sorted(declared)}"
