#!/usr/bin/env bash
# Installs what the benchmark needs, builds the release binary, and prints the comparison tables.
# Usage: bench/run.sh [bench.py options, e.g. --rounds 50]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps --bench
cmake --workflow --preset release >/dev/null
python3 bench/bench.py "$@"
