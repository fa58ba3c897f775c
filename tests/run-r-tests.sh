#!/usr/bin/env bash
# The R side of CI: roxygen output up to date, R CMD build, R CMD check
# --no-manual (0 errors, 0 warnings), and the testthat suite from the source
# tree. Python-backed tests run when RETICULATE_PYTHON (from the environment)
# points at a Python with medflow installed; otherwise they skip.
#
#   bash tests/run-r-tests.sh                # from anywhere in the repository
#   MEDFLOW_R_CHECK_TESTS=false bash tests/run-r-tests.sh   # skip tests inside R CMD check
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export _R_CHECK_FORCE_SUGGESTS_="${_R_CHECK_FORCE_SUGGESTS_:-false}"
export NOT_CRAN=true
echo "R side: RETICULATE_PYTHON=${RETICULATE_PYTHON:-<unset>}"

# 1. NAMESPACE and man/ must be what roxygen2 writes from R/.
echo "== roxygen2: NAMESPACE and man/ up to date"
mkdir "$work/pkg"
(cd "$root" && tar cf - DESCRIPTION NAMESPACE R man) | (cd "$work/pkg" && tar xf -)
[ -d "$root/data" ] && cp -r "$root/data" "$work/pkg/"
Rscript -e 'suppressMessages(roxygen2::roxygenise(commandArgs(TRUE)[1]))' "$work/pkg" >/dev/null
if ! diff -r "$root/man" "$work/pkg/man" || ! diff "$root/NAMESPACE" "$work/pkg/NAMESPACE"; then
  echo "NAMESPACE or man/ is out of date: run Rscript -e 'roxygen2::roxygenise()' and commit." >&2
  exit 1
fi

# 2. R CMD build (builds the vignettes from the precomputed tables). It runs
#    on a copy without .git, virtualenvs and build output (R CMD build copies
#    the whole directory before applying .Rbuildignore). The copy keeps python/
#    and pyproject.toml: R CMD build runs ./cleanup, which bundles them into
#    inst/python (tools/bundle-python.sh), and the tarball must carry them.
echo "== R CMD build"
mkdir "$work/src"
tar -C "$root" --exclude=./.git --exclude=./benchmarks --exclude='*.venv' --exclude='.venv-*' \
  --exclude=./venv --exclude='*.Rcheck' --exclude='medflow_*.tar.gz' --exclude=./inst/python \
  --exclude='__pycache__' --exclude='*.egg-info' --exclude=./build --exclude=./dist \
  -cf - . | tar -C "$work/src" -xf -
(cd "$work" && R CMD build --no-manual "$work/src")
tarball="$(ls "$work"/medflow_*.tar.gz)"
if ! tar -tzf "$tarball" | grep -c '^medflow/inst/python/python/medflow/__init__.py$' >/dev/null; then
  echo "The tarball carries no Python sources (inst/python); see tools/bundle-python.sh." >&2
  exit 1
fi

# 3. R CMD check: fail on any ERROR or WARNING; NOTEs are listed.
echo "== R CMD check --no-manual"
check_args=(--no-manual)
if [ "${MEDFLOW_R_CHECK_TESTS:-true}" = "false" ]; then check_args+=(--no-tests); fi
status=0
(cd "$work" && R CMD check "${check_args[@]}" "$tarball") || status=$?
log="$work/medflow.Rcheck/00check.log"
grep -E "^\* .*\.\.\. (NOTE|WARNING|ERROR)" "$log" || true
if [ "$status" -ne 0 ] || grep -qE "^Status: .*(ERROR|WARNING)" "$log"; then
  echo "R CMD check failed:" >&2
  tail -n 60 "$log" >&2
  for f in "$work"/medflow.Rcheck/tests/*.Rout.fail; do [ -f "$f" ] && tail -n 60 "$f" >&2; done
  exit 1
fi
grep -E "^Status:" "$log"

# 4. The testthat suite from the source tree (also checks the R data against
#    the CSV files of the Python package).
echo "== testthat"
(cd "$root" && Rscript -e 'testthat::test_local(".", reporter = "summary", stop_on_failure = TRUE)')

# 5. A newcomer's install: the tarball into a fresh library, install_medflow()
#    without arguments in a fresh HOME (no RETICULATE_PYTHON, no PYTHONPATH),
#    then a fit from a new R process that finds the environment by itself.
if [ "${MEDFLOW_R_INSTALL_TEST:-true}" = "true" ]; then
  echo "== fresh install: R CMD INSTALL the tarball, install_medflow(), fit in a new R process"
  mkdir "$work/lib" "$work/home"
  fresh=(env -u RETICULATE_PYTHON -u RETICULATE_PYTHON_ENV -u PYTHONPATH -u WORKON_HOME
         -u VIRTUAL_ENV -u R_LIBS_USER HOME="$work/home" R_LIBS="$work/lib")
  R CMD INSTALL --no-test-load --library="$work/lib" "$tarball" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; exit 1; }
  start=$SECONDS
  "${fresh[@]}" Rscript -e 'library(medflow); install_medflow()'
  echo "install_medflow() took $((SECONDS - start)) s"
  "${fresh[@]}" Rscript "$root/tests/fresh-install-fit.R"
fi
