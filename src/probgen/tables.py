"""Tables: one house style that renders in both builds of the book.

    tables.show(df, formats={"FID": "{:.2f}"}, precision=3)   # in a notebook cell

`show` formats every column in one pass: floats at `precision` decimals, the
columns named in `formats` with their own format (pandas' chained
`.style.format(...).format(...)` would reset the first call's columns), a dash
for missing values, no index. The result is a pandas Styler.

Two renderings of every DataFrame and Styler a notebook displays:

- HTML: the Styler's table with the class `probgen-table`; `book/_static/probgen.css`
  gives every output table padding, right-aligned numbers and rules.
- PDF: the LaTeX builder ignores HTML, so a text/markdown copy is registered
  (`enable_markdown_tables`). It is a MyST `list-table` whose column widths
  are computed from the cell contents, so Sphinx sets each column as a
  paragraph column of a share of the text width: long labels wrap instead of
  running off the page. A table too wide even then is set in a smaller font.
  `probgen.reporting` enables this on import inside a notebook.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping

import pandas as pd
from pandas.io.formats.style import Styler

_ESCAPE = str.maketrans({c: "\\" + c for c in "\\`*_[]<>!|{}&"})
TABLE_CLASS = "probgen-table"
# Characters of body text that fit on one line of the PDF's text width, at the sizes a table may use.
LINE_CHARS = {"normalsize": 80, "small": 88, "footnotesize": 98, "scriptsize": 115}
_PADDING_CHARS = 3  # a column's separation (2 \tabcolsep = 12 pt), in characters, with a little slack
_HEADER_SCALE = 1.3  # header cells are bold: a character is wider


def show(df: pd.DataFrame, *, formats: Mapping[str, str | Callable] | None = None, precision: int = 3,
         na: str = "–", index: bool = False, caption: str | None = None) -> Styler:
    """`df` as a Styler in the house style (see the module docstring).

    Args:
        formats: column -> format string ("{:.2f}") or callable, for columns that need their own format.
        precision: decimals of every other float column.
        na: shown for missing values.
        index: show the index (a named or meaningful one); off by default.
        caption: a caption above the table.
    """
    formats = dict(formats or {})
    unknown = sorted(set(formats) - set(df.columns))
    if unknown:
        raise KeyError(f"formats names column(s) {unknown} that the table lacks; it has {list(df.columns)}")
    per_column = {}
    for col in df.columns:
        if col in formats:
            per_column[col] = formats[col]
        elif pd.api.types.is_float_dtype(df[col]):
            per_column[col] = f"{{:.{precision}f}}"
    sty = df.style.format(per_column, na_rep=na).set_table_attributes(f'class="{TABLE_CLASS}"')
    if not index:
        sty = sty.hide(axis="index")
    if caption:
        sty = sty.set_caption(caption)
    return sty


def _cell(text) -> str:
    """Escape markdown in a cell, except inside $...$ pairs (maths stays maths).

    A cell is a markdown block of its own, so a leading "-88.2" or "3. " would start a list: escape it.
    """
    parts = str(text).replace("\n", " ").strip().split("$")
    if len(parts) % 2 == 0:  # an unpaired $: no maths in this cell
        out = "\\$".join(p.translate(_ESCAPE) for p in parts)
    else:
        out = "$".join(p.translate(_ESCAPE) if i % 2 == 0 else p for i, p in enumerate(parts))
    out = re.sub(r"^([-+*#>])", r"\\\1", out)
    out = re.sub(r"^(\d+)([.)])(?=\s|$)", r"\1\\\2", out)
    return out or " "


def _rows(sty: Styler) -> tuple[list[str], list[list[str]]]:
    """The header (one label per column, levels joined) and the body rows as displayed (formatted) strings."""
    sep = "\x1f"
    # Not sparse: a MultiIndex shows its repeated labels, so every row has every cell.
    lines = sty.to_string(delimiter=sep, sparse_index=False, sparse_columns=False).rstrip("\n").split("\n")
    rows = [line.split(sep) for line in lines]
    n_header = 0 if all(sty.hide_columns_) else sty.data.columns.nlevels - sum(sty.hide_columns_)
    if n_header and not all(sty.hide_index_) and not sty.hide_index_names and any(sty.data.index.names):
        n_header += 1  # a named index gets a header row of its own: fold it into the header
    if n_header == 0:
        rows.insert(0, [""] * len(rows[0]))
        n_header = 1
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    header = [" ".join(filter(None, col)).strip() for col in zip(*rows[:n_header])]
    return header, rows[n_header:]


def _visible(text: str) -> str:
    """Roughly what a cell shows: maths source counts a little over its rendered width."""
    return str(text).replace("\\", "").replace("$", "")


def column_widths(header: list[str], body: list[list[str]]) -> tuple[list[int], str]:
    """Relative column widths (in characters) and the font size at which the table fits the text width.

    A column is at least as wide as its longest word (a word cannot wrap) and
    at most as wide as its longest cell; the room that is left goes to the
    columns whose cells would otherwise wrap, in proportion to their length.
    """
    def longest(cells, measure):
        return max((measure(c) for c in cells), default=1)

    def words(c):
        return max((len(w) for w in _visible(c).split()), default=1)

    cols = list(zip(*body)) if body else [() for _ in header]
    longest_word = [math.ceil(max(_HEADER_SCALE * words(h), longest(col, words))) for h, col in zip(header, cols)]
    longest_cell = [math.ceil(max(_HEADER_SCALE * len(_visible(h)), longest(col, lambda c: len(_visible(c)))))
                    for h, col in zip(header, cols)]
    need = [max(w, 1) + _PADDING_CHARS for w in longest_word]
    for size, chars in LINE_CHARS.items():
        if sum(need) <= chars:
            break
    # else: the smallest size; LaTeX reports what still does not fit and the book build fails on it
    wish = [max(c, 1) + _PADDING_CHARS for c in longest_cell]
    if sum(wish) <= chars:
        return wish, size
    spare = chars - sum(need)
    extra = [w - n for w, n in zip(wish, need)]
    share = [spare * e / sum(extra) if sum(extra) else 0 for e in extra]
    return [n + max(0, math.floor(s)) for n, s in zip(need, share)], size


def markdown_table(header: list[str], body: list[list[str]], caption: str | None = None) -> str:
    """A MyST list-table with computed widths (and a smaller font in the PDF if the table needs one)."""
    widths, size = column_widths(header, body)
    out = []
    if size != "normalsize":
        out += ["```{raw} latex", f"\\begingroup\\{size}", "```", ""]
    out += [f"```{{list-table}} {_cell(caption) if caption else ''}".rstrip(), ":header-rows: 1",
            f":widths: {' '.join(map(str, widths))}", f":class: {TABLE_CLASS}", ""]
    for row in [header, *body]:
        out += [f"* - {_cell(row[0])}"] + [f"  - {_cell(c)}" for c in row[1:]]
    out += ["```"]
    if size != "normalsize":
        out += ["", "```{raw} latex", "\\endgroup", "```"]
    return "\n".join(out) + "\n"


def styler_markdown(sty: Styler) -> str:
    header, body = _rows(sty)
    return markdown_table(header, body, caption=sty.caption)


def dataframe_markdown(df: pd.DataFrame) -> str:
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else v
    return styler_markdown(df.style.format(fmt).format_index(fmt))


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
