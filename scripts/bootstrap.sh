#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian 12 machine, and reuse it when warm:
# Debian packages, the Python venv (cached, keyed by the lock file) and the lab's tools
# (nmstate and the Kubernetes control plane, built once into the cache).
# Prints the venv's path on its last line.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${NODENET_LAB_CACHE:-/var/cache/nodenet-lab}
mkdir -p "$cache"

packages=(openssh-server openssh-client network-manager dbus dnsmasq-base iproute2 iputils-ping
    procps shellcheck git make curl
    # The infra node: images without a registry, kube-proxy's iptables, runc's seccomp (cgo).
    buildah mmdebstrap iptables libseccomp-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$package")
done
# kubectl: the machine's own if it has one, else Debian's kubernetes-client.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if ((${#missing[@]})); then
    echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

lock="$repo/requirements.lock"
venv="$cache/venv-$(sha256sum <"$lock" | cut -c1-12)"
if [[ ! -e $venv/.complete ]]; then
    echo "bootstrap: creating the Python venv $venv" >&2
    rm -rf "$venv"
    python3.11 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q -r "$lock" >&2
    touch "$venv/.complete"
fi

"$venv/bin/python" "$repo/tests/lab/labctl" build >&2
echo "$venv"
