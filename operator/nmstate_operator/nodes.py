"""The Nodes as the operator needs them, kept by a kopf index instead of listed again.

kopf fills the index from its watch of Nodes (one entry per Node name). Steps and report
rounds run in worker threads, so they get a snapshot taken in the event loop, never the live
index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.nodenet.nmstate.plugins.module_utils.k8s_node import (
    node_summary,
    reachable_address,
)


@dataclass(frozen=True)
class NodeView:
    name: str
    uid: str
    labels: tuple[tuple[str, str], ...]
    ready: bool
    address: str | None  # a parsed IP address, never the raw string from the Node
    problem: str | None = None  # why there is no address
    boot_id: str | None = None  # status.nodeInfo.bootID, as the kubelet publishes it
    ready_since: str | None = None  # when the Ready condition last changed (RFC 3339)

    @classmethod
    def from_node(cls, node: Mapping, address_type: str) -> NodeView:
        summary = node_summary(node)
        address, problem = reachable_address(summary["addresses"], address_type)
        return cls(
            name=summary["name"],
            uid=summary["uid"],
            labels=tuple(sorted(summary["labels"].items())),
            ready=summary["ready"],
            address=address,
            problem=problem,
            boot_id=boot_id(node),
            ready_since=ready_since(node),
        )

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def selected_by(self, selector: dict | None) -> bool:
        """kubernetes-nmstate's nodeSelector: every key present with an equal value."""
        labels = self.label_map()
        return all(labels.get(key) == value for key, value in (selector or {}).items())


BOOT_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def boot_id(node: Mapping) -> str | None:
    """The Node's boot ID, or None when it has none we can compare (it is only compared)."""
    value = ((node.get("status") or {}).get("nodeInfo") or {}).get("bootID")
    return value if isinstance(value, str) and BOOT_ID.match(value) else None


STAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$")


def ready_since(node: Mapping) -> str | None:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"), {})
    value = ready.get("lastTransitionTime")
    return value if isinstance(value, str) and STAMP.match(value) else None


def snapshot(index: Mapping) -> dict[str, NodeView]:
    """The index's nodes by name (call in the event loop: kopf changes the index there)."""
    views = {}
    for name, store in list(index.items()):
        view = next(iter(store), None)
        if view is not None:
            views[name] = view
    return views


def lookup(index: Mapping, name: str) -> NodeView | None:
    """One node from the index (call in the event loop)."""
    return next(iter(index.get(name, ())), None)
