# probgen: the two commands of the README are `make report` and `make test`.
# Everything else is a step of those two.

PROFILE ?= quick
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The venv's own "python3" kernel must win over any user-wide kernel of that name.
export JUPYTER_PATH := $(abspath $(VENV))/share/jupyter
NOTEBOOKS ?=
PYTEST_ARGS ?=

.PHONY: help install notebooks book html pdf report test test-unit test-notebooks clean-book data-check

help:
	@echo "make report [PROFILE=smoke|quick|full]  install, run every notebook, build HTML + PDF book"
	@echo "make test                               install, run unit tests and the notebooks (smoke) under pytest"
	@echo "make notebooks PROFILE=... [NOTEBOOKS='09_trueskill']   only run notebooks into executed/"
	@echo "make html | make pdf                    only build the book from executed/"
	@echo "make data-check                         list data files found and their checksums"

# The virtualenv is (re)installed when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $(STAMP)

install: $(STAMP)

data-check: $(STAMP)
	$(PY) -m probgen.data check

notebooks: $(STAMP)
	$(PY) -m probgen.run --profile $(PROFILE) $(NOTEBOOKS)

html: $(STAMP)
	VENV=$(VENV) bash book/build.sh html

pdf: $(STAMP)
	VENV=$(VENV) bash book/build.sh pdf

book: html pdf

report: notebooks book
	@echo "report built from the '$(PROFILE)' profile: _build/html/index.html and _build/latex/probgen.pdf"

test-unit: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-notebooks: $(STAMP)
	$(PY) -m pytest --nbmake --nbmake-timeout=1200 notebooks $(PYTEST_ARGS)

# One pytest session, so its closing line counts every test.
test: $(STAMP)
	$(PY) -m pytest tests --nbmake --nbmake-timeout=1200 notebooks $(PYTEST_ARGS)

clean-book:
	rm -rf _build executed
