#!/bin/sh
# Put the Python package's sources into the R package (inst/python), so that the
# installed R package carries them and install_medflow() installs from them offline,
# at the same version. Run by ./configure (R CMD INSTALL of a source directory) and
# ./cleanup (which R CMD build runs on its copy of the repository, before
# .Rbuildignore drops python/ and pyproject.toml). The copy is generated, never
# edited by hand, and ignored by git.
#
# In a tarball (no python/ beside DESCRIPTION) the copy made at build time is kept.
set -e
if [ ! -f python/medflow/__init__.py ] || [ ! -f pyproject.toml ]; then
  if [ ! -f inst/python/pyproject.toml ]; then
    echo "medflow: no Python sources to bundle (python/ and inst/python/ are absent);" \
         "install_medflow() will need path = or from_index = TRUE." >&2
  fi
  exit 0
fi
rm -rf inst/python
mkdir -p inst/python/python
cp pyproject.toml inst/python/
[ -f README.md ] && cp README.md inst/python/
[ -f LICENSE ] && cp LICENSE inst/python/
# The package tree without byte code, build output or editable-install metadata.
(cd python && find medflow -type f ! -path '*__pycache__*' ! -name '*.pyc' ! -name '*.egg-info' \
   ! -path '*.egg-info/*' -print) | while IFS= read -r f; do
  mkdir -p "inst/python/python/$(dirname "$f")"
  cp "python/$f" "inst/python/python/$f"
done
