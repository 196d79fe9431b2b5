#!/usr/bin/env bash
# PID 1 of a lab node: runs inside the node's own network, mount, UTS and PID namespaces.
# Usage: node-init.sh NODE_DIR   (NODE_DIR/node.env holds NAME, WITH_NM, EXTRA_SBIN, EXTRA_PYTHON)
set -euo pipefail
dir=$1
# shellcheck source=/dev/null
source "$dir/node.env"

mount -t proc proc /proc
# /sys is this network namespace's sysfs (ip netns exec mounted it). NetworkManager waits for
# udev whenever /sys is writable, so keep it read-only but the net devices writable (bridge port
# options live there).
if [[ $WITH_NM == 1 ]]; then
    mount --bind /sys/devices/virtual/net /sys/devices/virtual/net
    mount -o remount,bind,ro /sys
fi
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/dbus /run/NetworkManager
mount --bind "$dir/resolv.conf" /etc/resolv.conf
mount --bind "$dir/hosts" /etc/hosts
mount --bind "$dir/hostname" /etc/hostname
mkdir -p /run/lab/{sbin,python}-work
# The node sees what the host has there, plus its own nmstate tools layered on top.
mount -t overlay overlay -o "lowerdir=$EXTRA_SBIN:/usr/local/sbin" /usr/local/sbin
mount -t overlay overlay -o "lowerdir=$EXTRA_PYTHON:/usr/local/lib/python3.11/dist-packages" \
    /usr/local/lib/python3.11/dist-packages
hostname "$NAME"
ip link set lo up

if [[ $WITH_NM == 1 ]]; then
    mount --bind "$dir/nm-etc" /etc/NetworkManager
    mount --bind "$dir/nm-lib" /var/lib/NetworkManager
    dbus-daemon --system --fork --nopidfile >"$dir/dbus.log" 2>&1
    NetworkManager --debug >"$dir/NetworkManager.log" 2>&1 &
    nm-online -s -q -t 30
fi

/usr/sbin/sshd -D -e -f "$dir/sshd_config" >"$dir/sshd.log" 2>&1 &
# Stay PID 1: reap orphans until the host kills this namespace.
while true; do wait || true; sleep 1; done
