# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nmstate cannot do in kernel-only mode (no NetworkManager), refused before the node is
touched with a message that names the mode and the field.

Without this, such a state fails only after the apply, with nmstate's verification message
(``eth2.interface.ipv4.enabled desire 'true', current 'false'``), which does not say why. Each
limit is pinned against the real nmstate by the lab's integration tests, so that a newer
nmstate that lifts one is noticed. Nothing is dropped silently: a state that asks for any of
these is refused as a whole.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodenet.nmstate.plugins.module_utils.nmstate_errors import InputError

MODE = "kernel-only mode (no NetworkManager on this node)"
# Interface types the kernel backend cannot create, though the kernel may have them.
UNCREATABLE_TYPES = ("mac-vlan", "mac-vtap", "vxlan", "vrf", "bond", "vlan", "dummy")
# Interface sections only NetworkManager applies.
NETWORK_MANAGER_ONLY = {
    "description": "keeping a description needs NetworkManager's profiles",
    "ethtool": "ethtool settings are applied by NetworkManager",
    "lldp": "LLDP is run by NetworkManager",
    "802.1x": "802.1x authentication is run by NetworkManager",
}


class KernelModeError(InputError):
    """A state that kernel-only mode cannot apply; nothing on the node was touched."""

    prefix = "%s cannot apply this state" % MODE

    def __init__(self, message):
        super(KernelModeError, self).__init__(message)
        self.category = "not_supported"


def _interface_limits(where, iface, current):
    found = []
    kind = iface.get("type")
    if kind in UNCREATABLE_TYPES and iface.get("name") not in current:
        found.append(
            "%s.type: nmstate's kernel backend cannot create a %s interface" % (where, kind)
        )
    for key, why in sorted(NETWORK_MANAGER_ONLY.items()):
        if key in iface:
            found.append("%s.%s: %s" % (where, key, why))
    for family in ("ipv4", "ipv6"):
        settings = iface.get(family)
        if not isinstance(settings, dict):
            continue
        if settings.get("dhcp"):
            found.append("%s.%s.dhcp: DHCP needs NetworkManager" % (where, family))
        if settings.get("autoconf"):
            found.append("%s.%s.autoconf: SLAAC needs NetworkManager" % (where, family))
    mtu = iface.get("mtu")
    now = (current.get(iface.get("name")) or {}).get("mtu")
    if mtu is not None and mtu != now:
        found.append(
            "%s.mtu: nmstate's kernel backend cannot change an MTU (%s to %s)" % (where, now, mtu)
        )
    return found


def limits(desired, current_state):
    """Every part of `desired` that kernel-only mode cannot apply on a node now in
    `current_state` (a shown nmstate state), as 'path: why' lines."""
    current = dict(
        (i.get("name"), i) for i in current_state.get("interfaces") or [] if isinstance(i, dict)
    )
    found = []
    for index, iface in enumerate(desired.get("interfaces") or []):
        if isinstance(iface, dict) and iface.get("state") not in ("absent", "down"):
            where = "interfaces[%d] (%s)" % (index, iface.get("name"))
            found.extend(_interface_limits(where, iface, current))
    rules = (desired.get("route-rules") or {}).get("config") or []
    for index, rule in enumerate(rules):
        if isinstance(rule, dict) and rule.get("state") != "absent":
            found.append(
                "route-rules.config[%d]: nmstate's kernel backend cannot add route rules" % index
            )
    if (desired.get("hostname") or {}).get("config"):
        found.append("hostname.config: setting the hostname needs NetworkManager")
    return found


def check(desired, current_state):
    """Raise KernelModeError naming every part of `desired` kernel-only mode cannot apply."""
    found = limits(desired, current_state)
    if found:
        raise KernelModeError("; ".join(found))


# nmstate's kernel backend removes routes of protocol static or kernel only. A route added by
# a plain `ip route add` has protocol boot: it stays, and the apply fails its verification
# with a message that does not say why.
BOOT_ROUTE_HINT = (
    "in %s nmstate removes only routes of protocol static or kernel; a route added by "
    "'ip route add' without 'proto static' (protocol boot) stays. Remove that route with "
    "'ip route del', or add routes with 'proto static'" % MODE
)


def explain(error):
    """Add to a kernel-mode apply's NmstateError what nmstate's own message leaves out."""
    message = error.message or ""
    if "absent route" in message and "still found after apply" in message:
        error.message = "%s (%s)" % (message, BOOT_ROUTE_HINT)
    return error
