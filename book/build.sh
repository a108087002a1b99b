#!/usr/bin/env bash
# Build the book from the executed notebooks in executed/.
#
#   bash book/build.sh html    HTML only:      _build/html/index.html
#   bash book/build.sh pdf     HTML, then PDF: _build/latex/probgen.pdf (HTML only if TeX is missing)
#
# Run from the repository root (or anywhere: it changes to the root itself).
# The book never executes notebooks: run them first with `make notebooks PROFILE=...`.
# Sphinx warnings are errors (-n -W --keep-going), so a broken reference, a missing
# glue value or a bad include fails the build after reporting every problem.
# MathJax (for offline maths in the HTML) is installed into book/_static/mathjax/ with
# npm on first use; it is git-ignored.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

target="${1:-html}"
case "$target" in
  html|pdf) ;;
  *) echo "usage: bash book/build.sh html|pdf" >&2; exit 2 ;;
esac

VENV="${VENV:-.venv}"
JB="$VENV/bin/jupyter-book"
if [ ! -x "$JB" ]; then
  echo "error: $JB not found; install the environment first (make install)" >&2
  exit 1
fi

TEX_APT="sudo apt-get install -y --no-install-recommends latexmk texlive-latex-extra texlive-xetex texlive-fonts-recommended fonts-freefont-otf"
MATHJAX_VERSION="${MATHJAX_VERSION:-3}"
MATHJAX_DIR="book/_static/mathjax"

# --- every executed/ chapter in _toc.yml must exist --------------------------------------
missing=()
while IFS= read -r entry; do
  [ -f "$entry.ipynb" ] || [ -f "$entry.md" ] || missing+=("$entry.ipynb")
done < <(sed -n 's/^[[:space:]-]*file:[[:space:]]*\(executed\/[^[:space:]#]*\).*/\1/p' _toc.yml | sed 's/\.ipynb$//')
if [ "${#missing[@]}" -gt 0 ]; then
  echo "error: the book renders executed notebooks, and these are missing:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "run the notebooks first: make notebooks PROFILE=smoke|quick|full" >&2
  exit 1
fi

# --- MathJax 3, local copy (the HTML must render maths offline) ----------------------------
if [ ! -f "$MATHJAX_DIR/tex-chtml.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "error: MathJax is not in $MATHJAX_DIR and npm is not available to install it." >&2
    echo "install Node.js and npm (Debian/Ubuntu: sudo apt-get install -y npm) and rerun." >&2
    exit 1
  fi
  echo "installing MathJax $MATHJAX_VERSION from npm into $MATHJAX_DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  tarball="$(cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" | tail -n 1)"
  tar -xzf "$tmp/$tarball" -C "$tmp"
  mkdir -p "$(dirname "$MATHJAX_DIR")"
  rm -rf "$MATHJAX_DIR"
  cp -r "$tmp/package/es5" "$MATHJAX_DIR"
  cp "$tmp/package/LICENSE" "$MATHJAX_DIR/LICENSE"
  rm -rf "$tmp"
  trap - EXIT
  test -f "$MATHJAX_DIR/tex-chtml.js"
fi

# --- HTML ------------------------------------------------------------------------------------
start=$(date +%s)
"$JB" build . --builder html -n -W --keep-going
# The maths must come from the local copy, never from a CDN.
if grep -rl --include='*.html' 'cdn.jsdelivr.net/npm/mathjax' _build/html >/dev/null; then
  echo "error: the HTML loads MathJax from a CDN; check mathjax_path in _config.yml" >&2
  exit 1
fi
echo "HTML built in $(( $(date +%s) - start )) s: _build/html/index.html"

[ "$target" = pdf ] || exit 0

# --- PDF (xelatex via latexmk) ---------------------------------------------------------------
if ! command -v xelatex >/dev/null || ! command -v latexmk >/dev/null; then
  echo "note: xelatex or latexmk is missing, so only the HTML was built."
  echo "to build the PDF, install TeX (Debian/Ubuntu) and rerun:"
  echo "  $TEX_APT"
  exit 0
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
echo "PDF built in $(( $(date +%s) - start )) s: _build/latex/probgen.pdf"
