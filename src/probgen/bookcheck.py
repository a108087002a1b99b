"""Checks of the built book that Sphinx does not make (run by `book/build.sh`).

    python -m probgen.bookcheck html  _build/html                       # nothing is loaded from another host
    python -m probgen.bookcheck latex _build/latex/probgen.tex --limit-pt 3   # every table fits the text width

- **Offline HTML.** A page must not load anything from outside the build: no
  `<script src>`, stylesheet, image, font, frame or media from another host,
  no such URL in inline scripts or inline styles, and no Jupyter widget state
  (whose renderer fetches require.js and the widget manager from CDNs). Links
  a reader may click (`<a href>`) are not requests and are allowed.
- **Tables that fit.** LaTeX reports a table wider than the text as an
  "Overfull \\hbox" in its log, and the columns beyond the margin are cut from
  the page and from its text layer. Every overfull box whose source lines lie
  in a table environment and that is wider than a few points fails the build.
"""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

# Attributes through which a browser fetches something when it renders the page.
_FETCHING = {
    "script": ("src",), "img": ("src", "srcset"), "iframe": ("src",), "frame": ("src",), "embed": ("src",),
    "object": ("data",), "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",),
    "track": ("src",), "input": ("src",),
}
_FETCHING_LINK_RELS = {"stylesheet", "preload", "prefetch", "modulepreload", "icon", "shortcut", "manifest",
                       "apple-touch-icon", "preconnect", "dns-prefetch", "mask-icon"}
_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>)]*""")
_CSS_URL = re.compile(r"""url\(\s*['"]?((?:https?:)?//[^'")\s]+)""")
_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]((?:https?:)?//[^'"]+)""")
WIDGET_MIME = "application/vnd.jupyter.widget-state+json"


def _external(url: str) -> bool:
    url = url.strip()
    return url.startswith(("http://", "https://", "//"))


class _PageScanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        names = _FETCHING.get(tag, ())
        if tag == "link" and set((attrs.get("rel") or "").lower().split()) & _FETCHING_LINK_RELS:
            names = ("href",)
        for name in names:
            for url in re.split(r",\s*", attrs.get(name) or ""):
                url = url.split()[0] if url.split() else ""
                if _external(url):
                    self.found.append(f"<{tag} {name}={url}>")
        for url in _css_urls(attrs.get("style") or ""):
            self.found.append(f"<{tag} style=url({url})>")
        if tag == "script":
            self._in_script = True
            if (attrs.get("type") or "") == WIDGET_MIME:
                self.found.append("Jupyter widget state (its renderer loads require.js and the widget manager from CDNs)")
        if tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_script:
            self.found += [f"inline script loads {u}" for u in _URL.findall(data) if _external(u)]
        elif self._in_style:
            self.found += [f"inline style loads {u}" for u in _css_urls(data)]


def external_requests(html: str) -> list[str]:
    """What rendering `html` would fetch from another host (empty if nothing)."""
    scanner = _PageScanner()
    scanner.feed(html)
    scanner.close()
    return scanner.found


def _css_urls(css: str) -> list[str]:
    """URLs on other hosts that CSS fetches (url(...) and @import), each once."""
    return sorted(set(_CSS_URL.findall(css) + _IMPORT.findall(css)))


def css_external_requests(css: str) -> list[str]:
    return [f"stylesheet loads {u}" for u in _css_urls(css)]


def check_html(folder: Path) -> list[str]:
    """`file: what it loads` for every page and stylesheet of the build that loads something from another host."""
    problems = []
    for page in sorted(Path(folder).rglob("*.html")):
        problems += [f"{page}: {item}" for item in external_requests(page.read_text(errors="replace"))]
    for sheet in sorted(Path(folder).rglob("*.css")):
        problems += [f"{sheet}: {item}" for item in css_external_requests(sheet.read_text(errors="replace"))]
    return problems


_TABLE_BEGIN = re.compile(r"\\begin\{(tabular\*?|tabulary|tabularx|longtable|sphinxtable)\}")
_TABLE_END = re.compile(r"\\end\{(tabular\*?|tabulary|tabularx|longtable|sphinxtable)\}")
_OVERFULL = re.compile(r"Overfull \\hbox \((?P<pt>[0-9.]+)pt too wide\) (?:in paragraph|in alignment|detected) "
                       r"at lines? (?P<a>\d+)(?:--(?P<b>\d+))?")


def table_lines(tex: str) -> set[int]:
    """Line numbers (1-based) of `tex` that lie inside a table environment."""
    inside, depth = set(), 0
    for number, line in enumerate(tex.splitlines(), 1):
        depth += len(_TABLE_BEGIN.findall(line))
        if depth > 0:
            inside.add(number)
        depth = max(0, depth - len(_TABLE_END.findall(line)))
    return inside


def overfull_tables(log: str, tex: str, limit_pt: float = 3.0) -> list[str]:
    """The overfull boxes of the main .tex file wider than `limit_pt` whose source lines are in a table.

    LaTeX names lines of the file it was reading; a log also covers other files
    (the class, packages), so only boxes whose line range falls inside a table
    of `tex` count. Long log lines are wrapped by TeX at 79 characters, so the log is unwrapped first.
    """
    inside = table_lines(tex)
    src = tex.splitlines()
    problems = []
    for m in _OVERFULL.finditer(_unwrap(log)):
        a = int(m["a"])
        b = int(m["b"] or a)
        if float(m["pt"]) > limit_pt and any(n in inside for n in range(a, b + 1)):
            snippet = " ".join(s.strip() for s in src[a - 1:min(b, a + 2)])[:160]
            problems.append(f"a table is {m['pt']} pt wider than the text (probgen.tex lines {a}-{b}: {snippet})")
    return problems


def _unwrap(log: str) -> str:
    """TeX wraps its log at 79 columns; join the wrapped pieces back."""
    return re.sub(r"(?m)^(.{79})\n", r"\1", log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probgen.bookcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    h = sub.add_parser("html", help="fail if a page loads anything from another host")
    h.add_argument("folder", type=Path)
    t = sub.add_parser("latex", help="fail if a table is wider than the text")
    t.add_argument("tex", type=Path)
    t.add_argument("--limit-pt", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.what == "html":
        problems = check_html(args.folder)
        what = "pages of the HTML load something from outside the build (the book must work offline)"
        fix = ("remove the output that needs it (progress widgets: use probgen.runtime.progress), or serve the "
               "file from book/_static")
    else:
        log = args.tex.with_suffix(".log").read_text(errors="replace")
        problems = overfull_tables(log, args.tex.read_text(errors="replace"), args.limit_pt)
        what = f"tables in the PDF are wider than the text by more than {args.limit_pt:g} pt (their right columns are cut off)"
        fix = "give the table fewer or narrower columns (probgen.tables.show wraps long labels)"
    if problems:
        print(f"error: {len(problems)} {what}:", file=sys.stderr)
        for p in problems[:50]:
            print("  " + p, file=sys.stderr)
        print(f"fix: {fix}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
