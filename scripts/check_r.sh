#!/usr/bin/env bash
# R CMD build and R CMD check --no-manual of the R package (scripts/test.sh runs this): the
# check runs the testthat tests (tests/testthat.R, against the installed package), every help
# page's examples and the vignette. Fails unless the check ends "Status: OK" (no ERROR, WARNING
# or NOTE). Offline settings: no CRAN or Bioconductor server is contacted.
#
# Built from a copy of the R package's files (the source tree also holds .venv and other large
# folders that R CMD build would copy before applying .Rbuildignore), in a folder of its own
# under build/ (two runs at once do not meet); it is removed after a clean check and kept, with
# check.log and sigfactor.Rcheck/, after a failed one. Needs RETICULATE_PYTHON (or the
# r-sigfactor environment) for the engine; SIGFACTOR_SOURCE is set for the tests that build
# the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mkdir -p "$root/build"
work=$(mktemp -d "$root/build/r-check.XXXXXX")
mkdir -p "$work/sigfactor"
cp -r DESCRIPTION NAMESPACE LICENSE NEWS.md .Rbuildignore R man inst vignettes tests "$work/sigfactor/"
rm -rf "$work/sigfactor/tests/python"
export SIGFACTOR_SOURCE="$root"
export _R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_CRAN_INCOMING_=false _R_CHECK_SYSTEM_CLOCK_=0
cd "$work"
started=$(date +%s)
if ! R CMD build sigfactor >build.log 2>&1; then
  tail -30 build.log
  echo "R CMD build failed (log: $work/build.log)"
  exit 1
fi
R CMD check --no-manual sigfactor_*.tar.gz >check.log 2>&1 || true
summary=$(grep -h "^\[ FAIL" sigfactor.Rcheck/tests/testthat.Rout* 2>/dev/null | tail -1 || true)
echo "R CMD check: ${summary:-no testthat summary}; $(( $(date +%s) - started )) s for build and check"
if ! grep -q "^Status: OK" check.log; then
  grep -E "(WARNING|ERROR|NOTE)" -A 15 check.log | head -80
  tail -40 sigfactor.Rcheck/tests/testthat.Rout.fail 2>/dev/null || true
  echo "R CMD check did not end with 'Status: OK' (log: $work/check.log)"
  exit 1
fi
echo "R CMD check: Status: OK"
rm -rf "$work"
