"""What this machine's kernel can do, probed in a throwaway namespace, never assumed."""

from __future__ import annotations

import functools
import os
import subprocess

PROBE_ARGS = {
    "dummy": ["type", "dummy"],
    "bond": ["type", "bond"],
    "vrf": ["type", "vrf", "table", "100"],
    "vxlan": ["type", "vxlan", "id", "42", "dstport", "4789"],
    "bridge": ["type", "bridge"],
    "macvlan": ["link", "probe-parent", "type", "macvlan"],
    "vlan": ["link", "probe-parent", "type", "vlan", "id", "10"],
}


@functools.cache
def link_type_missing(kind: str) -> str | None:
    """None if the kernel can create a `kind` link, else the kernel's reason."""
    netns = f"nnlab-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    try:
        # Stacked types need a parent link; veth is what the lab itself is made of.
        parent = ["link", "add", "probe-parent", "type", "veth", "peer", "name", "probe-peer"]
        subprocess.run(["ip", "-n", netns, *parent], check=True, capture_output=True)
        result = subprocess.run(
            ["ip", "-n", netns, "link", "add", "probe0", *PROBE_ARGS[kind]],
            capture_output=True,
            text=True,
        )
        return None if result.returncode == 0 else result.stderr.strip() or "unsupported"
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
