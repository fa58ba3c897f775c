#!/usr/bin/env bash
# Set up medflow on a fresh machine: a virtualenv in .venv with the CPU build of
# torch (installed first, pinned, so nothing pulls a CUDA build) and medflow itself.
#   bash scripts/install.sh        # Python only (enough for the Blau-Duncan main job; needs no R)
#   bash scripts/install.sh --r    # also R, lavaan, reticulate, testthat ... from Debian, then
#                                  # the test tools (pytest, rpy2 - which is built against R - and build)
# Any failing pip install stops the script with pip's own error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

with_r=false
case "${1:-}" in
  "") ;;
  --r) with_r=true ;;
  *) echo "install.sh: unknown option '$1' (use no option, or --r for R and the test tools)." >&2; exit 2 ;;
esac

if $with_r; then
  pkgs="r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-lavaan r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown r-cran-ggplot2 pandoc"
  if ! Rscript -e 'for (p in c("lavaan","reticulate","testthat","roxygen2","knitr","rmarkdown","ggplot2")) library(p, character.only=TRUE)' >/dev/null 2>&1 \
     || ! command -v pandoc >/dev/null; then
    echo "== installing R and R packages (apt)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs >/dev/null
  fi
fi

# pip install with its output kept: on failure, pip's own messages and its exit status.
pip_install() {
  local log status=0
  log="$(mktemp)"
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1 || status=$?
  grep -v "^WARNING: Location" "$log" >&2 || true
  rm -f "$log"
  if [ "$status" -ne 0 ]; then
    echo "install.sh: 'pip install $*' failed (exit status $status); pip's messages are above." >&2
    exit "$status"
  fi
}

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
echo "== installing torch (CPU) and medflow into .venv"
pip_install torch==2.13.0
pip_install -e .
if $with_r; then
  echo "== installing the test tools (pytest, rpy2, build) into .venv"
  pip_install -e ".[test]"
fi
.venv/bin/python -c "import medflow, torch; print('medflow', medflow.__version__, '| torch', torch.__version__)"
