"""NodeNetworkState status from report runs: written only when what nmstate reports changed,
and when to report (every node per interval, applied nodes at once)."""

from __future__ import annotations

import logging
import re
import threading
import time

from ansible_collections.nodenet.nmstate.plugins.module_utils.report_digest import report_digest

from .. import locks, metrics
from ..api import Api, Gone
from ..nodes import NodeView
from ..playbooks import HOST_KEY_REASON, Playbooks, ReportOutcome
from ..status import canonical, nns_conditions, now, same_conditions, true_conditions

log = logging.getLogger(__name__)

# What the report role says the node runs is the node's word: only a short version string is
# written (the CRD allows 64 characters), anything else as no version.
VERSION_STRING = re.compile(r"[0-9][0-9A-Za-z.+~_-]{0,63}")
# Fields compared between reports besides the state; a change of any alone is written.
VERSION_FIELDS = ("handlerNmstateVersion", "hostNetworkManagerVersion")


def host_network_manager_version(report: dict) -> str | None:
    """The node's NetworkManager version from its report; None where it runs none (kernel-only
    nodes), which a merge patch turns into no field, as kubernetes-nmstate omits it empty."""
    return version_string(report.get("network_manager_version"))


def version_string(value) -> str | None:
    return value if isinstance(value, str) and VERSION_STRING.fullmatch(value) else None


def status_for(outcome: ReportOutcome, nns: dict) -> dict:
    """The NNS status a report outcome calls for (conditions with fresh times)."""
    previous = nns.get("status") or {}
    generation = (nns.get("metadata") or {}).get("generation")
    conditions = previous.get("conditions") or []
    last_apply = previous.get("lastApply")
    if outcome.unchanged:
        return {"conditions": nns_conditions(conditions, generation, last_apply)}
    if outcome.report:
        return {
            "currentState": outcome.report["current_state"],
            "handlerNmstateVersion": version_string(outcome.report.get("nmstate_version")),
            "hostNetworkManagerVersion": host_network_manager_version(outcome.report),
            "lastSuccessfulUpdateTime": now(),
            "conditions": nns_conditions(conditions, generation, last_apply),
        }
    failing = nns_conditions(conditions, generation, last_apply, outcome.message, outcome.reason)
    return {"conditions": failing}


def was_failing_for(nns: dict, reason: str) -> bool:
    failing = true_conditions((nns.get("status") or {}).get("conditions")).get("Failing")
    return failing is not None and failing.get("reason") == reason


def needs_write(previous: dict, new: dict) -> bool:
    if not same_conditions(previous.get("conditions") or [], new["conditions"]):
        return True
    if "currentState" not in new:
        return False
    state_changed = canonical(previous.get("currentState")) != canonical(new["currentState"])
    return state_changed or any(previous.get(key) != new.get(key) for key in VERSION_FIELDS)


def nns_digest(status: dict) -> str | None:
    """The digest of the report an NNS status holds (as the node computes it), None without
    one."""
    if "currentState" not in status:
        return None
    return report_digest(
        status["currentState"],
        status.get("handlerNmstateVersion"),
        status.get("hostNetworkManagerVersion"),
    )


