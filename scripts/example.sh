#!/usr/bin/env bash
# Set up (if needed) and run the main job on the bundled example (21 breast cancer genomes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/sigfactor example --out "${1:-example_out}" --force
