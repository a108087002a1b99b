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
# Where torch comes from. Empty: the default index (on this project's machines that is the CPU build).
# Elsewhere, the CPU-only build: TORCH_INDEX=https://download.pytorch.org/whl/cpu
#            a CUDA build:      TORCH_INDEX=https://download.pytorch.org/whl/cu128   (see README "Installation notes")
TORCH_INDEX ?=
TORCH_PIN = $(shell sed -n 's/^\(torch==[^ +]*\).*/\1/p' requirements.lock)

.PHONY: help install data notebooks book html pdf report test test-unit test-notebooks clean-book data-check lock check-reference sweep aggregate gpu-wheels gpu-check

help:
	@echo "make report [PROFILE=smoke|quick|full]  install, run every notebook, build HTML + PDF book"
	@echo "make test                               install, run unit tests and the notebooks (smoke) under pytest"
	@echo "make notebooks PROFILE=... [NOTEBOOKS='09_trueskill']   only run notebooks into executed/"
	@echo "make html | make pdf                    only build the book from executed/"
	@echo "make check-reference PROFILE=quick      does this checkout's quick run reproduce results/reference/quick/ ?"
	@echo "make sweep PROFILE=... NOTEBOOKS=... SWEEP=\"seed=0,1,2\"   run a sweep into runs/ (make aggregate: its table)"
	@echo "make gpu-wheels                         what the GPU machine lacks: wheels into .whl/, the data into .gpudata/ (README: GPU check)"
	@echo "make gpu-check [DEVICE=cpu]             the prepared GPU check on this machine, into gpucheck-out/"
	@echo "make data                               download missing data files (checksums verified); offline, say what goes where"
	@echo "make data-check                         list data files found and their checksums; say what to do for the others"
	@echo "make lock                               re-resolve requirements.txt into requirements.lock (after editing it)"
	@echo "variables: PROFILE, NOTEBOOKS, SWEEP, SWEEP_ARGS, PYTEST_ARGS, TORCH_INDEX (e.g. https://download.pytorch.org/whl/cpu)"

# The virtualenv is (re)installed from the lock when requirements.lock or pyproject.toml change.
# With TORCH_INDEX, torch (the lock's version) comes from that index first; the lock then finds it installed.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet "$(TORCH_PIN)" --index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $(STAMP)

install: $(STAMP)

# Every data file present with its md5, downloading what is missing; offline it fails with where each
# missing file goes, its checksums and what to do. Quiet when all is there. `make test` does not need it.
data: $(STAMP)
	$(PY) -m probgen.data ensure

data-check: $(STAMP)
	$(PY) -m probgen.data check

notebooks: $(STAMP) data
	$(PY) -m probgen.run --profile $(PROFILE) $(NOTEBOOKS)

html: $(STAMP)
	VENV=$(VENV) bash book/build.sh html

pdf: $(STAMP)
	VENV=$(VENV) bash book/build.sh pdf

# build.sh pdf builds the HTML first (and only the HTML when TeX is missing).
book: pdf

# Exit status 1 when a headline number deviates from the committed reference beyond its stated uncertainty.
check-reference: $(STAMP)
	$(PY) -m probgen.reference compare --profile $(PROFILE)

# A sweep: every combination of SWEEP's values, each run into runs/<profile>/<chapter>/<values>/ (README: Sweeps).
#   make sweep PROFILE=quick NOTEBOOKS="09_trueskill 08" SWEEP="seed=0,1,2"   [SWEEP_ARGS="--workers 1"]
sweep: $(STAMP) data
	@test -n "$(SWEEP)" || { echo 'make sweep needs SWEEP, e.g. SWEEP="seed=0,1,2"'; exit 2; }
	$(PY) -m probgen.run --profile $(PROFILE) $(NOTEBOOKS) $(foreach s,$(SWEEP),--sweep $(s)) $(SWEEP_ARGS)

aggregate: $(STAMP)
	$(PY) -m probgen.run aggregate $(NOTEBOOKS) --profile $(PROFILE)

# The prepared GPU check (README: "The GPU check"). gpu-wheels fills the two git-ignored folders a device
# call carries: .whl/ (CPython 3.12 wheels of the notebook stack the GPU image lacks) and .gpudata/ (the data).
DEVICE ?= auto
gpu-wheels: $(STAMP) data
	rm -rf .whl && $(PY) -m probgen.gpucheck wheels --dest .whl
	rm -rf .gpudata && cp -rL "$$($(PY) -c 'from probgen import paths; print(paths.data_dir())')" .gpudata
	@du -sh .whl .gpudata

gpu-check: $(STAMP) data
	$(PY) -m probgen.gpucheck run --out gpucheck-out --device $(DEVICE)

report: notebooks book
	@echo "report built from the '$(PROFILE)' profile: _build/html/index.html and _build/latex/probgen.pdf"

test-unit: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

# The notebooks under test write their results files, figures and runs into a temporary folder, so a test
# run never replaces the numbers of a report run (the model cache is shared: smoke models are reused).
ISOLATED = tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && PROBGEN_RESULTS=$$tmp/results PROBGEN_FIGURES=$$tmp/figures PROBGEN_RUNS=$$tmp/runs

test-notebooks: $(STAMP)
	$(ISOLATED) $(PY) -m pytest --nbmake --nbmake-timeout=1200 notebooks $(PYTEST_ARGS)

# One pytest session, so its closing line counts every test.
test: $(STAMP)
	$(ISOLATED) $(PY) -m pytest tests --nbmake --nbmake-timeout=1200 notebooks $(PYTEST_ARGS)

clean-book:
	rm -rf _build executed

# Re-resolve requirements.txt in a throwaway virtualenv and pin every package in requirements.lock.
# torch is written without its local label (+cpu) and the CUDA-only packages are left out, so one lock
# serves the CPU and the CUDA builds: TORCH_INDEX picks the build at install time.
# Run it on Linux x86_64 with the Python the lock is for (the header records both).
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	$(if $(TORCH_INDEX),"$$tmp/venv/bin/python" -m pip install --quiet "$$(sed -n 's/^\(torch==[^ ]*\).*/\1/p' requirements.txt)" --index-url $(TORCH_INDEX);) \
	"$$tmp/venv/bin/python" -m pip install --quiet -r requirements.txt; \
	{ echo "# requirements.lock: every package the report uses, at the exact version it was built and tested with."; \
	  echo "# \`make\` installs from this file; requirements.txt is the human-readable list it was resolved from."; \
	  echo "# Made by \`make lock\`: a fresh virtualenv, pip install -r requirements.txt, pip freeze --exclude-editable,"; \
	  echo "# then torch's local label (+cpu) dropped and CUDA-only packages (nvidia-*, triton) left out, so the"; \
	  echo "# same lock serves the CPU and CUDA builds of torch (TORCH_INDEX picks one; see README)."; \
	  echo "# To change a requirement: edit requirements.txt, run \`make lock\`, commit both (tests/test_lock.py checks)."; \
	  "$$tmp/venv/bin/python" -c 'import platform as p; print(f"# Resolved on {p.python_implementation()} {p.python_version()}, {p.system()} {p.machine()}.")'; \
	  "$$tmp/venv/bin/python" -m pip freeze --exclude-editable \
	    | sed -e 's/^\(torch==[^+]*\)+.*/\1/' -e '/^nvidia-/d' -e '/^triton==/d'; \
	} > requirements.lock.new; \
	mv requirements.lock.new requirements.lock; \
	echo "wrote requirements.lock ($$(grep -vc '^#' requirements.lock) packages)"
