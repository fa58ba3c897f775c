#!/usr/bin/env bash
# Run every test: set up (R + Python), lint the Python code (ruff), then the Python suite (pytest, which also
# checks the linear SEM against lavaan through rpy2), the Python distributions
# (scripts/check-dist.sh) and the R side (roxygen up to date, R CMD build,
# R CMD check, testthat, and a fresh install of the R package with
# install_medflow(): tests/run-r-tests.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install.sh --r
echo "== installing the test extra dask[distributed] (the Dask cluster test)"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,dask]" 2>&1 | grep -v "^WARNING: Location" || true
export RETICULATE_PYTHON="$root/.venv/bin/python"
export MPLBACKEND=Agg
echo "== Lint (ruff; the rules are [tool.ruff] in pyproject.toml)"
.venv/bin/python -m ruff --version >/dev/null 2>&1 \
  || .venv/bin/python -m pip install -q --disable-pip-version-check "ruff>=0.6" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m ruff check --no-cache .
echo "== Python tests"
# two pytest-xdist workers with one torch thread each: on a 2-core machine the suite takes about 0.6
# of the time it takes in one process with two threads (MEDFLOW_TEST_WORKERS sets the count; 0: one process)
OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -p no:cacheprovider -n "${MEDFLOW_TEST_WORKERS:-2}"
echo "== Python distributions (python -m build; wheel and sdist into clean virtualenvs)"
bash scripts/check-dist.sh
echo "== R tests"
MEDFLOW_R_CHECK_TESTS="${MEDFLOW_R_CHECK_TESTS:-false}" bash tests/run-r-tests.sh
