# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build nmstate interface states from short descriptions."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: linux_bridge
short_description: Build the nmstate state of a Linux bridge from a name and a list of ports
version_added: "0.1.0"
description:
  - Returns one interface entry for nmstate's C(interfaces) list, a C(linux-bridge) with the
    given ports and addresses. Addresses are given as C(ADDRESS/PREFIX); IPv4 and IPv6 are
    told apart by their form. Without addresses, IP is disabled on the bridge.
author:
  - nodenet.nmstate developers (@nodenet)
positional: _input, ports
options:
  _input:
    description: The bridge's name.
    type: str
    required: true
  ports:
    description: Names of the interfaces to attach to the bridge.
    type: list
    elements: str
    required: true
  addresses:
    description: Static addresses, C(192.0.2.1/24) or C(2001:db8::1/64).
    type: list
    elements: str
    default: []
  stp:
    description: Enable the spanning tree protocol.
    type: bool
    default: false
  mtu:
    description: MTU of the bridge.
    type: int
  state:
    description: V(up) to create or update the bridge, V(absent) to remove it.
    type: str
    choices: [up, absent]
    default: up
"""

EXAMPLES = r"""
- name: br1 over eth1 with an address
  nodenet.nmstate.nmstate_apply:
    state:
      interfaces:
        - "{{ 'br1' | nodenet.nmstate.linux_bridge(['eth1'], addresses=['192.0.2.10/24']) }}"
"""

RETURN = r"""
_value:
  description: One interface entry of an nmstate state.
  type: dict
  sample:
    name: br1
    type: linux-bridge
    state: up
    bridge:
      options:
        stp:
          enabled: false
      port:
        - name: eth1
    ipv4:
      enabled: true
      address:
        - ip: 192.0.2.10
          prefix-length: 24
    ipv6:
      enabled: false
"""

import ipaddress

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text


def _split_address(text):
    try:
        iface = ipaddress.ip_interface(to_text(text))
    except ValueError as exc:
        raise AnsibleFilterError("linux_bridge: %r is not ADDRESS/PREFIX: %s" % (text, exc))
    if "/" not in to_text(text):
        raise AnsibleFilterError("linux_bridge: %r needs a prefix length, e.g. /24" % (text,))
    return iface.version, {"ip": str(iface.ip), "prefix-length": iface.network.prefixlen}


def linux_bridge(name, ports, addresses=None, stp=False, mtu=None, state="up"):
    if not name or not isinstance(name, str):
        raise AnsibleFilterError("linux_bridge: the input must be the bridge's name")
    if state == "absent":
        return {"name": name, "type": "linux-bridge", "state": "absent"}
    if state != "up":
        raise AnsibleFilterError("linux_bridge: state must be up or absent, not %r" % (state,))
    if isinstance(ports, str) or not isinstance(ports, (list, tuple)):
        raise AnsibleFilterError("linux_bridge: ports must be a list of interface names")
    by_family = {4: [], 6: []}
    for text in addresses or []:
        family, entry = _split_address(text)
        by_family[family].append(entry)
    iface = {
        "name": name,
        "type": "linux-bridge",
        "state": "up",
        "bridge": {
            "options": {"stp": {"enabled": bool(stp)}},
            "port": [{"name": to_text(port)} for port in ports],
        },
        "ipv4": {"enabled": bool(by_family[4])},
        "ipv6": {"enabled": bool(by_family[6])},
    }
    if by_family[4]:
        iface["ipv4"]["address"] = by_family[4]
    if by_family[6]:
        iface["ipv6"].update({"address": by_family[6], "autoconf": False, "dhcp": False})
    if mtu is not None:
        iface["mtu"] = int(mtu)
    return iface


class FilterModule(object):
    def filters(self):
        return {"linux_bridge": linux_bridge}
