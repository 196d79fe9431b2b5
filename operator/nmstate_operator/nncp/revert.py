"""Revert on delete (spec.revertOnDelete): undo what a deleted policy applied, node by node.

At each apply the enactment keeps nmstate's revert state for that node (`gen-revert` of the
desired state against the state before, completed from the running config; merged over
generations so that it always leads back to the state before the policy's first apply).

While such a policy exists it carries the finalizer REVERT_FINALIZER. Once it is deleted, each
step reverts a batch of its nodes (maxUnavailable, node locks) through the apply playbook: the
same probes and rollback as any apply, so a revert that would cut a node off is rolled back
there and reported. The finalizer goes once every node is reverted, failed, or given up:
`--revert-timeout` seconds after the deletion, or at once with the annotation SKIP_ANNOTATION.

Fields that another policy still in place on the node sets are left to that policy: its
interfaces (by name), its routes (by destination and table) and its DNS are taken out of the
revert state first.

The finalizer is handled here rather than with kopf's deletion handlers: those would make kopf
write its bookkeeping onto every policy, and a revert is a rollout like any other, batched
and locked by the same scheduler.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging

from .. import locks, outcomes
from ..names import enactment_node
from ..nodes import NodeView
from ..playbooks import ApplyOutcome, cut
from ..status import (
    enactment_conditions,
    parse_stamp,
    policy_conditions,
    same_conditions,
    stamp,
    utcnow,
)
from . import plan as planning
from . import signing

log = logging.getLogger(__name__)

REVERT_FINALIZER = "nmstate.io/revert-on-delete"
SKIP_ANNOTATION = "nmstate.io/skip-revert"
MAX_REVERT_STATE_BYTES = 64 * 1024  # an enactment holds at most this much revert state
WAIT_SECONDS = 5.0  # between looks at nodes that are NotReady or held by another run
LOCK_WAIT_SECONDS = 30.0

PENDING, PROGRESSING, REVERTED, FAILED, ABANDONED = (
    "Pending",
    "Progressing",
    "Reverted",
    "Failed",
    "Abandoned",
)
FINISHED = (REVERTED, FAILED, ABANDONED)


def wants_finalizer(policy: dict) -> bool:
    return (policy.get("spec") or {}).get("revertOnDelete") is True


def finalizers_of(policy: dict) -> list[str]:
    return list((policy.get("metadata") or {}).get("finalizers") or [])


def merged_revert_state(stored: dict | None, new: dict | None) -> dict | None:
    """The revert state to keep after another apply: what was stored (it leads back to the state
    before the policy's first apply), plus what `new` reverts that it does not cover."""
    if not isinstance(stored, dict) or not stored:
        return copy.deepcopy(new) if isinstance(new, dict) and new else None
    result = copy.deepcopy(stored)
    if not isinstance(new, dict):
        return result
    names = {i.get("name") for i in result.get("interfaces") or []}
    for iface in new.get("interfaces") or []:
        if iface.get("name") not in names:
            result.setdefault("interfaces", []).append(copy.deepcopy(iface))
    for key, value in new.items():
        if key != "interfaces" and key not in result:
            result[key] = copy.deepcopy(value)
    return result


def storable(state: dict | None) -> bool:
    return state is not None and len(json.dumps(state)) <= MAX_REVERT_STATE_BYTES


def left_to_others(revert: dict, others: dict[str, dict]) -> tuple[dict, list[str]]:
    """`revert` without what the policies in `others` (still in place on the node) set; and
    what was taken out, in words."""
    result = copy.deepcopy(revert)
    kept_by: dict[str, str] = {}
    for name, other in sorted(others.items()):
        desired = (other.get("spec") or {}).get("desiredState") or {}
        for iface in desired.get("interfaces") or []:
            if isinstance(iface, dict) and isinstance(iface.get("name"), str):
                kept_by.setdefault(f"interfaces[{iface['name']}]", name)
        for route in (desired.get("routes") or {}).get("config") or []:
            if isinstance(route, dict):
                kept_by.setdefault(route_key(route), name)
        if "dns-resolver" in desired:
            kept_by.setdefault("dns-resolver", name)
    left = []
    interfaces = []
    for iface in result.get("interfaces") or []:
        owner = kept_by.get(f"interfaces[{iface.get('name')}]")
        if owner:
            left.append(f"interfaces[{iface.get('name')}] (policy {owner})")
        else:
            interfaces.append(iface)
    result["interfaces"] = interfaces
    routes = (result.get("routes") or {}).get("config")
    if routes is not None:
        kept = []
        for route in routes:
            owner = kept_by.get(route_key(route))
            if owner:
                left.append(f"{route_key(route)} (policy {owner})")
            else:
                kept.append(route)
        result["routes"] = {"config": kept}
    if "dns-resolver" in result and "dns-resolver" in kept_by:
        left.append(f"dns-resolver (policy {kept_by['dns-resolver']})")
        del result["dns-resolver"]
    return result, left


def without_empty(state: dict) -> dict:
    return {key: value for key, value in state.items() if value and value != {"config": []}}


def route_key(route: dict) -> str:
    return f"routes[{route.get('destination')} table {route.get('table-id', 254)}]"


def revert_status(enactment: dict) -> dict:
    return ((enactment.get("status") or {}).get("revert")) or {}


class Revert:
    """One step of a deleted policy's revert."""

    def __init__(self, ctx, policy: dict, nodes: dict[str, NodeView], others: dict[str, dict]):
        self.ctx = ctx
        self.policy = policy
        self.name = policy["metadata"]["name"]
        self.spec = policy.get("spec") or {}
        self.nodes = nodes
        self.others = others
        self.enactments = {
            enactment_node(e): e
            for e in ctx.api.list_enactments(self.name)
            if (e.get("status") or {}).get("revertState")
        }

    def phase(self, node: str) -> str:
        return revert_status(self.enactments[node]).get("phase", PENDING)

    def write(self, node: str, phase: str, condition: str, reason: str, message: str, **more):
        enactment = self.enactments[node]
        previous = (enactment.get("status") or {}).get("conditions") or []
        status = {
            "conditions": enactment_conditions(condition, reason, message, previous),
            "revert": dict(revert_status(enactment), phase=phase, message=message, **more),
        }
        self.enactments[node] = self.ctx.api.patch_enactment_status(
            enactment["metadata"]["name"], status
        )

    def event(self, node: str, reason: str, message: str, kind: str = "Normal") -> None:
        self.ctx.api.event(self.enactments[node], reason, message, kind)
        self.ctx.api.event(self.policy, reason, f"{node}: {message}", kind)

    def run(self) -> float | None:
        annotations = self.policy["metadata"].get("annotations") or {}
        todo = [n for n in sorted(self.enactments) if self.phase(n) not in FINISHED]
        if annotations.get(SKIP_ANNOTATION) == "true":
            for node in todo:
                message = f"not reverted: the policy has the annotation {SKIP_ANNOTATION}"
                self.write(node, ABANDONED, "Aborted", "RevertSkipped", message)
            return self.finish()
        if not todo:
            return self.finish()
        deleted_at = parse_stamp(self.policy["metadata"]["deletionTimestamp"])
        deadline = deleted_at + datetime.timedelta(seconds=self.ctx.config.revert_timeout)
        if utcnow() >= deadline:
            for node in todo:
                message = (
                    f"not reverted: --revert-timeout ({self.ctx.config.revert_timeout} s) ran "
                    f"out since the deletion ({self.phase(node).lower()} then)"
                )
                self.write(node, ABANDONED, "Failing", "RevertAbandoned", message)
                self.event(node, "RevertAbandoned", message, "Warning")
            return self.finish()
        due = [n for n in todo if self.ready_to_revert(n)]
        # A node left Progressing by a cut-off run is reverted again: a revert is idempotent.
        limit = planning.max_unavailable(self.spec.get("maxUnavailable"), len(self.enactments))
        batch = due[:limit]
        self.write_policy_status(todo)
        if batch:
            reverted: dict[str, ApplyOutcome] = {}
            with locks.holding(batch, wait=LOCK_WAIT_SECONDS) as held:
                if held:
                    reverted = self.revert(held)
            # The NNS of each node the revert reached, from the report its answer carried.
            self.ctx.applied({n: o.report for n, o in reverted.items() if not o.transient})
        remaining = [n for n in self.enactments if self.phase(n) not in FINISHED]
        if not remaining:
            return self.finish()
        self.write_policy_status(remaining)
        return 0 if any(self.ready_to_revert(n) for n in remaining) else WAIT_SECONDS

    def ready_to_revert(self, node: str) -> bool:
        view = self.nodes.get(node)
        if view is None or not view.ready or not view.address:
            return False
        next_try = revert_status(self.enactments[node]).get("nextRetryTime")
        return not next_try or parse_stamp(next_try) <= utcnow()

    def revert(self, nodes: list[str]) -> dict[str, ApplyOutcome]:
        states = {}
        key = signing.signing_key(self.ctx.config.ssh_private_key)
        for node in nodes:
            if not signing.holds_signed_state(key, self.enactments[node], self.policy):
                message = "not reverted: the revert state does not carry the operator's signature (it was changed outside the operator), so it is not applied"
                self.write(node, ABANDONED, "Failing", "RevertStateAltered", message)
                self.event(node, "RevertStateAltered", message, "Warning")
                continue
            others = {
                name: other
                for name, other in self.others.items()
                if self.nodes[node].selected_by((other.get("spec") or {}).get("nodeSelector"))
            }
            stored = self.enactments[node]["status"]["revertState"]
            states[node], left = left_to_others(stored, others)
            note = f"; left to other policies: {', '.join(left)}" if left else ""
            self.write(
                node,
                PROGRESSING,
                "Progressing",
                "Reverting",
                f"the policy was deleted: reverting what it applied{note}",
            )
        outcomes_by_node = self.apply(states)
        for node, outcome in outcomes_by_node.items():
            self.record(node, outcome)
        return outcomes_by_node

    def apply(self, states: dict[str, dict]) -> dict[str, ApplyOutcome]:
        """One run over the batch, each node with its own revert state."""
        states = {node: without_empty(state) for node, state in states.items()}
        # What belongs to other policies was taken out: nothing may be left to revert.
        found = {node: ApplyOutcome(True) for node, state in states.items() if not state}
        wanted = sorted(node for node, state in states.items() if state)
        if wanted:
            ran = self.ctx.playbooks.apply(
                {node: self.nodes[node].address for node in wanted},
                None,
                f"nncp-{self.name}",
                {"policy": self.name, "kind": "revert"},
                limit=wanted,
                probe_spec=self.spec.get("probes"),
                per_node={node: states[node] for node in wanted},
            )
            for node in wanted:
                missing = ApplyOutcome(False, "the node was not part of the run", transient=True)
                found[node] = ran.get(node) or missing
        return found

    def record(self, node: str, outcome: ApplyOutcome) -> None:
        retries = revert_status(self.enactments[node]).get("retryCount", 0)
        if outcome.applied:
            message = "reverted: the node is back as it was before the policy"
            self.write(node, REVERTED, "Available", "Reverted", message)
            self.event(node, "Reverted", message)
            return
        if outcome.transient and retries < self.ctx.config.max_retries:
            delay = outcomes.backoff_seconds(retries + 1)
            at = stamp(utcnow() + datetime.timedelta(seconds=delay))
            message = cut(
                f"revert attempt {retries + 1} could not reach the node: {outcome.message}"
            )
            self.write(
                node,
                PENDING,
                "Pending",
                "Retrying",
                message,
                retryCount=retries + 1,
                nextRetryTime=at,
            )
            return
        why = "rolled back by the node" if outcome.rolled_back else "failed"
        message = cut(f"the revert {why}; the node keeps the policy's state: {outcome.message}")
        self.write(node, FAILED, "Failing", "RevertFailed", message)
        self.event(node, "RevertFailed", message, "Warning")

    def write_policy_status(self, remaining: list[str]) -> None:
        total = len(self.enactments)
        message = f"reverting the deleted policy: {total - len(remaining)}/{total} nodes done"
        summary = planning.reverting_summary(message)
        previous = self.policy.get("status") or {}
        conditions = policy_conditions(summary, previous.get("conditions") or [])
        if same_conditions(previous.get("conditions") or [], conditions):
            return
        self.ctx.api.patch_policy_status(self.name, {"conditions": conditions})
        self.policy["status"] = dict(previous, conditions=conditions)

    def finish(self) -> float | None:
        phases = [self.phase(n) for n in self.enactments]
        counts = ", ".join(f"{phases.count(p)} {p.lower()}" for p in FINISHED if phases.count(p))
        message = f"revert on delete finished: {counts or 'nothing to revert'}"
        kind = "Normal" if all(p == REVERTED for p in phases) else "Warning"
        self.ctx.api.event(self.policy, "RevertFinished", message, kind)
        log.info("policy %s: %s", self.name, message)
        remaining = [f for f in finalizers_of(self.policy) if f != REVERT_FINALIZER]
        self.ctx.api.set_policy_finalizers(self.policy, remaining)
        return None


def sync_finalizer(ctx, policy: dict) -> dict:
    """The finalizer on a policy that asks to be reverted on delete, and off one that no longer
    does. Returns the policy as it now stands."""
    present = REVERT_FINALIZER in finalizers_of(policy)
    if wants_finalizer(policy) == present:
        return policy
    finalizers = [f for f in finalizers_of(policy) if f != REVERT_FINALIZER]
    if not present:
        finalizers.append(REVERT_FINALIZER)
    return ctx.api.set_policy_finalizers(policy, finalizers)
