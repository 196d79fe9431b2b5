"""NodeNetworkState status from report runs: written only when what nmstate reports changed."""

from __future__ import annotations

import logging
import threading
import time

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


def report_round(config: Config, core: client.CoreV1Api, custom: client.CustomObjectsApi,
                 only: set[str] | None = None) -> dict:  # fmt: skip
    """One report run over all nodes (or those in `only`); returns counts for logs and metrics."""
    nodes = kube.list_nodes(core)
    targets = {}
    for node in nodes:
        address = kube.node_address(node, config.address_type)
        if address and (only is None or node["metadata"]["name"] in only):
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


class ReportRequests:
    """When to report, and on which nodes: every node once per interval, and right away on the
    nodes an apply just changed (a report over all nodes after every batch of a large rollout
    would cost more than the rollout)."""

    def __init__(self, interval: float, clock=time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.next_full = clock()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._nodes: set[str] = set()
        self._full = False

    def request(self, nodes: list[str] | None = None) -> None:
        """Report soon: on `nodes`, or on every node when None."""
        with self._lock:
            if nodes is None:
                self._full = True
            else:
                self._nodes.update(nodes)
        self._wake.set()

    def next_round(self) -> set[str] | None:
        """Block until a round is due; returns its nodes, or None for every node."""
        self._wake.wait(max(0.0, self.next_full - self.clock()))
        with self._lock:
            self._wake.clear()
            full = self._full or self.clock() >= self.next_full
            nodes, self._nodes, self._full = self._nodes, set(), False
        if full:
            self.next_full = self.clock() + self.interval
            return None
        return nodes
