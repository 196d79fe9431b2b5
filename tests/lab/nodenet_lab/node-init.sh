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
# The node's own /root, kept across its reboots like a disk: a session must not run the host's
# shell start-up (the host's pyenv took a lock there that a node reboot left behind, and every
# session on every node then waited 60 s for it), and what Ansible leaves in ~ stays on the node.
mkdir -p "$dir/root"
chmod 700 "$dir/root"
mount --bind "$dir/root" /root
mkdir -p /run/sshd /run/dbus /run/NetworkManager
# The node's /etc is the host's, copy-on-write into /run: what the node writes there (its
# resolv.conf, which NetworkManager replaces by rename) stays in the node and is gone at reboot.
mkdir -p /run/lab/etc-upper /run/lab/etc-work /run/lab/{sbin,python}-work
mount -t overlay overlay \
    -o lowerdir=/etc,upperdir=/run/lab/etc-upper,workdir=/run/lab/etc-work /etc
for file in resolv.conf hosts hostname; do
    rm -f "/etc/$file"
    cp "$dir/$file" "/etc/$file"
done
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
    nmstatectl apply --no-verify "$dir/dns.json" >"$dir/dns-apply.log" 2>&1
fi

/usr/sbin/sshd -D -e -f "$dir/sshd_config" >"$dir/sshd.log" 2>&1 &
# Stay PID 1: reap orphans until the host kills this namespace.
while true; do wait || true; sleep 1; done
