#!/usr/bin/env bash
# Set up medflow on a fresh machine: a virtualenv in .venv with the CPU build of
# torch (installed first, pinned, so nothing pulls a CUDA build) and medflow itself.
#   bash scripts/install.sh        # Python only (enough for the Blau-Duncan main job)
#   bash scripts/install.sh --r    # also R, lavaan, reticulate, testthat ... from Debian
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "${1:-}" = "--r" ]; then
  pkgs="r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-lavaan r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown r-cran-ggplot2 pandoc"
  if ! Rscript -e 'for (p in c("lavaan","reticulate","testthat","roxygen2","knitr","rmarkdown","ggplot2")) library(p, character.only=TRUE)' >/dev/null 2>&1 \
     || ! command -v pandoc >/dev/null; then
    echo "== installing R and R packages (apt)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
echo "== installing torch (CPU) and medflow into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import medflow, torch; print('medflow', medflow.__version__, '| torch', torch.__version__)"
