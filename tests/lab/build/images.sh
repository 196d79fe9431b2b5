#!/usr/bin/env bash
# Build the lab's images with no container registry: a Debian base made by mmdebstrap, the
# pod sandbox (pause) image and the operator's image, in buildah storage under
# CACHE_DIR/containers. Exports pause and operator as docker archives, which keep the image
# names through `ctr -n k8s.io images import`, and prints their paths on the last two lines.
# Usage: images.sh CACHE_DIR REPO_DIR
set -euo pipefail
cache=$(realpath -m "${1:?usage: images.sh CACHE_DIR REPO_DIR}")
repo=$(cd "${2:?usage: images.sh CACHE_DIR REPO_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
base_image=localhost/nodenet-debian:bookworm
pause_image=localhost/pause:lab
operator_image=localhost/nmstate-operator:0.1.0 # what operator/manifests/deploy runs
key_label=nodenet.lab.key
mkdir -p "$cache/images" "$cache/containers"
work=$(mktemp -d "$cache/.images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Storage in the cache. overlay needs a file system that can hold its upper layers (not
# overlayfs itself); else vfs, and a storage once made keeps its driver.
storage=(--root "$cache/containers/storage" --runroot "$cache/containers/run")
driver=overlay
if [[ -d $cache/containers/storage/vfs ]] ||
    ! buildah "${storage[@]}" --storage-driver overlay info >/dev/null 2>&1; then
    driver=vfs
fi
bah() { buildah "${storage[@]}" --storage-driver "$driver" "$@"; }
# The key (of its inputs) an image was made from, as its label says; empty when there is no
# such image. Images built FROM it inherit the label, which does no harm.
image_key() {
    bah inspect --type image --format "{{index .OCIv1.Config.Labels \"$key_label\"}}" "$1" \
        2>/dev/null || true
}

# 1. The base: what the operator needs at run time (python3 and venv, ssh) and no more.
# bookworm-updates and security too, as the image outlives one build. The merged-usr hook
# installs usr-is-merged, not usrmerge, which pulls in perl (46 MB). The host's resolv.conf
# and hostname (mmdebstrap copies them in) are not the container's.
# shellcheck disable=SC2016 # the hook's $1 is mmdebstrap's: the chroot
debstrap=(mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --include='python3 python3-venv openssh-client ca-certificates'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"'
    bookworm -
    'deb http://deb.debian.org/debian bookworm main'
    'deb http://deb.debian.org/debian bookworm-updates main'
    'deb http://deb.debian.org/debian-security bookworm-security main')
key=$(printf '%s\n' "${debstrap[@]}" | sha256sum | cut -c1-12)
if [[ $(image_key "$base_image") != "$key" ]]; then
    rootfs=$cache/images/debian-bookworm-$key.tar
    if [[ ! -e $rootfs ]]; then
        echo "images.sh: mmdebstrap $base_image" >&2
        # The runtime makes /dev: device nodes have no place in an image layer.
        # Its hooks are noisy even when --quiet: the log is shown only if it fails.
        "${debstrap[@]}" 2>"$work/mmdebstrap.log" | mmtarfilter --path-exclude='/dev/*' \
            >"$work/rootfs.tar" || { cat "$work/mmdebstrap.log" >&2; exit 1; }
        rm -f "$cache"/images/debian-bookworm-*.tar
        mv "$work/rootfs.tar" "$rootfs"
    fi
    ctr=$(bah from scratch)
    bah add "$ctr" "$rootfs" / >/dev/null
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd /bin/bash --label "$key_label=$key" "$ctr"
    bah commit --quiet --rm "$ctr" "$base_image" >/dev/null
fi

# 2. pause: any static binary that sleeps will do as the sandbox; ours also reaps zombies.
key=$(cat "$here/pause/go.mod" "$here/pause/main.go" <(go version) | sha256sum | cut -c1-12)
if [[ $(image_key "$pause_image") != "$key" ]]; then
    echo "images.sh: building $pause_image" >&2
    (cd "$here/pause" && CGO_ENABLED=0 GOTOOLCHAIN=local \
        go build -trimpath -ldflags='-s -w -buildid=' -o "$work/pause" .)
    ctr=$(bah from scratch)
    bah copy "$ctr" "$work/pause" /pause >/dev/null
    # Upstream's pause runs as 65535 too: it needs no privileges.
    bah config --entrypoint '["/pause"]' --user 65535:65535 \
        --label "$key_label=$key" "$ctr"
    bah commit --quiet --rm "$ctr" "$pause_image" >/dev/null
fi

# 3. The operator. chroot isolation needs no OCI runtime (none is installed, and crun refuses
# hybrid cgroups) and shares the host's network. buildah would ask for nofile 1048576, more
# than this machine's hard limit. pip in the build trusts what the host trusts (an egress
# proxy may have its own CA): the host's bundle is mounted over the image's own file, so
# nothing of it stays in a layer. The layer cache keeps warm builds to seconds; the build's
# log is shown only if it fails.
bundle=/etc/ssl/certs/ca-certificates.crt
trust=()
if [[ -e $bundle ]]; then
    trust=(--volume "$bundle:$bundle:ro" --build-arg "REQUESTS_CA_BUNDLE=$bundle")
fi
echo "images.sh: building $operator_image" >&2
bah build --isolation chroot --network host --layers --force-rm --pull=never \
    --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" \
    "${trust[@]}" --build-arg "BASE=$base_image" \
    -f "$repo/operator/Containerfile" -t "$operator_image" "$repo" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }

# 4. Archives, written again only when the image changed.
export_image() { # IMAGE ARCHIVE
    local id
    id=$(bah images --no-trunc --format '{{.ID}}' "$1")
    if [[ ! -e $2 || $(cat "$2.id" 2>/dev/null) != "$id" ]]; then
        rm -f "$2.id"
        bah push --quiet "$1" "docker-archive:$work/archive.tar:$1"
        mv "$work/archive.tar" "$2" # in one step: an import never reads half an archive
        echo "$id" >"$2.id"
    fi
    echo "$2"
}
export_image "$pause_image" "$cache/images/pause.tar"
export_image "$operator_image" "$cache/images/operator.tar"
