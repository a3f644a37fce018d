#!/usr/bin/env bash
# Set up everything sigfactor needs on a fresh Debian machine (Python 3.11, pip, apt):
# R with reticulate and MutationalPatterns from Debian, and .venv/ with the engine (editable).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# R and the R package's dependencies (Imports, Suggests, vignette building, R CMD check and
# BiocCheck), all from Debian: CRAN and Bioconductor servers are not needed.
R_PKGS="r-base-core r-cran-reticulate r-bioc-mutationalpatterns r-cran-testthat r-cran-nmf \
r-cran-cli r-cran-jsonlite r-bioc-summarizedexperiment r-bioc-rhdf5 r-cran-knitr r-cran-rmarkdown \
pandoc r-cran-pkgload r-bioc-bioccheck"
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
# The R package, installed from this tree into R's site library (again whenever its sources
# change), so that library(sigfactor) works in any R session.
if command -v R >/dev/null 2>&1 && [ "${SIGFACTOR_SKIP_R:-0}" != "1" ]; then
  r_sources=$(find DESCRIPTION NAMESPACE R man inst vignettes -type f 2>/dev/null | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
  if [ "$(cat .venv/.sigfactor-r-installed 2>/dev/null)" != "$r_sources" ] \
     || ! Rscript -e 'quit(status = if (requireNamespace("sigfactor", quietly = TRUE)) 0 else 1)' >/dev/null 2>&1; then
    echo "setup: installing the R package sigfactor into R's site library"
    $SUDO R CMD INSTALL --no-multiarch --no-test-load . >/tmp/sigfactor-r-install.log 2>&1 \
      || { tail -20 /tmp/sigfactor-r-install.log; exit 1; }
    echo "$r_sources" > .venv/.sigfactor-r-installed
  fi
  # .venv registered as the engine's environment where install_sigfactor() would put it (a link
  # in reticulate's virtualenv folder), so library(sigfactor) finds the engine without
  # RETICULATE_PYTHON; an existing environment of that name is left alone, a link to a folder
  # that no longer exists (a removed checkout) is replaced.
  venvs="${WORKON_HOME:-$HOME/.virtualenvs}"
  if [ -L "$venvs/r-sigfactor" ] && [ ! -e "$venvs/r-sigfactor" ]; then
    rm -f "$venvs/r-sigfactor"
  fi
  if [ ! -e "$venvs/r-sigfactor" ] && [ ! -L "$venvs/r-sigfactor" ]; then
    if mkdir -p "$venvs" 2>/dev/null && ln -s "$PWD/.venv" "$venvs/r-sigfactor" 2>/dev/null; then
      echo "setup: linked $venvs/r-sigfactor to .venv (the R package's default engine environment)"
    else
      echo "setup: could not link $venvs/r-sigfactor to .venv; set RETICULATE_PYTHON=$PWD/.venv/bin/python for R"
    fi
  fi
fi
echo "setup: ready ($(.venv/bin/python -c 'import sigfactor, torch; print("sigfactor", sigfactor.__version__, "torch", torch.__version__)'))"
