#!/usr/bin/env bash
# Set up (if needed) and run every test: pytest for the engine; for the R package, R CMD build
# and R CMD check (its testthat tests, examples and vignette; scripts/check_r.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SIGFACTOR_DATA="${SIGFACTOR_DATA:-$(cd .. && pwd)/shared/data}"
export RETICULATE_PYTHON="$PWD/.venv/bin/python"
# The R tests fail, never skip, when the engine is missing (tests/testthat/helper-engine.R).
export SIGFACTOR_REQUIRE_ENGINE=true
status=0
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider || status=$?
if [ -d tests/testthat ] && ls tests/testthat/test-*.R >/dev/null 2>&1; then
  bash scripts/check_r.sh || status=$?     # R CMD build + check: testthat, examples, vignette
fi
exit $status