def report_round(
    api: Api,
    playbooks: Playbooks,
    nodes: dict[str, NodeView],
    only: set[str] | None = None,
    digests: dict[str, str] | None = None,
) -> dict:
    """One report run over `nodes` (or those in `only`); returns counts for logs and metrics.

    `digests` (node -> digest of what its NNS held after the last round; kept by the caller
    across rounds) lets an unchanged node answer with its digest alone. A node whose state
    changed is written as soon as its report arrives; the others, after the run, from one
    list of every NNS."""
    digests = {} if digests is None else digests
    for gone in set(digests) - set(nodes):
        del digests[gone]
    targets = {
        name: view.address
        for name, view in nodes.items()
        if view.address and (only is None or name in only)
    }
    counts = {"nodes": len(targets), "writes": 0, "unreachable": 0, "unchanged": 0}
    # A node that another run holds (an apply) sits this round out: one run per node at a time.
    with locks.holding(sorted(targets)) as held:
        asked = {name: digests[name] for name in held if name in digests}
        recorder = Recorder(api, digests, asked, counts)
        running = {name: targets[name] for name in held}
        reports = playbooks.report(running, asked, recorder.arrived) if held else {}
    # A Node whose address is no IP address takes part in no run: its NNS says why.
    for name, view in nodes.items():
        if view.problem and (only is None or name in only):
            reports[name] = ReportOutcome(None, False, view.problem, "InvalidNodeAddress")
    rest = {name: outcome for name, outcome in reports.items() if name not in recorder.done}
    if rest:
        existing = api.list_nns()
        for name, outcome in rest.items():
            if name in existing:  # else the Node handler creates it; the next round fills it
                recorder.record(name, outcome, existing[name])
    log.info(
        "report round: %(nodes)d nodes, %(unchanged)d unchanged, %(writes)d status writes, "
        "%(unreachable)d unreachable",
        counts,
    )
    return counts


class Recorder:
    """What one round writes to each node's NNS, and the digests it leaves for the next."""

    def __init__(
        self, api: Api, digests: dict[str, str], asked: dict[str, str], counts: dict
    ) -> None:
        self.api, self.digests, self.asked, self.counts = api, digests, asked, counts
        self.done: set[str] = set()

    def arrived(self, name: str, outcome: ReportOutcome) -> None:
        """A node's report, during the run: a changed state is written at once, from a fresh
        read of its NNS."""
        if outcome.report is None:
            return  # unchanged or failed: after the run, with the others
        nns = self.api.get_nns(name)
        if nns is not None:
            self.record(name, outcome, nns)

    def record(self, name: str, outcome: ReportOutcome, nns: dict) -> None:
        self.done.add(name)
        self.counts["unreachable"] += outcome.unreachable
        held_status = nns.get("status") or {}
        if outcome.unchanged and nns_digest(held_status) != self.asked.get(name):
            # The NNS changed since we asked (recreated): the next round asks for everything.
            self.digests.pop(name, None)
            return
        self.counts["unchanged"] += outcome.unchanged
        new = status_for(outcome, nns)
        if "currentState" in new:
            metrics.observe_report(name, new["currentState"])
        if needs_write(held_status, new):
            try:
                held_status = self.api.patch_nns_status(name, new).get("status") or {}
            except Gone:
                self.digests.pop(name, None)
                return  # its Node went during the round
            self.counts["writes"] += 1
            if outcome.reason == HOST_KEY_REASON and not was_failing_for(nns, HOST_KEY_REASON):
                self.api.event(nns, HOST_KEY_REASON, outcome.message, "Warning")
        # What the NNS holds now, as the API server returned it: the next round asks the node
        # whether its report is still that one.
        digest = nns_digest(held_status)
        if digest is None:
            self.digests.pop(name, None)
        else:
            self.digests[name] = digest


class AfterApply:
    """The NNS of nodes an apply (or a revert) just changed: written from the report the
    apply's answer carried, and those without one reported in the next round, at once."""

    def __init__(self, api: Api, digests: dict[str, str], requests: ReportRequests) -> None:
        self.api, self.digests, self.requests = api, digests, requests

    def __call__(self, reports: dict[str, ReportOutcome | None]) -> None:
        counts = {"nodes": 0, "writes": 0, "unreachable": 0, "unchanged": 0}
        recorder = Recorder(self.api, self.digests, {}, counts)
        for name, outcome in sorted(reports.items()):
            if outcome is not None and outcome.report is not None:
                recorder.arrived(name, outcome)
        missing = [name for name in sorted(reports) if name not in recorder.done]
        if missing:
            self.requests.request(missing)
        if recorder.done:
            log.info(
                "reported %d nodes from their apply: %d status writes",
                len(recorder.done),
                counts["writes"],
            )


def refresh_policy_metrics(api: Api) -> None:
    metrics.observe_policies(api.list_policies(), api.list_enactments())


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
