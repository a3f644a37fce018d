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
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider 2>&1 | tee "$logs/pytest.log" || status=$?
if [ -d tests/testthat ] && ls tests/testthat/test-*.R >/dev/null 2>&1; then
  bash scripts/check_r.sh 2>&1 | tee "$logs/r.log" || status=$?   # R CMD build + check: testthat, examples, vignette
fi
# One closing line for both suites: pytest's counts plus testthat's (from R CMD check).
count() { grep -hoE "[0-9]+ $1" "$logs/pytest.log" | tail -1 | grep -oE "^[0-9]+" || echo 0; }
r_count() { grep -hoE "$1 [0-9]+" "$logs/r.log" 2>/dev/null | tail -1 | grep -oE "[0-9]+$" || echo 0; }
passed=$(( $(count passed) + $(r_count PASS) ))
failed=$(( $(count failed) + $(count error) + $(r_count FAIL) ))
skipped=$(( $(count skipped) + $(r_count SKIP) ))
[ "$status" = 0 ] || [ "$failed" -gt 0 ] || failed=1     # a suite that failed without counting
echo "sigfactor: $passed passed, $failed failed, $skipped skipped"
exit $status
