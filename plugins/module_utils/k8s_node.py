# -*- coding: utf-8 -*-
# Copyright: nodenet.nmstate contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection and the operator read from a Kubernetes Node: the one place that decides
whether a Node is Ready and which address it is reached at.

Nodes come in as plain data (the API's JSON form, as ``ApiClient.sanitize_for_serialization``
gives it), so the inventory plugin and the operator share these functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

# Kubernetes names Nodes with DNS-1123 subdomains; anything else did not come from a real API.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def valid_node_name(name):
    """True for a name Kubernetes accepts for a Node (a DNS-1123 subdomain)."""
    return isinstance(name, str) and len(name) <= 253 and bool(DNS_SUBDOMAIN.match(name))


def ip_address(value):
    """`value` as a normalised IP address string, or None when it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def node_ready(node):
    """True when the Node's Ready condition is True."""
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_addresses(node):
    """The Node's status addresses as a list of {type, address}."""
    addresses = (node.get("status") or {}).get("addresses") or []
    return [{"type": a.get("type"), "address": a.get("address")} for a in addresses]


def address_of(addresses, address_type):
    """The first address of `address_type` in a list from node_addresses(), or None."""
    return next((a["address"] for a in addresses if a["type"] == address_type), None)


def reachable_address(addresses, address_type):
    """(address, problem): the Node's address of `address_type` if it is an IP address, else
    None and why. A Node's status is written by its kubelet, so its addresses are untrusted
    input: only a parsed IP address ever reaches an inventory."""
    raw = address_of(addresses, address_type)
    if not raw:
        return None, "the Node has no %s address to reach it at" % address_type
    address = ip_address(raw)
    if address is None:
        shown = raw if len(raw) <= 80 else raw[:80] + "..."
        return None, "the Node's %s address %r is not an IP address" % (address_type, shown)
    return address, None


def node_summary(node):
    """Plain data about a Node: name, uid, labels, annotations, addresses, ready."""
    meta = node.get("metadata") or {}
    return {
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
        "addresses": node_addresses(node),
        "ready": node_ready(node),
    }
