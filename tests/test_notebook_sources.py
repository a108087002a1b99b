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
