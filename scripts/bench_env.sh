#!/usr/bin/env bash
# Set up what the comparison benchmark needs besides sigfactor's own .venv:
#   .spe-venv/      SigProfilerExtractor 1.4.1 (it needs numpy>=2, sigfactor pins numpy<2,
#                   hence a venv of its own) with torch pinned to the local 2.13.0 CPU wheel;
#   /usr/bin/time   GNU time (Debian package `time`), for wall time and peak RSS of children.
# Idempotent: a second run only checks. SigProfilerExtractor on a matrix input needs no
# reference genome (see benchmarks/README.md), so nothing is downloaded here besides packages.
set -euo pipefail
cd "$(dirname "$0")/.."

SPE_VERSION="1.4.1"
TORCH_VERSION="2.13.0"
VENV=.spe-venv
# What SigProfilerExtractor pulls in, pinned to the versions the benchmark was checked with.
# numpy must stay below 2.4: SigProfilerExtractor 1.4.1 turns a one-row seeds file into a
# length-1 array and calls int() on it, which numpy 2.4 refuses ("only 0-dimensional arrays can
# be converted to Python scalars"); numpy 2.3 only warns. Without a seeds file a run cannot be
# reproduced, so this pin is what makes seeded runs work.
PINS="SigProfilerExtractor==$SPE_VERSION SigProfilerAssignment==1.1.5 SigProfilerMatrixGenerator==1.4.0
sigProfilerPlotting==1.4.3 numpy==2.3.5 pandas==3.1.1 scipy==1.17.1 scikit-learn==1.9.1
matplotlib==3.11.2 statsmodels==0.15.0 torch==$TORCH_VERSION"

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if [ ! -x /usr/bin/time ]; then
  echo "bench_env: installing Debian package time (GNU time)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends time >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "bench_env: creating $VENV"
  "$PY" -m venv "$VENV"
fi

installed() {
  "$VENV/bin/python" - $PINS <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    assert version(name).split("+")[0] == wanted, pin
import SigProfilerExtractor.sigpro  # noqa: F401  (imports everything a run needs)
EOF
}

if ! installed; then
  echo "bench_env: installing SigProfilerExtractor==$SPE_VERSION into $VENV (torch $TORCH_VERSION CPU build)"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  # torch first, pinned: SigProfilerExtractor asks for torch>=1.8.1, which would otherwise
  # pull a multi-GB CUDA build.
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
  # shellcheck disable=SC2086  (PINS is a list of words)
  "$VENV/bin/python" -m pip install -q $PINS
  installed || { echo "bench_env: $VENV does not match the pins ($(echo $PINS))" >&2; exit 1; }
fi
echo "bench_env: ready ($("$VENV/bin/python" -c 'from importlib.metadata import version as v; print("SigProfilerExtractor", v("SigProfilerExtractor"), "torch", v("torch"), "numpy", v("numpy"))'))"
