"""NodeNetworkState status from report runs: written only when what nmstate reports changed."""

from __future__ import annotations

import logging

from kubernetes import client

from . import kube, metrics
from .conditions import nns_conditions
from .config import Config
from .runs import node_lock, run_playbook

log = logging.getLogger(__name__)


def status_for(outcome, nns: dict) -> dict:
    """The NNS status a report outcome calls for (conditions with fresh times)."""
    previous = nns.get("status") or {}
    generation = (nns.get("metadata") or {}).get("generation")
    report = outcome.facts.get("nmstate_report") if outcome else None
    if report:
        conditions = nns_conditions(
            previous.get("conditions") or [], generation, previous.get("lastApply")
        )
        return {
            "currentState": report["current_state"],
            "handlerNmstateVersion": report["nmstate_version"],
            "lastSuccessfulUpdateTime": kube.now(),
            "conditions": conditions,
        }
    unreachable = outcome is None or outcome.unreachable
    reason = "NodeUnreachable" if unreachable else "ReportFailed"
    message = "; ".join(outcome.failures)[-1000:] if outcome and outcome.failures else "no report"
    conditions = nns_conditions(
        previous.get("conditions") or [], generation, previous.get("lastApply"), message, reason
    )
    return {"conditions": conditions}


def needs_write(previous: dict, new: dict) -> bool:
    if not kube.same_conditions(previous.get("conditions") or [], new["conditions"]):
        return True
    if "currentState" not in new:
        return False
    return kube.canonical(previous.get("currentState")) != kube.canonical(
        new["currentState"]
    ) or previous.get("handlerNmstateVersion") != new.get("handlerNmstateVersion")


def report_round(config: Config, core: client.CoreV1Api, custom: client.CustomObjectsApi) -> dict:
    """One report run over all nodes; returns counts for logs and metrics."""
    nodes = kube.list_nodes(core)
    targets = {}
    for node in nodes:
        address = kube.node_address(node, config.address_type)
        if address:
            targets[node["metadata"]["name"]] = address
    counts = {"nodes": len(targets), "writes": 0, "unreachable": 0}
    if not targets:
        return counts
    # A node that another run holds (an apply) sits this round out: one run per node at a time.
    locked = [name for name in targets if node_lock(name).acquire(blocking=False)]
    try:
        targets = {name: targets[name] for name in locked}
        result = (
            run_playbook(
                config, "nodenet.nmstate.report", targets, "report", record={"kind": "report"}
            )
            if targets
            else None
        )
    finally:
        for name in locked:
            node_lock(name).release()
    if result is None:
        return counts
    existing = kube.list_nns(custom)
    for name in targets:
        nns = existing.get(name)
        if nns is None:
            continue  # the Node handler creates it; the next round fills it
        outcome = result.hosts.get(name)
        if outcome is not None and outcome.unreachable:
            counts["unreachable"] += 1
        previous = nns.get("status") or {}
        new = status_for(outcome, nns)
        if "currentState" in new:
            metrics.observe_report(name, new["currentState"])
        if needs_write(previous, new):
            kube.patch_nns_status(custom, name, new)
            counts["writes"] += 1
    log.info(
        "report round: %(nodes)d nodes, %(writes)d status writes, %(unreachable)d unreachable",
        counts,
    )
    return counts
