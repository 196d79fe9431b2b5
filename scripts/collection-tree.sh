#!/usr/bin/env bash
# Copy the collection's files (as git tracks them, plus new ones not ignored) into
# OUT/ansible_collections/nodenet/nmstate, the layout ansible-test needs. Prints that path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: collection-tree.sh OUT_DIR}
dest="$out/ansible_collections/nodenet/nmstate"
rm -rf "$dest"
mkdir -p "$dest"
cd "$repo"
# Only the collection: the lab, the operator and the repo's tooling are not part of it.
git ls-files -co --exclude-standard -- galaxy.yml meta plugins roles playbooks README.md \
    CHANGELOG.md LICENSE docs tests/unit tests/sanity changelogs |
    while read -r path; do [[ -e $path ]] && printf '%s\0' "$path"; done |
    xargs -0 cp --parents -t "$dest"
echo "$dest"
