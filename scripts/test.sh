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

stage "lab and operator unit tests"
python -m pytest -q tests/lab/unit tests/operator

stage "collection: build, ansible-test sanity and units, ansible-lint"
cache=${NODENET_LAB_CACHE:-/var/cache/nodenet-lab}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
collection=$(scripts/collection-tree.sh "$work")
ansible-galaxy collection build --output-path "$work" "$collection" >/dev/null
ls "$work"/nodenet-nmstate-*.tar.gz
# ansible-test keeps its venvs under $HOME; a HOME in the cache keeps them warm between runs,
# with the offline stand-in for the get-pip script it would otherwise download.
test_home="$cache/ansible-test-home"
mkdir -p "$test_home/.ansible/test/cache"
cp scripts/get_pip_offline.py "$test_home/.ansible/test/cache/get_pip_24_2.py"
(
    cd "$collection"
    git init -q . # ansible-test reads the file list from git
    HOME=$test_home ansible-test sanity --local --python 3.11 --color no
    HOME=$test_home ansible-test units --local --python 3.11 --color no
)
ANSIBLE_COLLECTIONS_PATH=$work ansible-lint roles playbooks tests/integration/playbooks tests/molecule

stage "lab integration, end-to-end and fault tests (real nmstate, API server, SSH nodes, operator)"
# The lab stays up for the in-cluster stage; it goes down at the end of that stage, or here if
# this one fails.
trap 'rm -rf "$work"; python tests/lab/labctl down >/dev/null 2>&1 || true' EXIT
NODENET_LAB_KEEP=1 python -m pytest -q -p no:cacheprovider --durations=25 \
    tests/integration tests/e2e tests/faults

stage "in-cluster operator: its image and Deployment on the lab's kubelet, end-to-end"
# The same end-to-end tests of a rollout, the seed guide and a killed leader, now against the
# Deployment's pods; then what only a Deployment has, ending with its uninstall.
NODENET_E2E_OPERATOR=in-cluster python -m pytest -q -p no:cacheprovider --durations=10 \
    "tests/e2e/test_operator_policies.py::test_a_policy_configures_the_selected_nodes_and_a_node_labelled_later" \
    "tests/e2e/test_operator_nns_apply.py::test_connect_a_linux_bridge_through_the_nns_and_remove_it" \
    tests/e2e/test_operator_restart.py tests/incluster

stage "done in $((SECONDS - started)) s"
