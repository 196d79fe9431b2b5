"""Prometheus metrics: kubernetes-nmstate's names where they apply, plus run durations.

Gauges are recomputed from what the operator just read or reported, never incremented, so
they stay right across restarts.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge, Histogram, start_http_server

from .names import enactment_node
from .status import POLICY_TYPES, true_conditions

POLICIES_STATUS = Gauge(
    "kubernetes_nmstate_policies_status",
    "Policies by status (Available, Degraded, Progressing, Ignored)",
    ["status"],
)
ENACTMENTS_STATUS = Gauge(
    "kubernetes_nmstate_enactments_status",
    "Enactments by node and status (1 when the enactment has that status)",
    ["node", "status"],
)
NETWORK_INTERFACES = Gauge(
    "kubernetes_nmstate_network_interfaces",
    "Interfaces reported by nmstate, by type and node",
    ["type", "node"],
)
ROUTES = Gauge(
    "kubernetes_nmstate_routes",
    "Routes reported by nmstate, by node, IP stack and type (static or dynamic)",
    ["node", "ip_stack", "type"],
)
FEATURES_APPLIED = Gauge(
    "kubernetes_nmstate_features_applied",
    "Policies whose applied desired state uses a feature",
    ["name"],
)
RUN_DURATION = Histogram(
    "nmstate_operator_run_duration_seconds",
    "Duration of ansible-runner runs by playbook",
    ["playbook"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
API_WRITES = PromCounter(
    "nmstate_operator_api_writes",
    "Writes to the Kubernetes API by object kind",
    ["kind"],
)


def serve(bind_address: str) -> None:
    """Serve /metrics on host:port (":8089" listens on every address)."""
    host, _, port = bind_address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0")


def _label_sets(gauge: Gauge, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [
        tuple(sample.labels[n] for n in names)
        for metric in gauge.collect()
        for sample in metric.samples
    ]


def observe_report(node: str, current_state: dict) -> None:
    interfaces = Counter(i.get("type", "unknown") for i in current_state.get("interfaces") or [])
    for kind, owner in _label_sets(NETWORK_INTERFACES, ("type", "node")):
        if owner == node and kind not in interfaces:  # a type the node no longer has
            NETWORK_INTERFACES.remove(kind, owner)
    for kind, count in interfaces.items():
        NETWORK_INTERFACES.labels(kind, node).set(count)
    running = (current_state.get("routes") or {}).get("running") or []
    static = {
        (r.get("destination"), r.get("next-hop-interface"))
        for r in (current_state.get("routes") or {}).get("config") or []
    }
    routes: Counter = Counter()
    for route in running:
        try:
            stack = f"ipv{ipaddress.ip_network(route.get('destination', ''), strict=False).version}"
        except ValueError:
            stack = "unknown"
        kind = (
            "static"
            if (route.get("destination"), route.get("next-hop-interface")) in static
            else "dynamic"
        )
        routes[(stack, kind)] += 1
    for stack in ("ipv4", "ipv6"):
        for kind in ("static", "dynamic"):
            ROUTES.labels(node, stack, kind).set(routes.get((stack, kind), 0))


def forget_node(node: str) -> None:
    for gauge, names in (
        (NETWORK_INTERFACES, ("type", "node")),
        (ROUTES, ("node", "ip_stack", "type")),
        (ENACTMENTS_STATUS, ("node", "status")),
    ):
        for labels in _label_sets(gauge, names):
            if labels[names.index("node")] == node:
                gauge.remove(*labels)


def _true_types(obj: dict) -> list[str]:
    return list(true_conditions((obj.get("status") or {}).get("conditions")))


def observe_policies(policies: list[dict], enactments: list[dict]) -> None:
    """Recount policy and enactment statuses from a fresh listing of both."""
    by_status: Counter = Counter(t for p in policies for t in _true_types(p))
    for status in POLICY_TYPES:
        POLICIES_STATUS.labels(status).set(by_status.get(status, 0))
    per_node: Counter = Counter()
    for enactment in enactments:
        node = enactment_node(enactment)
        for status in _true_types(enactment):
            per_node[(node or "", status)] += 1
    ENACTMENTS_STATUS.clear()
    for (node, status), count in per_node.items():
        ENACTMENTS_STATUS.labels(node, status).set(count)
    used: Counter = Counter()
    for policy in policies:
        if "Available" in _true_types(policy):
            used.update(features((policy.get("spec") or {}).get("desiredState") or {}))
    FEATURES_APPLIED.clear()
    for name, count in used.items():
        FEATURES_APPLIED.labels(name).set(count)


def features(desired_state: dict) -> set[str]:
    """Feature names a desired state uses, in the spirit of kubernetes-nmstate's."""
    found = set()
    for interface in desired_state.get("interfaces") or []:
        found.add(f"interface-{interface.get('type', 'unknown')}")
        for family in ("ipv4", "ipv6"):
            settings = interface.get(family) or {}
            if settings.get("dhcp") or settings.get("autoconf"):
                found.add(f"dhcp{family[-2:]}")
            if settings.get("address"):
                found.add(f"static-{family}")
    if (desired_state.get("routes") or {}).get("config"):
        found.add("static-route")
    if (desired_state.get("route-rules") or {}).get("config"):
        found.add("route-rule")
    if (desired_state.get("dns-resolver") or {}).get("config"):
        found.add("static-dns")
    if desired_state.get("hostname"):
        found.add("static-hostname")
    return found
