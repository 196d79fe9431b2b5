#!/usr/bin/env bash
# Build nmstatectl and libnmstate.so.2 from their crates.io sources into a cache keyed by version.
# Usage: nmstate.sh CACHE_DIR VERSION   -> CACHE_DIR/nmstate-VERSION/{bin,lib,include}
set -euo pipefail
cache=$1
version=$2
prefix="$cache/nmstate-$version"
if [[ -x $prefix/bin/nmstatectl && -e $prefix/lib/libnmstate.so.2 && -e $prefix/include/nmstate.h ]]; then
    exit 0
fi
# sha256 of each published .crate (as crates.io's index lists them) for the versions we pin.
declare -A checksums=(
    [nmstatectl-2.2.62]=3ad5a2d991e13dbdad1d0dbb6d8694cb6004712744dea38ba31d41392a0647bd
    [nmstate-clib-2.2.62]=5edc4da518d9e9e4deaf7ceae08bf17a094428fec978edf7510f08d130c52c95
)
work=$(mktemp -d "$cache/.nmstate-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$cache/cargo-target"

for crate in nmstatectl nmstate-clib; do
    sum=${checksums[$crate-$version]:-}
    [[ -n $sum ]] || { echo "nmstate.sh: no pinned checksum for $crate $version" >&2; exit 1; }
    curl -sSfL --retry 3 -o "$work/$crate.crate" "https://static.crates.io/crates/$crate/$crate-$version.crate"
    echo "$sum  $work/$crate.crate" | sha256sum --check --quiet
    tar -xzf "$work/$crate.crate" -C "$work"
    # Both crates ship their Cargo.lock: --locked builds exactly the dependencies upstream tested.
    echo "nmstate.sh: building $crate $version" >&2
    cargo build --locked --release --manifest-path "$work/$crate-$version/Cargo.toml"
done

mkdir -p "$work/out/bin" "$work/out/lib" "$work/out/include"
cp "$CARGO_TARGET_DIR/release/nmstatectl" "$work/out/bin/"
cp "$CARGO_TARGET_DIR/release/libnmstate.so" "$work/out/lib/libnmstate.so.$version"
ln -sf "libnmstate.so.$version" "$work/out/lib/libnmstate.so.2"
ln -sf libnmstate.so.2 "$work/out/lib/libnmstate.so"
IFS=. read -r major minor micro <<<"$version"
sed -e "s/@_VERSION_MAJOR@/$major/; s/@_VERSION_MINOR@/$minor/; s/@_VERSION_MICRO@/$micro/" \
    "$work/nmstate-clib-$version/nmstate.h.in" >"$work/out/include/nmstate.h"
rm -rf "$prefix"
mv "$work/out" "$prefix"
