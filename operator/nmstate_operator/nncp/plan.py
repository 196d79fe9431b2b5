"""Rollout decisions for a NodeNetworkConfigurationPolicy, free of any I/O.

Everything is derived from the policy, the Nodes and the enactments (NNCEs), so an operator
that restarts rebuilds its counts from what the API server holds.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field

from ..status import parse_stamp, true_conditions

DEFAULT_MAX_UNAVAILABLE = "50%"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_UNAVAILABLE_TEXT = re.compile(r"^([1-9][0-9]{0,9}|[1-9][0-9]?%|100%)$")

# An enactment's phase for the policy's current generation.
PENDING, PROGRESSING, AVAILABLE, FAILED, RETRYING, ABORTED, CONFLICTING = (
    "pending",
    "progressing",
    "available",
    "failed",
    "retrying",
    "aborted",
    "conflicting",
)


def spec_problem(name: str, spec: dict) -> str | None:
    """Why a policy cannot be rolled out at all, or None. The CRD schema and the admission
    policy reject these already; this holds where they were not installed."""
    if len(name) > 63 or not DNS_LABEL.match(name):
        return "the policy's name must be a DNS label (at most 63 characters of a-z, 0-9, '-')"
    value = spec.get("maxUnavailable")
    valid_int = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    valid_text = isinstance(value, str) and MAX_UNAVAILABLE_TEXT.match(value)
    if value is not None and not (valid_int or valid_text):
        return "maxUnavailable must be a positive integer or a percentage from 1% to 100%"
    if not isinstance(spec.get("desiredState") or {}, dict):
        return "desiredState must be a mapping"
    return order_spec_problem(spec)


MAX_PRIORITY = 1000
MAX_AFTER = 32


def order_spec_problem(spec: dict) -> str | None:
    """Why spec.priority, spec.after or spec.dryRun/revertOnDelete are malformed, or None."""
    priority = spec.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
        return f"priority must be an integer from -{MAX_PRIORITY} to {MAX_PRIORITY}"
    after = spec.get("after", [])
    if not isinstance(after, list) or len(after) > MAX_AFTER:
        return f"after must be a list of at most {MAX_AFTER} policy names"
    for name in after:
        if not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.match(name):
            return "after must list policy names (DNS labels)"
    for flag in ("dryRun", "revertOnDelete"):
        if not isinstance(spec.get(flag, False), bool):
            return f"{flag} must be true or false"
    return None


def max_unavailable(value: int | str | None, matching: int) -> int:
    """maxUnavailable scaled over the matching nodes, rounded up, at least 1."""
    if value is None:
        value = DEFAULT_MAX_UNAVAILABLE
    if isinstance(value, str) and value.endswith("%"):
        count = math.ceil(matching * int(value[:-1]) / 100)
    else:
        count = int(value)
    return max(1, count)


def enactment_phase(nnce: dict | None, generation: int) -> str:
    """Where the node stands for this generation of the policy.

    PROGRESSING is only ever read back from the API server when a run was cut off (the
    operator stopped mid-run): the rollout verifies those nodes before anything else.
    """
    status = (nnce or {}).get("status") or {}
    if status.get("policyGeneration") != generation:
        return PENDING
    true = true_conditions(status.get("conditions"))
    if "Available" in true:
        return AVAILABLE
    if "Failing" in true:
        return FAILED
    if "Aborted" in true:
        return ABORTED
    if "Conflicting" in true:
        return CONFLICTING
    if "Progressing" in true:
        return PROGRESSING
    if true.get("Pending", {}).get("reason") == "Retrying":
        return RETRYING
    return PENDING


def retry_due(nnce: dict, now: datetime.datetime) -> float:
    """Seconds until a retrying enactment may run again (0 when due)."""
    stamp = ((nnce or {}).get("status") or {}).get("nextRetryTime")
    if not stamp:
        return 0.0
    return max(0.0, (parse_stamp(stamp) - now).total_seconds())


@dataclass
class Plan:
    """What one step of a rollout does."""

    limit: int
    phases: dict[str, str]
    verify: list[str] = field(default_factory=list)  # cut-off runs to check first
    batch: list[str] = field(default_factory=list)  # nodes to configure now, one run
    abort: list[str] = field(default_factory=list)
    wait_seconds: float | None = None  # nothing to do before then (a retry's backoff)

    def count(self, phase: str) -> int:
        return sum(1 for p in self.phases.values() if p == phase)


def plan(
    matching: list[str],
    enactments: dict[str, dict],
    generation: int,
    max_unavailable_value: int | str | None,
    now: datetime.datetime,
    held: frozenset[str] | set[str] = frozenset(),
) -> Plan:
    """The next step for a policy over its matching (Ready) nodes.

    Failed and retrying nodes hold maxUnavailable slots; the batch gets the rest. Once
    failures reach maxUnavailable, the nodes still pending are aborted. Pending nodes in
    `held` (waiting for a policy that comes before this one) stay pending. Conflicting nodes
    hold no slot: nothing is applied there.
    """
    limit = max_unavailable(max_unavailable_value, len(matching))
    phases = {name: enactment_phase(enactments.get(name), generation) for name in sorted(matching)}
    result = Plan(limit=limit, phases=phases)
    result.verify = [n for n, p in phases.items() if p == PROGRESSING]
    if result.verify:
        return result
    pending = [n for n, p in phases.items() if p == PENDING and n not in held]
    retrying = [n for n, p in phases.items() if p == RETRYING]
    failed = result.count(FAILED)
    if failed >= limit:
        result.abort = pending
        return result
    due = [n for n in retrying if retry_due(enactments[n], now) == 0]
    free = limit - failed - len(retrying)
    result.batch = due + pending[: max(0, free)]
    if not result.batch and retrying:
        result.wait_seconds = min(retry_due(enactments[n], now) for n in retrying)
    return result


def invalid_summary(problem: str, reason: str = "InvalidPolicy") -> dict:
    return _summary("Degraded", reason, problem)


def reverting_summary(message: str) -> dict:
    """A deleted policy whose nodes are being reverted (spec.revertOnDelete)."""
    return _summary("Progressing", "Reverting", message)


def _summary(holding: str, reason: str, message: str, ignored: bool = False) -> dict:
    summary = {kind: "False" for kind in ("Available", "Degraded", "Progressing", "Ignored")}
    summary[holding] = "True"
    if ignored:
        summary["Ignored"] = "True"
    return dict(summary, reason=reason, message=message)


def policy_summary(phases: dict[str, str], not_ready: int = 0) -> dict:
    """Available/Degraded/Progressing/Ignored for a policy: statuses, reason and message, in
    kubernetes-nmstate's words."""
    total = len(phases)
    counts = {phase: list(phases.values()).count(phase) for phase in set(phases.values())}
    available, failed, aborted, conflicting = (
        counts.get(p, 0) for p in (AVAILABLE, FAILED, ABORTED, CONFLICTING)
    )
    ignored = f", {not_ready} nodes ignored due to NotReady state" if not_ready else ""
    if total == 0:
        message = "Policy does not match any node" + ignored
        return _summary("Available", "NoMatchingNode", message, ignored=True)
    finished = available + failed + aborted + conflicting
    if finished < total:
        pending = counts.get(PENDING, 0) + counts.get(RETRYING, 0)
        message = f"Policy is progressing {finished}/{total} nodes finished, {pending} pending"
        return _summary("Progressing", "ConfigurationProgressing", message + ignored)
    if conflicting and not (failed or aborted):
        message = f"{conflicting}/{total} nodes not configured: the policy conflicts there with other policies"
        return _summary("Degraded", "ConflictingPolicies", message + ignored)
    if failed or aborted:
        message = f"{failed}/{total} nodes failed to configure"
        if aborted:
            message += f", {aborted} nodes aborted configuration"
        if conflicting:
            message += f", {conflicting} nodes conflicting with other policies"
        return _summary("Degraded", "FailedToConfigure", message + ignored)
    message = f"{available}/{total} nodes successfully configured"
    return _summary("Available", "SuccessfullyConfigured", message + ignored)


DRY_RUN_WORDS = {
    "SuccessfullyConfigured": ("DryRunSucceeded", "successfully configured", "passed the dry run"),
    "FailedToConfigure": ("DryRunFailed", "failed to configure", "failed the dry run"),
    "ConfigurationProgressing": (
        "DryRunProgressing",
        "Policy is progressing",
        "Dry run is progressing",
    ),
}


def as_dry_run(summary: dict) -> dict:
    """A policy summary in a dry run's words (no node was configured)."""
    if summary["reason"] not in DRY_RUN_WORDS:
        return summary
    reason, old, new = DRY_RUN_WORDS[summary["reason"]]
    return dict(summary, reason=reason, message=summary["message"].replace(old, new))
