#!/usr/bin/env bash
# Every test of the project, stage by stage. The first failing stage fails the run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
started=$SECONDS
stage() { printf '\n=== %s (%ss)\n' "$1" "$((SECONDS - started))"; }

stage "bootstrap: packages, venv, nmstate and Kubernetes builds"
venv=$(scripts/bootstrap.sh | tail -n 1)
export PATH="$venv/bin:$PATH"

stage "lint: ruff, shellcheck"
ruff check .
ruff format --check .
shellcheck scripts/*.sh .ci/run tests/lab/build/*.sh tests/lab/nodenet_lab/*.sh

stage "lab unit tests"
python -m pytest -q tests/lab/unit

stage "lab integration tests (real nmstate, API server and SSH nodes)"
python -m pytest -q -p no:cacheprovider tests/integration

stage "done in $((SECONDS - started)) s"
