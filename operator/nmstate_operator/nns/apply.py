"""The seed's direct flow: a desiredState patched onto a NodeNetworkState is applied to its node."""

from __future__ import annotations

import logging

from .. import locks, outcomes
from ..api import Api
from ..config import Config
from ..nodes import NodeView
from ..outcomes import Decision
from ..playbooks import ApplyOutcome, Playbooks, ReportOutcome, cut
from ..status import nns_conditions, now, replacing, without_nulls

log = logging.getLogger(__name__)


class RetryLater(RuntimeError):
    """The node could not be reached; try again after `delay` seconds (the status says so)."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class NnsStatus:
    """An NNS's apply status (lastApply and the conditions that follow from it)."""

    def __init__(self, api: Api, nns: dict) -> None:
        self.api = api
        self.nns = nns
        self.name = nns["metadata"]["name"]
        self.generation = nns["metadata"].get("generation")
        self.label = f"NNS {self.name}"

    def write_last_apply(self, result: str, message: str | None = None, **fields) -> None:
        last_apply = dict(fields, generation=self.generation, result=result, time=now())
        if message is not None:
            last_apply["message"] = message
        previous = self.nns.get("status") or {}
        conditions = nns_conditions(previous.get("conditions") or [], self.generation, last_apply)
        status = {
            "lastApply": replacing(previous.get("lastApply"), last_apply),
            "conditions": conditions,
            "observedGeneration": self.generation,
        }
        self.api.patch_nns_status(self.name, status)
        self.nns["status"] = without_nulls(dict(previous, **status))

    # outcomes.OutcomeSink

    def write(self, decision: Decision) -> None:
        if decision.result == outcomes.APPLIED:
            self.write_last_apply("applied")
        elif decision.result == outcomes.RETRY:
            self.write_last_apply(
                "failed",
                decision.message,
                retryCount=decision.retry_count,
                nextRetryTime=decision.next_retry_time,
            )
        else:
            self.write_last_apply("failed", decision.message, retryCount=decision.retry_count)

    def event(self, reason: str, message: str, kind: str = "Normal") -> None:
        self.api.event(self.nns, reason, message, kind)


def record_unmanaged(api: Api, nns: dict) -> None:
    """spec.managed is false: the operator leaves this node's network alone."""
    message = "spec.managed is false: the desired state is not applied to this node"
    target = NnsStatus(api, nns)
    target.write_last_apply("unmanaged", message)
    target.event("Unmanaged", message)


def record_cleared(api: Api, nns: dict) -> None:
    """spec.desiredState was removed: nothing to apply, and no old failure to keep showing."""
    NnsStatus(api, nns).write_last_apply("cleared")


def apply_desired_state(
    config: Config, api: Api, playbooks: Playbooks, nns: dict, node: NodeView | None, retries: int
) -> ReportOutcome | None:
    """Apply spec.desiredState to the NNS's node through the collection's apply playbook.

    `retries` counts the earlier attempts that could not reach the node. Raises RetryLater when
    the node cannot be reached and the retry budget allows another attempt. Returns the
    node's report that the apply's answer carried, if any.
    """
    target = NnsStatus(api, nns)
    if node is None:
        message = f"there is no Node {target.name} to apply the desired state to"
        target.write_last_apply("failed", message)
        target.event("FailedToConfigure", message, "Warning")
        return None
    generation = target.generation
    desired = (nns.get("spec") or {}).get("desiredState")
    if dry_run_asked(nns) and node.address:
        dry_run(target, playbooks, node, desired)
        return None
    if node.address:
        record = {"nns": target.name, "generation": generation}
        nodes = {node.name: node.address}
        with locks.holding([node.name], wait=None):
            if cut_off(nns, generation):
                outcome = verify_cut_off_run(target, playbooks, nodes, desired, record)
                if outcome is not None:
                    record_outcome_of(config, target, outcome, retries)
                    return None
            target.write_last_apply("progressing")
            target.event(
                "ConfigurationProgressing", f"applying the desired state (generation {generation})"
            )
            applied = playbooks.apply(nodes, desired, f"nns-{node.name}", record)
        outcome = applied[node.name]
    else:
        message = f"Node {node.name}: {node.problem}"
        outcome = ApplyOutcome(False, message, transient=True)
    record_outcome_of(config, target, outcome, retries)
    return outcome.report


DRY_RUN_ANNOTATION = "nmstate.io/dry-run"


def dry_run_asked(nns: dict) -> bool:
    """The NNS asks for its desired state to be checked, not applied (removing the annotation
    applies it)."""
    annotations = (nns.get("metadata") or {}).get("annotations") or {}
    return annotations.get(DRY_RUN_ANNOTATION) == "true"


def dry_run(target: NnsStatus, playbooks: Playbooks, node: NodeView, desired: dict) -> None:
    """The policy's dry run for one node: lastApply says whether nmstate accepts the state, and
    status.dryRun holds the diff. An unreachable node is only reported: nothing waits on it."""
    record = {"nns": target.name, "generation": target.generation}
    with locks.holding([node.name], wait=None):
        found = playbooks.dry_run({node.name: node.address}, desired, f"nns-{node.name}", record)
    outcome = found[node.name]
    report = {"dryRun": outcome.as_status(target.generation)}
    if outcome.accepted:
        change = "it would change the node" if outcome.changed else "the node has it already"
        message = f"dry run: nmstate accepts the desired state; {change} (nothing was applied)"
        target.write_last_apply("dry-run", message, **report)
        target.event("DryRunSucceeded", message)
    else:
        message = cut(f"dry run: the desired state would fail here: {outcome.message}")
        target.write_last_apply("dry-run-failed", message, **report)
        target.event("DryRunFailed", message, "Warning")


def cut_off(nns: dict, generation: int | None) -> bool:
    """Whether an apply of this generation was under way when the operator stopped: it left
    lastApply progressing, and nothing recorded how it ended."""
    last = (nns.get("status") or {}).get("lastApply") or {}
    return last.get("result") == "progressing" and last.get("generation") == generation


def verify_cut_off_run(
    target: NnsStatus, playbooks: Playbooks, nodes: dict, desired: dict, record: dict
) -> ApplyOutcome | None:
    """Check, without changing anything, whether a run cut off by an operator restart put the
    desired state in place (after waiting for its transaction, still running on the node). An
    outcome when it did, or when the node cannot be reached; None to apply it now."""
    name = next(iter(nodes))
    verified = playbooks.verify(nodes, desired, f"nns-{name}", record)[name]
    if verified.in_place:
        log.info("NNS %s: the cut-off run had applied the desired state", target.name)
        return ApplyOutcome(True)
    if verified.unreachable or verified.host_key_rejected:
        return ApplyOutcome(
            False,
            verified.message,
            transient=verified.unreachable,
            host_key_rejected=verified.host_key_rejected,
        )
    return None


def record_outcome_of(
    config: Config, target: NnsStatus, outcome: ApplyOutcome, retries: int
) -> None:
    decision = outcomes.record_outcome(
        target,
        outcome,
        retries,
        config.max_retries,
        applied="the desired state is applied",
        event_message=f"the desired state is applied (generation {target.generation})",
    )
    if decision.retry_in is not None:
        raise RetryLater(decision.message, decision.retry_in)
