"""How the operator names and labels its objects, free of I/O: one place for the rules that
keep names valid and distinct whatever the Node and policy names are."""

from __future__ import annotations

import hashlib
import re

GROUP = "nmstate.io"
POLICY_LABEL = "nmstate.io/policy"
NODE_LABEL = "nmstate.io/node"
NODE_ANNOTATION = "nmstate.io/node-name"  # the full Node name, which a label may not hold
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MAX_NAME = 253


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def node_label_value(node: str) -> str:
    """The Node's name as a label value, or a digest of it when it is too long for one."""
    if len(node) <= 63 and LABEL_VALUE.match(node):
        return node
    return "node-" + digest(node)


def enactment_name(node: str, policy: str) -> str:
    """<node>.<policy>, as kubernetes-nmstate names enactments; a digest stands for a Node name
    too long for that. Policy names are DNS labels (no dots), so names cannot collide."""
    name = f"{node}.{policy}"
    return name if len(name) <= MAX_NAME else f"node-{digest(node)}.{policy}"


def enactment_node(enactment: dict) -> str | None:
    """The Node an enactment is for."""
    meta = enactment.get("metadata") or {}
    return (meta.get("annotations") or {}).get(NODE_ANNOTATION) or (meta.get("labels") or {}).get(
        NODE_LABEL
    )
