"""Tables that render in both builds of the book.

The HTML book shows a DataFrame or Styler through its text/html output; the
LaTeX/PDF builder ignores HTML and would print `<pandas...Styler at 0x...>`.
Registering a text/markdown formatter gives every table a markdown copy, which
myst-nb parses (nb_render_markdown_format: myst) into a real table in the PDF.
`probgen.reporting` enables it on import inside a notebook.
"""
import pandas as pd
from pandas.io.formats.style import Styler

_ESCAPE = str.maketrans({c: "\\" + c for c in "\\`*_[]<>!|{}&"})


def _cell(text) -> str:
    """Escape markdown in a cell, except inside $...$ pairs (maths stays maths)."""
    parts = str(text).replace("\n", " ").strip().split("$")
    if len(parts) % 2 == 0:  # an unpaired $: no maths in this cell
        return "\\$".join(p.translate(_ESCAPE) for p in parts)
    return "$".join(p.translate(_ESCAPE) if i % 2 == 0 else p.replace("|", "\\|")
                    for i, p in enumerate(parts)) or " "


def styler_markdown(sty: Styler) -> str:
    sep = "\x1f"
    lines = sty.to_string(delimiter=sep).rstrip("\n").split("\n")
    rows = [line.split(sep) for line in lines]
    n_header = 0 if all(sty.hide_columns_) else sty.data.columns.nlevels - sum(sty.hide_columns_)
    if n_header == 0:
        rows.insert(0, [""] * len(rows[0]))
        n_header = 1
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = [" ".join(filter(None, col)).strip() for col in zip(*rows[:n_header])]
    out = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "|".join(["---"] * width) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows[n_header:]]
    return "\n".join(out) + "\n"


def dataframe_markdown(df: pd.DataFrame) -> str:
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else v
    return styler_markdown(df.style.format(fmt))


def enable_markdown_tables() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    md = ip.display_formatter.formatters["text/markdown"]
    md.for_type(pd.DataFrame, dataframe_markdown)
    md.for_type(Styler, styler_markdown)
