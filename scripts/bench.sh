#!/usr/bin/env bash
# The benchmarks on the lab (bench/README.md). Arguments go to bench/run.py, e.g. --quick.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$repo/scripts/bootstrap.sh" | tail -n 1)
export PATH="$venv/bin:$PATH"
# A demo's operator would compete with the benchmark's own.
"$repo/scripts/demo.sh" stop-operator
cd "$repo/bench"
exec python run.py "$@"
