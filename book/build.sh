#!/usr/bin/env bash
# Build the book from the executed notebooks in executed/.
#
#   bash book/build.sh html    HTML only:      _build/html/index.html
#   bash book/build.sh pdf     HTML, then PDF: _build/latex/probgen.pdf (HTML only if TeX is missing)
#
# Run from the repository root (or anywhere: it changes to the root itself).
# The book never executes notebooks: run them first with `make notebooks PROFILE=...`.
# It refuses to build (naming each notebook and the command that reruns it) when a chapter
# of _toc.yml is missing from executed/, was not run by `python -m probgen.run`, records
# a failed or unfinished run, or when the results page is older than a chapter.
# Sphinx warnings are errors (-n -W --keep-going), so a broken reference, a missing
# glue value or a bad include fails the build after reporting every problem.
# After building it fails when
#   - an HTML page loads anything from another host (the book must work offline);
#   - the PDF shows an object's repr instead of a table, has a table wider than the
#     text by more than TABLE_OVERFULL_PT, or lacks a glyph of its fonts.
# MathJax (for offline maths in the HTML) is installed into book/_static/mathjax/ from npm
# on first use, at a pinned version whose tarball checksum is verified; it is git-ignored.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${1:-html}"
case "$target" in
  html|pdf) ;;
  *) echo "usage: bash book/build.sh html|pdf" >&2; exit 2 ;;
esac

VENV="${VENV:-.venv}"
JB="$VENV/bin/jupyter-book"
PY="$VENV/bin/python"
if [ ! -x "$JB" ]; then
  echo "error: $JB not found; install the environment first (make install)" >&2
  exit 1
fi

TEX_APT="sudo apt-get install -y --no-install-recommends latexmk texlive-latex-extra texlive-xetex texlive-fonts-recommended fonts-freefont-otf fonts-dejavu-core"
MATHJAX_VERSION="3.2.2"
# npm's integrity string of mathjax-3.2.2.tgz (`npm view mathjax@3.2.2 dist.integrity`).
MATHJAX_INTEGRITY="sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
MATHJAX_DIR="book/_static/mathjax"
TABLE_OVERFULL_PT="${TABLE_OVERFULL_PT:-3}"

# --- every executed/ chapter in _toc.yml must be a complete, successful run ---------------
"$PY" -m probgen.run --check

# --- MathJax, local copy (the HTML must render maths offline) ------------------------------
if [ ! -f "$MATHJAX_DIR/tex-chtml.js" ] || [ "$(cat "$MATHJAX_DIR/VERSION" 2>/dev/null)" != "$MATHJAX_VERSION" ]; then
  if ! command -v npm >/dev/null; then
    echo "error: MathJax $MATHJAX_VERSION is not in $MATHJAX_DIR and npm is not available to install it." >&2
    echo "install Node.js and npm (Debian/Ubuntu: sudo apt-get install -y npm) and rerun." >&2
    exit 1
  fi
  echo "installing MathJax $MATHJAX_VERSION from npm into $MATHJAX_DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  tarball="$(cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" | tail -n 1)"
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
  if [ "$got" != "$MATHJAX_INTEGRITY" ]; then
    echo "error: $tarball has checksum $got, expected $MATHJAX_INTEGRITY; not installing it." >&2
    exit 1
  fi
  tar -xzf "$tmp/$tarball" -C "$tmp"
  mkdir -p "$(dirname "$MATHJAX_DIR")"
  rm -rf "$MATHJAX_DIR"
  cp -r "$tmp/package/es5" "$MATHJAX_DIR"
  cp "$tmp/package/LICENSE" "$MATHJAX_DIR/LICENSE"
  echo "$MATHJAX_VERSION" > "$MATHJAX_DIR/VERSION"
  rm -rf "$tmp"
  trap - EXIT
  test -f "$MATHJAX_DIR/tex-chtml.js"
fi

# --- HTML ------------------------------------------------------------------------------------
start=$(date +%s)
"$JB" build . --builder html -n -W --keep-going
# Nothing may come from another host: no CDN scripts (MathJax, require.js, widgets), fonts or images.
"$PY" -m probgen.bookcheck html _build/html
echo "HTML built in $(( $(date +%s) - start )) s: _build/html/index.html"

[ "$target" = pdf ] || exit 0

# --- PDF (xelatex via latexmk) ---------------------------------------------------------------
if ! command -v xelatex >/dev/null || ! command -v latexmk >/dev/null; then
  echo "note: xelatex or latexmk is missing, so only the HTML was built."
  echo "to build the PDF, install TeX (Debian/Ubuntu) and rerun:"
  echo "  $TEX_APT"
  exit 0
fi
if [ -z "$(fc-list "DejaVu Sans Mono" 2>/dev/null)" ]; then
  echo "error: the PDF sets code in DejaVu Sans Mono, which is not installed; install it and rerun:" >&2
  echo "  $TEX_APT" >&2
  exit 1
fi
start=$(date +%s)
rm -f _build/latex/probgen.pdf
"$JB" build . --builder pdflatex -n -W --keep-going
test -s _build/latex/probgen.pdf
# The LaTeX builder ignores text/html, so an output with only HTML and a text/plain repr
# (e.g. a pandas Styler) appears as "<... object at 0x...>" in the PDF. Fail on it: such
# outputs need a text/markdown (or image) representation as well.
if grep -nE ' at 0x[0-9a-f]+(>|\\PYGZgt)' _build/latex/probgen.tex >&2; then
  echo "error: the PDF shows the repr of an object (above) instead of a table or figure;" >&2
  echo "give that output a text/markdown representation (pandas tables: see book/README.md)" >&2
  exit 1
fi
# A table wider than the text loses its right columns, even from the PDF's text layer.
"$PY" -m probgen.bookcheck latex _build/latex/probgen.tex --limit-pt "$TABLE_OVERFULL_PT"
# xelatex drops a character its font lacks and only says so in the log.
if grep -n "Missing character" _build/latex/probgen.log >&2; then
  echo "error: the PDF lacks the characters above (the font has no glyph for them); use a font that has" >&2
  echo "them (latex_elements.fontpkg in _config.yml) or write them differently" >&2
  exit 1
fi
echo "PDF built in $(( $(date +%s) - start )) s: _build/latex/probgen.pdf"
