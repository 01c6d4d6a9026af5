# Two commands for a newcomer:  make report   and   make test
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2

.PHONY: setup browser report test lab bench notebooks clean-reports

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name evaluation --display-name "Python (evaluation)" >/dev/null
	touch $(STAMP)

setup: $(STAMP) browser

## headless Chromium for the browser check in the tests (Debian package; installed when root)
browser:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y --no-install-recommends chromium || \
	  { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	else echo "Chromium missing: run 'sudo apt-get install chromium' (tests/test_summary.py needs it)"; fi; }

## generate the synthetic data if absent and render every params/*.yaml into reports/
report: setup
	$(BIN)/python -m evaluation render params/ --jobs $(JOBS)

## the whole test suite (package, reference replications, notebooks with nbval, renders)
test: setup
	$(BIN)/python -m pytest

## optional: JupyterLab on the notebooks
lab: setup
	$(BIN)/jupyter lab notebooks/

## after editing notebooks/*.py: re-execute them into the paired .ipynb that nbval checks
notebooks: setup
	$(BIN)/python -m evaluation notebooks

## benchmarks against peer libraries (installs the optional peers)
bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-reports:
	rm -rf reports/
