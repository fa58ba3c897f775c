#!/usr/bin/env bash
# Counts the carriage returns (progress-bar redraws) that `medflow fit` leaves in a
# log file when its output is redirected (issue 15). A bar belongs on a terminal only,
# so the count should be 0.
#   bash benchmarks/progress_in_logs.sh [PYTHON]      # default: .venv/bin/python
#   MEDFLOW_ROOT=/path/to/other/checkout bash benchmarks/progress_in_logs.sh PYTHON   # before/after
set -euo pipefail
root="${MEDFLOW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"   # MEDFLOW_ROOT: another checkout
py="${1:-$root/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$py" - "$work/small.csv" <<'PY'
import sys
import numpy as np, pandas as pd
rng = np.random.default_rng(0); n = 600
x = rng.normal(size=n); m = 0.5 * x + rng.normal(size=n); y = 0.3 * m + 0.2 * x + rng.normal(size=n)
pd.DataFrame(dict(X=x, M=m, Y=y)).to_csv(sys.argv[1], index=False)
PY
start=$SECONDS
(cd "$work" && PYTHONPATH="$root/python" MPLBACKEND=Agg "$py" -m medflow.cli fit --csv small.csv \
   --model "M ~ X; Y ~ X + M" --treatment X --outcome Y --mediator M --boot 4 --out rep \
   >"$work/log.txt" 2>&1)
echo "medflow fit (N = 600, 4 bootstrap refits), output redirected to a file: $((SECONDS - start)) s," \
     "$(tr -cd '\r' <"$work/log.txt" | wc -c) carriage returns in the log"
