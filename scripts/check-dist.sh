#!/usr/bin/env bash
# The Python distributions: `python -m build` makes a wheel and an sdist; each is
# installed into a clean virtualenv (no repository on sys.path, run from another
# folder) and must import, find its bundled data files and run the `medflow` command.
# Each check also reads direct_url.json (PEP 610) to see that medflow came from that file.
#   bash scripts/check-dist.sh        # needs .venv with `build` (bash scripts/install.sh --r)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py="${MEDFLOW_BUILD_PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="${PYTHON:-python3}"

echo "== python -m build (wheel and sdist)"
# Built from a copy without build output, so nothing stale gets in.
mkdir "$work/src"
tar -C "$root" --exclude=./.git --exclude='*.venv' --exclude='.venv-*' --exclude='__pycache__' \
  --exclude='*.egg-info' --exclude=./build --exclude=./dist --exclude=./inst/python \
  -cf - pyproject.toml README.md LICENSE python | tar -C "$work/src" -xf -
"$py" -m build --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; echo "python -m build failed." >&2; exit 1; }
wheel="$(ls "$work"/dist/medflow-*.whl)"
sdist="$(ls "$work"/dist/medflow-*.tar.gz)"
echo "built $(basename "$wheel") and $(basename "$sdist")"
for f in blau_duncan_correlations.csv blau_duncan_synthetic.csv blau_duncan_truth.csv dgp_truths.csv; do
  "$py" -m zipfile -l "$wheel" | grep -c "medflow/data/$f" >/dev/null \
    || { echo "the wheel lacks medflow/data/$f" >&2; exit 1; }
  tar -tzf "$sdist" | grep -c "python/medflow/data/$f" >/dev/null \
    || { echo "the sdist lacks python/medflow/data/$f" >&2; exit 1; }
done

# Installs into the clean virtualenv and checks from a folder outside the repository.
# The wheel comes first, with its dependencies; the sdist then replaces medflow in the
# same environment (--force-reinstall --no-deps: its dependencies are the same
# metadata, and a second PyTorch install would only cost time).
venv="$work/venv"
"${PYTHON:-python3}" -m venv "$venv"
check_install() {
  local what="$1" dist="$2"
  echo "== $what into a clean virtualenv"
  local args=(torch==2.13.0 "$dist")
  [ "$what" = sdist ] && args=(--force-reinstall --no-deps "$dist")
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}" \
    >"$work/pip-$what.log" 2>&1 || { cat "$work/pip-$what.log" >&2; exit 1; }
  (cd "$work" && env -u PYTHONPATH "$venv/bin/python" - "$venv" "$(basename "$dist")" <<'PY'
import importlib.metadata, pathlib, sys
import medflow as mf
venv = pathlib.Path(sys.argv[1]).resolve()
origin = importlib.metadata.distribution("medflow").read_text("direct_url.json") or ""
assert sys.argv[2] in origin, f"medflow was not installed from {sys.argv[2]}: {origin}"
where = pathlib.Path(mf.__file__).resolve()
assert venv in where.parents, f"medflow imported from {where}, not from the clean virtualenv"
data = mf.datasets.blau_duncan_synthetic()
assert data.shape == (20700, 5), data.shape
cor = mf.datasets.blau_duncan_correlations()
assert cor.shape == (5, 5), cor.shape
print(f"medflow {mf.__version__} from {where.parent}: data files found")
PY
  )
  (cd "$work" && env -u PYTHONPATH "$venv/bin/medflow" --help >"$work/help.txt") \
    || { echo "the medflow command failed" >&2; exit 1; }
  grep -q "blau-duncan" "$work/help.txt" || { echo "medflow --help lists no blau-duncan" >&2; exit 1; }
  echo "the medflow command works"
}
check_install wheel "$wheel"
check_install sdist "$sdist"
