import pytest

from probgen import bookcheck

OFFLINE_PAGE = """<html><head>
<script src="_static/mathjax/tex-chtml.js"></script>
<link rel="stylesheet" href="_static/probgen.css">
<link rel="canonical" href="https://example.org/book/page.html">
<script>var DOCUMENTATION_OPTIONS = {URL_ROOT: './'};</script>
</head><body><a href="https://arxiv.org/abs/2006.11239">DDPM</a><img src="_images/fig.png"></body></html>"""


def test_a_page_that_loads_only_its_own_files_passes():
    assert bookcheck.external_requests(OFFLINE_PAGE) == []


@pytest.mark.parametrize("snippet, found", [
    ('<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"></script>', "require.js"),
    ('<script src="https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@^1.0.1/dist/embed-amd.js"></script>',
     "html-manager"),
    ('<script>const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"</script>', "unpkg.com"),
    ('<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">', "fonts.googleapis.com"),
    ('<img srcset="a.png 1x, https://img.example.com/b.png 2x">', "img.example.com"),
    ('<div style="background: url(https://x.example.com/bg.png)"></div>', "x.example.com"),
    ('<style>@import url("https://fonts.example.com/a.css");</style>', "fonts.example.com"),
    ('<script type="application/vnd.jupyter.widget-state+json">{"state": {}}</script>', "widget state"),
])
def test_every_way_a_page_loads_from_another_host_is_found(snippet, found):
    problems = bookcheck.external_requests(OFFLINE_PAGE.replace("</body>", snippet + "</body>"))
    assert len(problems) == 1 and found in problems[0]


def test_check_html_scans_pages_and_stylesheets(tmp_path):
    (tmp_path / "a.html").write_text(OFFLINE_PAGE)
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.css").write_text("@font-face { src: url('https://fonts.example.com/f.woff2'); }")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.html").write_text('<script src="http://cdn.example.com/x.js"></script>')
    problems = bookcheck.check_html(tmp_path)
    assert len(problems) == 2
    assert any("sub/b.html" in p and "cdn.example.com" in p for p in problems)
    assert any("x.css" in p and "fonts.example.com" in p for p in problems)


TEX = "\n".join([
    r"\chapter{Results}",                                   # 1
    r"\begin{savenotes}\sphinxattablestart",                 # 2
    r"\begin{tabulary}{\linewidth}[t]{TTTT}",               # 3
    r"chapter & quantity & value & seeds \\",               # 4
    r"01\_vae & a long label & -88.1 & 0, 1 \\",            # 5
    r"\end{tabulary}",                                      # 6
    r"\par A long paragraph of prose.",                     # 7
])


def test_an_overfull_table_fails_and_prose_or_small_boxes_do_not():
    log = "\n".join([
        r"Overfull \hbox (151.2pt too wide) in alignment at lines 3--6",
        r"Overfull \hbox (12.0pt too wide) in paragraph at lines 7--7",   # prose: not a table
        r"Overfull \hbox (1.5pt too wide) in paragraph at lines 5--5",    # within the tolerance
    ])
    problems = bookcheck.overfull_tables(log, TEX, limit_pt=3)
    assert len(problems) == 1 and "151.2 pt wider than the text" in problems[0] and "lines 3-6" in problems[0]
    assert bookcheck.overfull_tables(log.splitlines()[1], TEX) == []


def test_table_lines_track_nested_environments():
    assert bookcheck.table_lines(TEX) == {3, 4, 5, 6}


def test_main_reports_and_fails(tmp_path, capsys):
    tex = tmp_path / "book.tex"
    tex.write_text(TEX)
    tex.with_suffix(".log").write_text(r"Overfull \hbox (40.0pt too wide) in alignment at lines 3--6")
    assert bookcheck.main(["latex", str(tex)]) == 1
    assert "wider than the text" in capsys.readouterr().err
    tex.with_suffix(".log").write_text("no problems")
    assert bookcheck.main(["latex", str(tex)]) == 0
