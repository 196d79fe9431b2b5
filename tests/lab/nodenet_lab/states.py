"""States tests apply to lab nodes, shared by the integration and end-to-end tests."""

from __future__ import annotations


def cut_management(**extra) -> dict:
    """Every address off the management link: the node's SSH and default route go. `extra`
    keys go on the interface entry too (e.g. an 802.1x section)."""
    mgmt = {
        "name": "mgmt0",
        "type": "ethernet",
        "state": "up",
        "ipv4": {"enabled": False},
        "ipv6": {"enabled": False},
    }
    return {"interfaces": [dict(mgmt, **extra)]}
