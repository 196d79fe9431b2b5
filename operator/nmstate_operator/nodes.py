"""The Nodes as the operator needs them, kept by a kopf index instead of listed again.

kopf fills the index from its watch of Nodes (one entry per Node name). Steps and report
rounds run in worker threads, so they get a snapshot taken in the event loop, never the live
index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

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


# A label key: an optional DNS-subdomain prefix and a name; a value: a name or empty.
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
REQUIREMENT = re.compile(r"^(?P<neg>!)?(?P<key>[^=!]+?)(?:(?P<op>==|=|!=)(?P<value>.*))?$")


@dataclass(frozen=True)
class NodeSelector:
    """Which Nodes the operator manages: a Kubernetes equality-based label selector
    (``key=value``, ``key!=value``, ``key``, ``!key``, comma-separated; all must hold).
    Empty selects every Node, as kubernetes-nmstate's default does."""

    requirements: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str) -> NodeSelector:
        requirements = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            match = REQUIREMENT.match(part)
            if match is None:
                raise ValueError(f"{part!r} is not key, !key, key=value or key!=value")
            key, value = match["key"].strip(), (match["value"] or "").strip()
            if match["neg"] and match["op"]:
                raise ValueError(f"{part!r}: '!' goes only before a bare key")
            if not LABEL_KEY.match(key) or len(key) > 316:
                raise ValueError(f"{key!r} is not a label key")
            if not LABEL_VALUE.match(value):
                raise ValueError(f"{value!r} (for {key}) is not a label value")
            op = {"==": "=", "=": "=", "!=": "!="}.get(
                match["op"] or "", "!" if match["neg"] else ""
            )
            requirements.append((key, op, value))
        return cls(tuple(requirements))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(self.holds(labels, *requirement) for requirement in self.requirements)

    @staticmethod
    def holds(labels: Mapping[str, str], key: str, op: str, value: str) -> bool:
        if op == "":
            return key in labels
        if op == "!":
            return key not in labels
        if op == "=":
            return labels.get(key) == value
        return labels.get(key) != value  # as in Kubernetes, also true without the key

    def __str__(self) -> str:
        return ",".join(
            f"!{key}" if op == "!" else f"{key}{op}{value}" if op else key
            for key, op, value in self.requirements
        )


# Set (or changed) on a Node, it has that node reported at once instead of at the next interval.
FORCE_REFRESH_LABEL = "nmstate.io/force-nns-refresh"


def refresh_forced(previous: NodeView | None, view: NodeView | None) -> bool:
    """Whether a Node's new view asks for a report now: the refresh label added or given a new
    value (kubernetes-nmstate's shouldForceRefresh rule). Its removal does not, nor does a Node
    seen for the first time: the first round, or its new NNS, reports it anyway."""
    if previous is None or view is None:
        return False
    return refresh_label_changed(
        previous.label_map().get(FORCE_REFRESH_LABEL), view.label_map().get(FORCE_REFRESH_LABEL)
    )


def refresh_label_changed(previous: str | None, value: str | None) -> bool:
    """The force-refresh label added or given a new value (on a Node, or on an NNS as
    kubernetes-nmstate puts it); its removal asks for nothing."""
    return value is not None and value != previous


def labels_of(node: Mapping) -> dict[str, str]:
    return dict(node_summary(node)["labels"])


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


def index_caught_up(seen: Mapping[str, str], listed: Mapping[str, str]) -> bool:
    """Whether the Node index has seen every Node the API server lists, each at least at the
    listed resourceVersion (etcd's revisions, compared as numbers; an opaque one must match)."""
    for name, version in listed.items():
        have = seen.get(name)
        if have is None:
            return False
        if have.isdigit() and version.isdigit():
            if int(have) < int(version):
                return False
        elif have != version:
            return False
    return True
