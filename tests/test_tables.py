import pandas as pd

from probgen import tables


def test_styler_markdown_keeps_format_hidden_index_and_maths():
    df = pd.DataFrame({"player": ["a_b", "c"], r"$\mu - 3\sigma$": [1.23456, 2.0]})
    md = tables.styler_markdown(df.style.format(precision=2).hide(axis="index"))
    lines = md.strip().split("\n")
    assert lines[0] == r"| player | $\mu - 3\sigma$ |"
    assert lines[1] == "|---|---|"
    assert lines[2] == r"| a\_b | 1.23 |"  # markdown escaped outside maths, 2 decimals kept
    assert len(lines) == 4


def test_dataframe_markdown_includes_index():
    md = tables.dataframe_markdown(pd.DataFrame({"x": [0.5]}, index=["r"]))
    assert md.strip().split("\n")[2] == "| r | 0.5 |"
