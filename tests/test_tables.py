import pandas as pd
import pytest

from probgen import tables


def _cells(md: str) -> list[list[str]]:
    """The rows of a MyST list-table as lists of cell texts."""
    rows, body = [], md.split(":class: probgen-table\n", 1)[1].split("```")[0]
    for line in body.strip().splitlines():
        if line.startswith("* - "):
            rows.append([line[4:]])
        elif line.startswith("  - "):
            rows[-1].append(line[4:])
    return rows


def test_styler_markdown_keeps_format_hidden_index_and_maths():
    df = pd.DataFrame({"player": ["a_b", "c"], r"$\mu - 3\sigma$": [1.23456, 2.0]})
    md = tables.styler_markdown(df.style.format(precision=2).hide(axis="index"))
    assert md.startswith("```{list-table}\n:header-rows: 1\n:widths: ")
    assert _cells(md) == [["player", r"$\mu - 3\sigma$"], [r"a\_b", "1.23"], ["c", "2.00"]]


def test_dataframe_markdown_includes_index():
    md = tables.dataframe_markdown(pd.DataFrame({"x": [0.5]}, index=["r"]))
    assert _cells(md)[1] == ["r", "0.5"]


def test_cells_that_would_start_a_markdown_list_are_escaped():
    md = tables.dataframe_markdown(pd.DataFrame({"ELBO": [-88.2], "step": ["3. late"]}).set_index("ELBO"))
    assert _cells(md) == [["ELBO", "step"], [r"\-88.2", r"3\. late"]]


def test_show_formats_every_column_in_one_pass():
    # pandas: .format(precision=3).format({"b": ...}) resets column a to 6 decimals; show() must not.
    df = pd.DataFrame({"a": [0.123456789], "b": [1234.5], "n": [3], "s": ["x"]})
    sty = tables.show(df, formats={"b": "{:.2e}"}, precision=3)
    assert _cells(tables.styler_markdown(sty))[1] == ["0.123", "1.23e+03", "3", "x"]
    html = sty.to_html()
    assert 'class="probgen-table"' in html and "0.123457" not in html and ">0.123<" in html


def test_show_refuses_formats_for_missing_columns():
    with pytest.raises(KeyError, match="formats names column\\(s\\) \\['FID'\\]"):
        tables.show(pd.DataFrame({"a": [1.0]}), formats={"FID": "{:.2f}"})


def test_column_widths_fit_the_line_and_never_cut_a_word():
    header = ["chapter", "quantity", "value", "seeds"]
    body = [["01_vae_priors", "test ELBO of the flow prior, mean over 5 seeds, IWAE with K = 1000 samples " * 2,
             "-88.13", "0, 1, 2, 3, 4"]]
    widths, size = tables.column_widths(header, body)
    assert size == "normalsize" and sum(widths) <= tables.LINE_CHARS["normalsize"]
    longest_words = [7, 7, 6, 5]  # "chapter", "samples", "-88.13", "seeds"
    assert all(w >= n + 2 for w, n in zip(widths, [13, 7, 6, 5])) and widths[1] > widths[0]
    assert longest_words  # the long label gets the room that is left


def test_a_table_of_many_columns_gets_a_smaller_font():
    header = [f"column number {i}" for i in range(9)]
    widths, size = tables.column_widths(header, [["1234567890"] * 9])
    assert size in ("small", "footnotesize", "scriptsize")
    md = tables.markdown_table(header, [["1234567890"] * 9])
    assert f"\\begingroup\\{size}" in md and md.rstrip().endswith("\\endgroup\n```".rstrip())


def test_a_multiindex_keeps_every_row_aligned():
    idx = pd.MultiIndex.from_tuples([("ring", "truth"), ("ring", "ddpm"), ("circle", "truth")], names=["family", "model"])
    df = pd.DataFrame({"coverage": [1.0, 0.5, 1.0], "mass error": [0.02, 0.04, 0.03]}, index=idx)
    rows = _cells(tables.styler_markdown(tables.show(df, index=True)))
    assert rows == [["family", "model", "coverage", "mass error"], ["ring", "truth", "1.000", "0.020"],
                    ["ring", "ddpm", "0.500", "0.040"], ["circle", "truth", "1.000", "0.030"]]
