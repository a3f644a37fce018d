#!/usr/bin/env bash
# Set up everything sigfactor needs on a fresh Debian machine (Python 3.11, pip, apt):
# R with reticulate and MutationalPatterns from Debian, and .venv/ with the engine (editable).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

R_PKGS="r-base-core r-cran-reticulate r-bioc-mutationalpatterns r-cran-testthat r-cran-nmf"
missing=""
for p in $R_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] && [ "${SIGFACTOR_SKIP_R:-0}" != "1" ]; then
  echo "setup: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# The R extra (rpy2, for .rds catalogues) only where R is installed.
EXTRAS="test"
if command -v R >/dev/null 2>&1; then EXTRAS="test,r"; fi
if ! .venv/bin/python -c "import sigfactor, torch, pytest, sklearn" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.sigfactor-installed ] \
   || [ "$(cat .venv/.sigfactor-installed 2>/dev/null)" != "$EXTRAS" ]; then
  echo "setup: installing the engine into .venv (torch 2.13.0 CPU build; extras: $EXTRAS)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
  echo "$EXTRAS" > .venv/.sigfactor-installed
fi
# Compile the CPU kernels once (numba caches them beside the sources), so the first
# extraction does not spend ~10 s compiling.
.venv/bin/python -c "from sigfactor.models._kl_cpu import warm_up; warm_up()"
echo "setup: ready ($(.venv/bin/python -c 'import sigfactor, torch; print("sigfactor", sigfactor.__version__, "torch", torch.__version__)'))"
