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
